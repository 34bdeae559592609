"""Shared fixtures: an isolated toolkit cache per test session, and the example projects."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests run under .ci/run (TOOLKIT_TESTS_SLOW=1) or when asked for by `-m slow`; the default run skips them."""
    if os.environ.get("TOOLKIT_TESTS_SLOW") == "1" or "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run by .ci/run, or with TOOLKIT_TESTS_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def require_tool(name: str, package: str) -> str:
    """The path of a system tool a test needs. Missing, the test is skipped, naming the Debian package that brings
    it; under .ci/run (TOOLKIT_TESTS_REQUIRE_TOOLS=1, after it installed .ci/system-packages) it fails instead."""
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed: apt-get install {package} (.ci/install-system-packages installs it)"
    if os.environ.get("TOOLKIT_TESTS_REQUIRE_TOOLS") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture
def mingw() -> str:
    """mingw-w64's C compiler, which cross-compiles the Windows extensions and DLLs of the repair tests."""
    return require_tool("x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64")


@pytest.fixture(scope="session", autouse=True)
def _toolkit_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build environments and logs go to one cache per test session (per xdist worker)."""
    cache = tmp_path_factory.getbasetemp() / "toolkit-cache"
    os.environ["TOOLKIT_CACHE_DIR"] = str(cache)
    return cache


@pytest.fixture(scope="session")
def corpus() -> list[Path]:
    """The pinned real PyPI files (tests/pypi_corpus.py), downloaded once per machine, shared by xdist workers."""
    from pypi_corpus import CorpusError, ensure_corpus

    try:
        return ensure_corpus()
    except CorpusError as exc:
        pytest.fail(f"cannot get the PyPI corpus: {exc}", pytrace=False)


ATTESTATIONS_SDIST_PIN = ("pypi_attestations-0.0.30.tar.gz",
                          "14ff13c76bbef02a483c2b77532da02bfd746b5141b881f355e06b9807434423", 139108,
                          "real PEP 740 attestations and their dists in test/assets/")


@pytest.fixture(scope="session")
def assets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test/assets/ folder of the pinned pypi-attestations sdist: real PEP 740 attestations (GitHub, GitLab,
    Google Cloud, CircleCI publishers) with the dists they were made for; downloaded once per machine."""
    import tarfile

    from pypi_corpus import CorpusError, Pin, corpus_dir, ensure_corpus

    pin = Pin(*ATTESTATIONS_SDIST_PIN)
    try:
        sdist = ensure_corpus(corpus_dir().parent / "attestations", (pin,))[0]
    except CorpusError as exc:
        pytest.fail(f"cannot get {pin.filename}: {exc}", pytrace=False)
    out = tmp_path_factory.mktemp("attestation-assets")
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if "/test/assets/" in m.name and m.isfile()]
        tar.extractall(out, members=members, filter="data")
    return next(out.glob("*/test/assets"))


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """Copies of the bundled examples (ci init writes into the project)."""
    for name in ("pure", "native"):
        shutil.copytree(EXAMPLES / name, tmp_path / name)
    return tmp_path

"""Shared fixtures: an isolated toolkit cache per test session, and the example projects."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


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

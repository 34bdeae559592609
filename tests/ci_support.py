"""Helpers of the ci tests (test_ci.py, test_ci_matrix.py, test_ci_gitlab.py): the real command, the linters,
projects made in the test or unpacked from pinned PyPI sdists, and cibuildwheel's own identifiers."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import require_tool

from toolkit import ci

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
WORKFLOW = Path(".github/workflows/release.yml")
# toolkit's own release installs toolkit from its checkout, then publishes with the wheel it built.
OWN_INSTALL = ci.Install(build="python -m pip install .", publish="python -m pip install dist/*.whl", requirement=".")
PIN = re.compile(r"uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # (v[\d.]+)$")


# --- helpers ------------------------------------------------------------------------------------------------------

def run_cli(*args: str | Path) -> tuple[int, str, str]:
    """The real command, in a child process, as a user runs it."""
    proc = subprocess.run([sys.executable, "-m", "toolkit", *map(str, args)], capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def tool(name: str) -> str:
    """A linter installed by the test extra, beside this Python."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[test]'"
    return found


def lint(*files: Path) -> None:
    """actionlint (with shellcheck on the run: scripts) and zizmor, offline, pedantic: no finding at all."""
    if sys.platform.startswith("linux"):
        require_tool("shellcheck", "shellcheck")
    proc = subprocess.run([tool("actionlint"), "-no-color", "-oneline", "-verbose", *map(str, files)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if shutil.which("shellcheck"):
        assert 'Rule "shellcheck" was disabled' not in proc.stderr, proc.stderr
    proc = subprocess.run([tool("zizmor"), "--offline", "--no-config", "--no-progress", "--persona", "pedantic",
                           "--format", "plain", *map(str, files)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def triggers(doc: dict[str, Any]) -> dict[str, Any]:
    return doc.get("on") or doc[True]  # YAML 1.1 reads the key `on` as true


def steps_running(job: dict[str, Any], text: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if text in s.get("run", "")]


def make_project(root: Path, pyproject: str, files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    for name, text in (files or {}).items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def native_project(root: Path, requires_python: str, extra: str = "") -> Path:
    return make_project(root, f"""
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "Spam_Eggs"
version = "1.0"
requires-python = "{requires_python}"
{extra}
""", {"setup.py": "from setuptools import Extension, setup\nsetup(ext_modules=[Extension('spam._c', ['c.c'])])\n"})


def cibuildwheel_ids(project: Path, platform: str, archs: str, env: dict[str, str] | None = None) -> list[str]:
    """What cibuildwheel itself says, asked directly (with no `archs`: the ones its configuration names)."""
    proc = subprocess.run([sys.executable, "-m", "cibuildwheel", "--print-build-identifiers", "--platform", platform,
                           *(["--archs", archs] if archs else []), "."], cwd=project, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, check=True)
    return proc.stdout.split()


def real_project(filename: str, dest: Path) -> Path:
    """A real project's source tree: its pinned sdist from PyPI (tests/pypi_corpus.py), unpacked into `dest`."""
    from pypi_corpus import PINS, CorpusError, corpus_dir, ensure_corpus

    pin = next(p for p in PINS if p.filename == filename)
    try:
        (archive,) = ensure_corpus(corpus_dir(), (pin,))
    except CorpusError as exc:
        pytest.fail(f"cannot get {filename}: {exc}", pytrace=False)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest / filename.removesuffix(".tar.gz")


FOREIGN_ARCHS = '\n[tool.cibuildwheel.linux]\narchs = ["x86_64", "aarch64", "ppc64le", "i686"]\n'

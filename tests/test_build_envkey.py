"""The build environment cache key: an environment is reused only by a build with the same
interpreter, the same installer and the same build constraints (and requirements).

Real environments (uv and pip make them) under a cache folder of the test's own, so that
the test means the same alone, first, or after any other.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit._proc import Logger
from toolkit.build import env as buildenv
from toolkit.build import pythons


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TOOLKIT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def another_interpreter(where: Path) -> pythons.Interpreter:
    """A venv's python: another executable than this one (the key holds the interpreter's path)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", where], check=True)
    python = where / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    interp = pythons.describe(str(python))
    assert interp is not None and interp.executable != sys.executable
    return interp


def env_path(installer: str, *, interpreter: pythons.Interpreter | None = None, constraints: Path | None = None) -> Path:
    logger = Logger.create("envkey-test")
    made = buildenv.make_installer(installer, logger, os.environ)
    assert made.name == installer
    with buildenv.env_pool(made, cache=True, ttl=3600, constraints=constraints, interpreter=interpreter) as pool:
        env = pool.get([])
    assert Path(env.python_executable).exists()
    return env.path


def test_each_part_of_the_key_gives_its_own_environment(cache: Path, tmp_path: Path) -> None:
    first = env_path("uv")
    assert env_path("uv") == first, "the same interpreter, installer and constraints reuse the environment"
    loose, tight = tmp_path / "loose.txt", tmp_path / "tight.txt"
    loose.write_text("setuptools>=60\n", encoding="utf-8")
    tight.write_text("setuptools==75.1.0\n", encoding="utf-8")
    other = another_interpreter(tmp_path / "other-python")
    paths = {
        "this": first,
        "another interpreter": env_path("uv", interpreter=other),
        "pip": env_path("pip"),
        "constraints": env_path("uv", constraints=loose),
        "other constraints": env_path("uv", constraints=tight),
    }
    assert len(set(paths.values())) == len(paths), paths
    assert all(p.is_relative_to(cache / "envs") for p in paths.values())
    assert env_path("uv", interpreter=other) == paths["another interpreter"]
    assert env_path("uv", constraints=tight) == paths["other constraints"]


"""What the reliability tests share: a tmpfs the test mounts, a slow backend, running toolkit as
another user, and whether a process is gone."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from projects import toolkit_env

NOBODY = 65534

# A backend whose build_sdist starts a child of its own, writes part of its file, says so in
# SLOW_MARKER, then sleeps: what a long compile looks like to a signal.
SLOW_BACKEND = '''\
import json, os, subprocess, sys, time


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_sdist(sdist_directory, config_settings=None):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    with open(os.path.join(sdist_directory, "slow-0.1.tar.gz"), "wb") as f:
        f.write(b"partial")
    marker = os.environ["SLOW_MARKER"]
    with open(marker + ".tmp", "w") as f:
        json.dump({"backend": os.getpid(), "child": child.pid}, f)
    os.replace(marker + ".tmp", marker)
    time.sleep(300)
    with open(os.path.join(sdist_directory, "late.txt"), "w") as f:
        f.write("written after the build was stopped")
    return "slow-0.1.tar.gz"
'''


def write_slow_project(folder: Path) -> Path:
    (folder / "backend").mkdir(parents=True)
    (folder / "backend" / "slow_backend.py").write_text(SLOW_BACKEND, encoding="utf-8")
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "slow_backend"\nbackend-path = ["backend"]\n\n'
        '[project]\nname = "slow"\nversion = "0.1"\n', encoding="utf-8")
    return folder


def gone(pid: int) -> bool:
    """Whether a process has ended (a zombie that nobody reaped has ended too)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


@contextlib.contextmanager
def tmpfs(where: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at `where` (made); the test is skipped where mounting is not allowed."""
    where.mkdir(parents=True, exist_ok=True)
    if not sys.platform.startswith("linux") or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs Linux and mount(8)")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or 'not root'})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def fill(folder: Path) -> None:
    """Write into `folder` until its file system has no byte left."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)


@contextlib.contextmanager
def shared_tmp() -> Iterator[Path]:
    """A folder that user nobody can reach (pytest's own tmp_path is root's, mode 700)."""
    if os.name != "posix" or os.geteuid() != 0:
        pytest.skip("running as another user needs root")
    folder = Path(tempfile.mkdtemp(prefix="toolkit-reliability-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_as_nobody(*args: str | Path, cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`toolkit ARGS` as user nobody (tests run as root, whom no permission stops).

    The test's interpreter may live where nobody cannot go (/root/.pyenv): the system's Python of
    the same version runs toolkit from this environment's site-packages instead.
    """
    python = shutil.which(f"python{sys.version_info[0]}.{sys.version_info[1]}", path="/usr/bin:/usr/local/bin")
    if python is None or not _runs_as_nobody(python):
        pytest.skip(f"no Python {sys.version_info[0]}.{sys.version_info[1]} that user nobody may run")
    site = sysconfig.get_paths()["purelib"]
    code = f"import site, sys; site.addsitedir({site!r}); from toolkit.cli import main; sys.exit(main())"
    return subprocess.run([python, "-c", code, *map(str, args)], cwd=cwd,
                          env=toolkit_env(env), user=NOBODY, group=NOBODY, extra_groups=[],
                          capture_output=True, text=True, timeout=600, check=False)


def _runs_as_nobody(python: str) -> bool:
    site = sysconfig.get_paths()["purelib"]
    code = f"import site; site.addsitedir({site!r}); import toolkit, filelock"
    proc = subprocess.run([python, "-c", code], user=NOBODY, group=NOBODY, extra_groups=[], cwd="/",
                          capture_output=True, check=False)
    return proc.returncode == 0


def children(pid: int) -> list[int]:
    """The live processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found.append(int(stat.parent.name))
    return found

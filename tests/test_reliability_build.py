"""The build under faults, through the real CLI: a cache that cannot be written, a damaged cached
environment, a full disk, a pyproject.toml that is a FIFO, paths behind folders that cannot be entered."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from projects import one_line_error, run_toolkit, toolkit_env, write_project
from reliability import fill, run_as_nobody, shared_tmp, tmpfs

# -- 1. a cache that cannot be written ----------------------------------------------------------------


def _fallback_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:") and "cannot be written" in line]


@pytest.mark.parametrize("cache_state", ["read-only", "full"])
@pytest.mark.parametrize("mode", [[], ["--no-cache"]], ids=["cached", "no-cache"])
def test_a_cache_that_cannot_be_written_falls_back_to_a_temporary_folder(
        tmp_path: Path, cache_state: str, mode: list[str]) -> None:
    src = write_project(tmp_path / "p", "intree")
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    options = "ro,size=1m" if cache_state == "read-only" else "size=64k"
    with tmpfs(tmp_path / "cache", options) as cache:
        if cache_state == "full":
            fill(cache)
        env = {"TOOLKIT_CACHE_DIR": str(cache), "TMPDIR": str(private_tmp)}
        for _ in range(2):  # cold, then warm: both work
            proc = run_toolkit("build", src, *mode, env=env)
            assert proc.returncode == 0, proc.stderr
            (warning,) = _fallback_warnings(proc.stderr)
            assert str(cache) in warning and str(private_tmp) in warning, warning
    assert list(private_tmp.glob("toolkit-cache-*/logs/*-build.log"))  # the log went there


def test_an_unwritable_home_falls_back_as_a_ci_container_with_user_does() -> None:
    with shared_tmp() as shared:
        src = write_project(shared / "p", "intree")
        private_tmp = shared / "tmp"
        private_tmp.mkdir()
        for folder in (src, private_tmp):
            shutil.chown(folder, 65534, 65534)
        env = {"HOME": "/nonexistent", "TMPDIR": str(private_tmp), "TOOLKIT_CACHE_DIR": "",
               "XDG_CACHE_HOME": ""}
        proc = run_as_nobody("build", src, "-o", private_tmp / "out", cwd=shared, env=env)
        assert proc.returncode == 0, proc.stderr
        (warning,) = _fallback_warnings(proc.stderr)
        assert "/nonexistent/.cache/toolkit" in warning, warning


# -- 2. a damaged cached environment ------------------------------------------------------------------


def _the_env(cache: Path) -> Path:
    (ready,) = glob.glob(str(cache / "envs" / "*" / "*" / "ready"))
    return Path(ready).parent


def _damage(env: Path, how: str) -> None:
    site = next(env.glob("lib/python*/site-packages"))
    if how == "backend deleted":
        shutil.rmtree(site / "hatchling")
    elif how == "file truncated":
        # A new file in its place, never a write into it: installers hard-link files from their
        # cache, and truncating in place would damage every environment made from that cache.
        build_py = site / "hatchling" / "build.py"
        data = build_py.read_bytes()
        build_py.unlink()
        build_py.write_bytes(data[: len(data) // 2])
    elif how == "interpreter removed":
        python = env / "bin" / "python"
        python.unlink()
        python.symlink_to("/nonexistent/python3")
    elif how == "pyvenv.cfg gone":
        (env / "pyvenv.cfg").unlink()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["backend deleted", "file truncated", "interpreter removed", "pyvenv.cfg gone"])
def test_a_damaged_cached_environment_is_made_again_and_the_project_is_not_blamed(tmp_path: Path, how: str) -> None:
    src = write_project(tmp_path / "p", "hatchling")
    cache = tmp_path / "cache"
    env = {"TOOLKIT_CACHE_DIR": str(cache)}
    assert run_toolkit("build", src, env=env).returncode == 0
    _damage(_the_env(cache), how)
    proc = run_toolkit("build", src, env=env)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "is damaged" in warnings[0] and "making it again" in warnings[0], proc.stderr
    assert "[build-system]" not in proc.stderr
    proc = run_toolkit("build", src, env=env)  # made whole again: reused without a word
    assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stderr


def test_an_environment_without_its_ready_marker_is_never_reused(tmp_path: Path) -> None:
    """current.json names the environment, but `ready` is gone (a run was killed while making it
    again): the next build makes it, rather than running hooks in a half-made environment."""
    src = write_project(tmp_path / "p", "intree")
    cache = tmp_path / "cache"
    env = {"TOOLKIT_CACHE_DIR": str(cache)}
    assert run_toolkit("build", src, env=env).returncode == 0
    (_the_env(cache) / "ready").unlink()
    proc = run_toolkit("build", src, "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    log = Path(json.loads(proc.stdout)["log"]).read_text()
    assert " venv " in log and log.index(" venv ") < log.index("_in_process"), log  # made before any hook ran
    assert (_the_env(cache) / "ready").exists()


# -- 8. a full disk -----------------------------------------------------------------------------------


def test_a_full_outdir_names_the_cause_with_exit_6(tmp_path: Path) -> None:
    src = write_project(tmp_path / "p", "intree")
    with tmpfs(tmp_path / "out", "size=64k") as outdir:
        fill(outdir)
        proc = run_toolkit("build", src, "-o", outdir)
        line = one_line_error(proc.stderr)
        assert proc.returncode == 6, proc.stderr
        assert "No space left on device" in line and str(outdir) in line, line
        assert "backend failed" not in line
        assert sorted(p.name for p in outdir.iterdir()) == ["filler"]  # nothing half-written


def test_a_manifest_that_cannot_be_written_is_not_bad_input(tmp_path: Path) -> None:
    src = write_project(tmp_path / "p", "intree")
    outdir = tmp_path / "out"
    (outdir / ".toolkit-manifest.json").mkdir(parents=True)  # in its place: a folder
    proc = run_toolkit("build", src, "-o", outdir)
    assert proc.returncode == 6 and "cannot write the manifest" in one_line_error(proc.stderr), proc.stderr


# -- 5. a pyproject.toml that is a FIFO ---------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_fifo_pyproject_is_refused_by_build_not_waited_on(tmp_path: Path) -> None:
    src = tmp_path / "p"
    src.mkdir()
    os.mkfifo(src / "pyproject.toml")
    (src / "setup.py").write_text("from setuptools import setup\nsetup(name='p', version='1')\n")
    proc = subprocess.run([sys.executable, "-m", "toolkit", "build", str(src)], cwd=tmp_path,
                          env=toolkit_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "not a regular file" in one_line_error(proc.stderr), proc.stderr
    # The library too (no [tool.toolkit] read first): pypa/build would open it and wait for a writer.
    code = ("import sys; from pathlib import Path; from toolkit.build import build; from toolkit.config import "
            "BuildOptions; from toolkit.errors import ConfigError\ntry:\n build(Path(sys.argv[1]), BuildOptions())\n"
            "except ConfigError as exc:\n print(exc)")
    proc = subprocess.run([sys.executable, "-c", code, str(src)], env=toolkit_env(), capture_output=True, text=True,
                          timeout=60)
    assert "not a regular file" in proc.stdout, proc.stdout + proc.stderr


# -- 6. paths behind a folder that cannot be entered ----------------------------------------------------


@pytest.mark.parametrize("where", ["src", "outdir", "check-file", "check-folder"])
def test_a_path_behind_a_folder_that_cannot_be_entered_is_one_line(where: str) -> None:
    from distfactory import make_wheel

    with shared_tmp() as shared:
        locked = shared / "locked"
        write_project(locked / "p", "intree")
        make_wheel(locked)
        locked.chmod(0o700)  # root's: nobody may not enter it
        open_src = write_project(shared / "open", "intree")
        shutil.chown(open_src, 65534, 65534)
        args = {"src": ["build", locked / "p"], "outdir": ["build", open_src, "-o", locked / "out"],
                "check-file": ["check", locked / "demo_pkg-1.0-py3-none-any.whl"],
                "check-folder": ["check", locked]}[where]
        env = {"HOME": "/nonexistent", "TOOLKIT_CACHE_DIR": "", "TMPDIR": str(shared)}
        proc = run_as_nobody(*args, cwd=shared, env=env)
    assert proc.returncode == 2, proc.stderr
    line = one_line_error("\n".join(x for x in proc.stderr.splitlines() if not x.startswith("warning:")))
    assert str(locked) in line and "permission denied" in line, line


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_fifo_in_place_of_a_built_file_is_refused_by_check_not_waited_on(tmp_path: Path) -> None:
    src = write_project(tmp_path / "p", "intree")
    assert run_toolkit("build", src).returncode == 0
    (wheel,) = (src / "dist").glob("*.whl")
    wheel.unlink()
    os.mkfifo(wheel)
    proc = subprocess.run([sys.executable, "-m", "toolkit", "check"], cwd=src, env=toolkit_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "not a regular file" in one_line_error(proc.stderr), proc.stderr

"""SIGTERM and SIGINT to toolkit alone (a CI cancel, `docker stop`, `timeout`, Ctrl-C) while a real,
slow backend runs: the backend and its children end, nothing is left in OUTDIR or the temporary
folder, one error line, 128 + the signal; and what a killed run left behind is swept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from projects import one_line_error, run_toolkit, toolkit_env, write_project
from reliability import gone, write_slow_project

from toolkit import _fs

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals and process groups")


def _start_slow_build(tmp_path: Path, outdir: Path, *extra: str) -> tuple[subprocess.Popen[str], dict[str, int], Path]:
    src = write_slow_project(tmp_path / "slow")
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    marker = tmp_path / "started.json"
    env = toolkit_env({"TMPDIR": str(private_tmp), "SLOW_MARKER": str(marker)})
    proc = subprocess.Popen([sys.executable, "-m", "toolkit", "build", "-s", str(src), "-o", str(outdir), *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the slow backend never started: {out}{err}")
        time.sleep(0.05)
    return proc, json.loads(marker.read_text()), private_tmp


def _wait_gone(pids: list[int], seconds: float = 20) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not all(gone(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if not gone(p)]


def _leftovers(private_tmp: Path) -> list[str]:
    """What the run left in its temporary folder, apart from lock files kept on purpose."""
    return sorted(str(p.relative_to(private_tmp)) for p in private_tmp.rglob("*")
                  if p.name != "toolkit-locks" and "toolkit-locks" not in p.parts)


@pytest.mark.parametrize("signum, code, extra", [(signal.SIGTERM, 143, []), (signal.SIGINT, 130, ["--no-cache"])],
                         ids=["SIGTERM", "SIGINT-no-cache"])
def test_a_signal_ends_the_backend_and_leaves_a_new_outdir_absent(tmp_path: Path, signum: int, code: int,
                                                                  extra: list[str]) -> None:
    outdir = tmp_path / "out"
    proc, pids, private_tmp = _start_slow_build(tmp_path, outdir, *extra)  # --no-cache: its environment in TMPDIR
    os.kill(proc.pid, signum)  # toolkit alone, not its process group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    line = one_line_error(err)
    assert ("interrupted" if signum == signal.SIGINT else "stopped by SIGTERM") in line
    assert _wait_gone([pids["backend"], pids["child"]], seconds=5) == []  # ended before toolkit exited
    assert not outdir.exists()  # this run made it: it is gone again
    assert _leftovers(private_tmp) == []
    time.sleep(1)
    assert not outdir.exists()  # and nothing re-creates it later


def test_a_signal_leaves_an_existing_outdir_as_it_was(tmp_path: Path) -> None:
    outdir = tmp_path / "out"
    outdir.mkdir()
    (outdir / "kept.txt").write_text("the user's\n")
    proc, pids, private_tmp = _start_slow_build(tmp_path, outdir)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "Traceback" not in err, err
    assert _wait_gone([pids["backend"], pids["child"]], seconds=5) == []
    assert sorted(p.name for p in outdir.iterdir()) == ["kept.txt"]  # no .toolkit-tmp-* holding the file
    assert _leftovers(private_tmp) == []


def test_staging_left_by_a_killed_run_is_swept_but_not_a_live_runs(tmp_path: Path) -> None:
    src = write_project(tmp_path / "p", "intree")
    outdir = tmp_path / "out"
    outdir.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    host = _fs._host()
    entries = {
        "dead": f"{_fs.STAGING_PREFIX}{dead.pid}@{host}-a1",  # its run was killed: swept
        "live": f"{_fs.STAGING_PREFIX}{live.pid}@{host}-b2",  # a build running now: kept
        "old": f"{_fs.STAGING_PREFIX}123@0000other-c3",  # another host's, two days old: swept
        "fresh": f"{_fs.STAGING_PREFIX}123@0000other-d4",  # another host's, recent: kept
    }
    try:
        for name in entries.values():
            (outdir / name).mkdir()
            (outdir / name / "toy_pkg-0.1.0.tar.gz").write_bytes(b"complete, never published")
        old = time.time() - 2 * 24 * 3600
        os.utime(outdir / entries["old"], (old, old))
        (outdir / f"{_fs.STAGING_PREFIX}{dead.pid}@{host}-file").write_text("{}")  # a manifest's temporary file
        proc = run_toolkit("build", src, "-o", outdir)
        assert proc.returncode == 0, proc.stderr
    finally:
        live.kill()
        live.wait()
    left = sorted(p.name for p in outdir.iterdir() if p.name.startswith(_fs.STAGING_PREFIX))
    assert left == sorted([entries["live"], entries["fresh"]])


@pytest.mark.slow
@pytest.mark.parametrize("command", [["check", "-j", "2"], ["publish", "-q", "--dry-run", "--repository-url",
                                                             "http://127.0.0.1:9/legacy/", "--no-keyring"]])
def test_a_signal_ends_checks_worker_processes_at_once(tmp_path: Path, command: list[str]) -> None:
    """check's and publish's worker processes (one pool, _proc.process_pool) end at once, not after their file."""
    import zipfile

    from reliability import children

    wheels = []
    for i in range(4):  # large enough that the workers are still hashing when the signal comes
        wheel = tmp_path / f"big{i}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr(f"big{i}/data.bin", os.urandom(150 << 20))
        wheels.append(wheel)
    proc = subprocess.Popen([sys.executable, "-m", "toolkit", *command, *map(str, wheels)], cwd=tmp_path,
                            env=toolkit_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(workers := children(proc.pid)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "stopped by SIGTERM" in one_line_error(err), err
    assert _wait_gone(workers, seconds=5) == []


_POOL_INTERRUPTED = """
import threading, time
from toolkit._proc import process_pool
try:
    with process_pool(2) as pool:
        futures = [pool.submit(time.sleep, 30) for _ in range(10)]
        time.sleep(0.5)
        for f in futures:  # as publish does with those it will not wait for
            f.cancel()
        raise KeyboardInterrupt
except KeyboardInterrupt:
    pass
print(sorted(t.name for t in threading.enumerate() if t is not threading.main_thread()))
"""


def test_an_interrupted_pool_leaves_no_thread_to_race_the_exit() -> None:
    """Unwinding an interrupted pool kills its workers and waits for its manager thread, with no traceback:
    seen in CI after "stopped by SIGTERM", an OSError (the manager thread closed its wake-up pipe while the
    exit hook wrote to it) and an InvalidStateError (it failed a future the caller had cancelled)."""
    proc = subprocess.run([sys.executable, "-c", _POOL_INTERRUPTED], env=toolkit_env(), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.strip() == "[]"  # no executor manager thread left for the exit hook

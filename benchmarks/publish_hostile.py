"""Memory and time of `toolkit publish` against hostile indexes on 127.0.0.1 (the servers of
tests/test_publish_bounds.py): an answer that never ends, an answer trickled at 1 byte/s. Peak RSS is
sampled from /proc (Linux) every 0.1 s; a run still going at --cap seconds is killed and said so, and
no run may take more than 3 GiB of address space.

    python benchmarks/publish_hostile.py [--code DIR] [--cap 60]

--code runs another checkout's toolkit (PYTHONPATH=DIR), e.g. the main branch, for a before/after.
Measured 2026-12-05 (2 cores, shared), --timeout 3 --deadline 10 --retries 0, --cap 30:
    endless answer    before (main 285fce5): 2941 MiB (at the 3 GiB limit), killed at 31 s; after: ended in 4.5 s, 101 MiB
    1 byte/s trickle  before: still running, killed at 30 s, 38 MiB;              after: ended in 10.8 s, 39 MiB
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from distfactory import make_wheel  # noqa: E402
from indexes import creds, publish_env  # noqa: E402
from test_publish_bounds import Hostile, endless, trickle  # noqa: E402


def _limit_memory() -> None:
    """An unbounded client would take the machine's memory: its address space is capped at 3 GiB."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def measure(code: Path, how, cap: float) -> str:  # type: ignore[no-untyped-def]
    tmp = Path(tempfile.mkdtemp(prefix="toolkit-hostile-"))
    (tmp / "dist").mkdir()
    wheel = make_wheel(tmp / "dist", "hostile_probe", "1.0")
    with Hostile({"/legacy/": how, "/simple/": how}) as server:
        env = {**publish_env(tmp, creds()), "PYTHONPATH": str(code)}
        start = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "toolkit", "publish", "--repository-url",
                                 f"{server.origin}/legacy/", "--timeout", "3", "--deadline", "10", "--retries", "0",
                                 str(wheel)], env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                preexec_fn=_limit_memory)
        peak = 0
        while proc.poll() is None and time.monotonic() - start < cap:
            try:
                status = Path(f"/proc/{proc.pid}/status").read_text()
                peak = max(peak, int(status.split("VmRSS:")[1].split()[0]))
            except (OSError, IndexError, ValueError):
                pass
            time.sleep(0.1)
        running = proc.poll() is None
        if running:
            proc.kill()
        proc.wait()
    took = time.monotonic() - start
    return f"{'still running, killed at' if running else 'ended in'} {took:.1f} s, peak RSS {peak >> 10} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose toolkit runs")
    parser.add_argument("--cap", type=float, default=60.0, help="seconds after which a run is killed")
    args = parser.parse_args()
    for name, how in (("endless answer", endless), ("1 byte/s trickle", trickle)):
        print(f"{name:18} {measure(args.code.resolve(), how, args.cap)}")


if __name__ == "__main__":
    main()

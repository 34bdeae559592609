"""Benchmark of the check stage on real PyPI files (tests/pypi_corpus.py):
`toolkit check` beside `twine check` + `check-wheel-contents`, and beside a
one-process floor that reads every byte once (what verifying RECORD costs).

    python benchmarks/check.py [--runs 5] [--corpus DIR]

Every tool runs as one subprocess over all its files, from this interpreter. `toolkit check` runs twice
per round: with an empty cache folder (every file judged), and with the verdicts of the round before
remembered (check/verdicts.py: what a re-run, or `toolkit publish` after `toolkit check`, costs).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from _common import Timed, command_output, machine_lines, median, run_timed, spread, table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from pypi_corpus import CorpusError, ensure_corpus  # noqa: E402

# Left out of every contender's list: twine check stops at this file (its Metadata-Version
# 2.0 raises InvalidDistribution), so it would check a dozen files instead of all.
LEFT_OUT = {"six-1.10.0-py2.py3-none-any.whl"}

REMEMBERED = "toolkit check (verdicts remembered)"

# The floor: in ONE process, hash each whole file and inflate + hash each member once.
FLOOR = r"""
import hashlib, sys, tarfile, zipfile
for name in sys.argv[1:]:
    with open(name, "rb") as f:
        hashlib.sha256(f.read()).digest()
    if name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(name) as z:
            for info in z.infolist():
                hashlib.sha256(z.read(info)).digest()
    else:
        with tarfile.open(name) as t:
            for m in t:
                if m.isfile():
                    hashlib.sha256(t.extractfile(m).read()).digest()
"""


def commands(files: Sequence[Path]) -> dict[str, tuple[list[str | Path], tuple[int, ...]]]:
    """Each contender: its command line and the exit codes that mean "it ran" (1: it found problems)."""
    py = sys.executable
    wheels = [f for f in files if f.name.endswith(".whl")]
    return {
        "toolkit check": ([py, "-m", "toolkit", "check", *files], (0, 1)),
        REMEMBERED: ([py, "-m", "toolkit", "check", *files], (0, 1)),
        "twine check": ([py, "-m", "twine", "check", *files], (0, 1)),
        "check-wheel-contents": ([py, "-m", "check_wheel_contents", *wheels], (0, 1)),
        "floor (1 process)": ([py, "-c", FLOOR, *files], (0,)),
    }


def measure(files: Sequence[Path], runs: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Warm every command once, then time `runs` rounds, the contenders taking turns.

    Returns wall times and CPU times (user + sys of the process and all its children):
    on a busy machine the CPU time still says how much work each tool does.
    """
    cmds = commands(files)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLKIT_")}
    wall: dict[str, list[float]] = {name: [] for name in cmds}
    cpu: dict[str, list[float]] = {name: [] for name in cmds}
    with tempfile.TemporaryDirectory(prefix="toolkit-bench-check-") as cwd:
        for round_ in range(runs + 1):
            for name, (cmd, ok) in cmds.items():
                # an empty cache folder for each cold run; one kept across rounds for the remembered verdicts
                cache = Path(cwd) / ("remembered" if name == REMEMBERED else f"cold-{round_}")
                before = _children_cpu()
                result = run_timed(cmd, cwd=Path(cwd), env={**env, "TOOLKIT_CACHE_DIR": str(cache)})
                used = _children_cpu() - before
                _verify(name, result, ok, files)
                if round_:  # round 0 warms the page cache and the .pyc files
                    wall[name].append(result.seconds)
                    cpu[name].append(used)
    return wall, cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _verify(name: str, result: Timed, ok: tuple[int, ...], files: Sequence[Path]) -> None:
    if result.returncode not in ok or "Traceback" in result.output:
        sys.exit(f"{name} failed (exit {result.returncode}):\n{result.tail()}")
    if name.startswith("toolkit check") and f"{len(files)} file(s) checked" not in result.output:
        sys.exit(f"toolkit check did not report {len(files)} files:\n{result.tail()}")
    if name == "twine check" and len(re.findall(r"Checking\s", result.output)) != len(files):
        sys.exit(f"twine check did not check {len(files)} files:\n{result.tail()}")


def report(files: Sequence[Path], times: dict[str, list[float]], cpu: dict[str, list[float]]) -> str:
    wheels = sum(f.name.endswith(".whl") for f in files)
    size = sum(f.stat().st_size for f in files)
    py = sys.executable
    lines = [
        *machine_lines(),
        f"toolkit:     {command_output([py, '-m', 'toolkit', '--version'])}",
        f"twine:       {command_output([py, '-m', 'twine', '--version'])}",
        f"cwc:         {command_output([py, '-m', 'check_wheel_contents', '--version'])}",
        f"corpus:      {len(files)} files ({wheels} wheels, {len(files) - wheels} sdists), {size:,} bytes",
        f"left out:    {', '.join(sorted(LEFT_OUT))} (twine check stops at it)",
        "check-wheel-contents gets the wheels only; the others get every file.",
        f"runs:        {len(next(iter(times.values())))} per tool, after one warm-up run",
        "",
        table(["tool", "wall: median [min-max] s", "cpu: median s"],
              [[name, spread(t), f"{median(cpu[name]):.2f}"] for name, t in times.items()]),
        "",
    ]
    ours = median(times["toolkit check"])
    peers = median(times["twine check"]) + median(times["check-wheel-contents"])
    floor = median(times["floor (1 process)"])
    lines += [
        f"toolkit / (twine + check-wheel-contents) = {ours:.2f} / {peers:.2f} = {ours / peers:.2f}"
        f"  (target <= 0.50: {'met' if ours <= peers / 2 else 'NOT met'})",
        f"toolkit / floor = {ours:.2f} / {floor:.2f} = {ours / floor:.2f}"
        f"  (target <= 1.00: {'met' if ours <= floor else 'NOT met'})",
        f"toolkit, verdicts remembered / (twine + check-wheel-contents) = {median(times[REMEMBERED]):.2f} / "
        f"{peers:.2f} = {median(times[REMEMBERED]) / peers:.2f}",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per tool (default 5)")
    parser.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: $TOOLKIT_TEST_CORPUS)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    try:
        files = [f for f in ensure_corpus(args.corpus) if f.name not in LEFT_OUT]
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report(files, *measure(files, args.runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared by the benchmark scripts: timed subprocess runs, medians, ratios,
the machine's description and a plain-text table."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Timed:
    """One command's wall time, CPU time (with its children's), exit code and output."""

    seconds: float
    cpu: float | None  # None where the OS does not report children's CPU time
    returncode: int
    output: str

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


def run_timed(cmd: Sequence[str | Path], *, cwd: Path, env: Mapping[str, str]) -> Timed:
    """Run `cmd` to completion, output captured; time it with the wall clock and in CPU.

    CPU time counts every process the command waited for, so it moves less than wall
    time when other work shares the machine.
    """
    argv = [str(c) for c in cmd]
    cpu_before = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    seconds = time.perf_counter() - start
    cpu_after = _children_cpu()
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return Timed(seconds, cpu, proc.returncode, proc.stdout.decode("utf-8", "replace"))


def _children_cpu() -> float | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ratio(ours: Sequence[float], theirs: Sequence[float]) -> float:
    """Median over median: below 1 means ours is faster."""
    return median(ours) / median(theirs)


def spread(values: Sequence[float]) -> str:
    """'median [min-max]' in seconds."""
    return f"{median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


def command_output(cmd: Sequence[str | Path]) -> str:
    """The first line a command prints (for versions); the failure, if it fails."""
    try:
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"(cannot run: {exc})"
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[0] if text else f"(no output, exit {proc.returncode})"


def machine_lines() -> list[str]:
    """What the figures depend on: interpreter, OS, CPUs."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    return [
        f"interpreter: {sys.executable} (Python {platform.python_version()}, {platform.python_implementation()})",
        f"platform:    {platform.platform()}",
        f"cpus:        {os.cpu_count()} ({usable} usable by this process)",
        f"load:        {load} (1, 5, 15 min averages when the run started)",
    ]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    # A dozen lines do not justify a dependency (tabulate) in every benchmark run.
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        return "  ".join([str(first).ljust(widths[0]), *(str(c).rjust(w) for c, w in zip(rest, widths[1:], strict=True))])

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])

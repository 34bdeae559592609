"""Benchmark of the build stage: `toolkit build` beside `python -m build` (pip and uv
installers) and `uv build`, cold and warm, on the bundled example projects.

    python benchmarks/build.py [--runs N] [--project examples/pure ...] [--profile] [--keep]

`--project hatchling-20` is a project the script writes (hatchling, 20 modules); it is built by
default too. The `toolkit -n` row (no isolation) needs the projects' backends installed in this
interpreter (pip install hatchling setuptools); without them that row is FAILED.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# This file is named build.py, so every subprocess runs in a scratch folder: there,
# `python -m build` finds pypa/build and not this script.
from _common import Timed, command_output, machine_lines, median, ratio, run_timed, spread, table

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROJECTS = ("examples/pure", "examples/native")
GENERATED = "hatchling-20"  # a project written into the scratch folder: 20 modules, hatchling
GENERATED_MODULES = 20
PHASES = ("cold", "warm")
# "{python}" is this interpreter, "{uv}" the binary of the `uv` package, "{src}" a fresh
# copy of the project, "{out}" a fresh output folder.
TOOLS: dict[str, tuple[str, ...]] = {
    "toolkit": ("{python}", "-m", "toolkit", "build", "{src}", "-o", "{out}", "-q"),
    "build (pip)": ("{python}", "-m", "build", "-q", "{src}", "-o", "{out}"),
    "build (uv)": ("{python}", "-m", "build", "-q", "--installer", "uv", "{src}", "-o", "{out}"),
    "uv build": ("{uv}", "build", "-q", "--python", "{python}", "{src}", "-o", "{out}"),
    # The same build without isolation (the backend installed in this interpreter): the floor
    # that an environment cache can approach.
    "toolkit -n": ("{python}", "-m", "toolkit", "build", "{src}", "-o", "{out}", "-q", "-n"),
}
OURS = "toolkit"
DEFINITIONS = """\
cold: toolkit's environment cache is empty (a fresh TOOLKIT_CACHE_DIR per run); the package
      caches of pip and uv stay warm (an untimed priming round filled them): no download is timed.
warm: the same command run again on the same source copy, its caches populated: for toolkit the
      environment cache; the peers have no environment cache, so for them warm is cold again.
Every run builds a fresh copy of the project into a fresh output folder, and must leave there
exactly one sdist (a readable tar) and one wheel (a readable zip). Times are wall-clock seconds
of the whole command: median [min-max] over the runs; ratio = toolkit median / peer median.
CPU seconds (user + system, the command and every process it waited for) are printed beside:
they move less than wall time when other work shares the machine."""
# Variables that change what the tools do; printed so the figures can be read right.
STEERING = re.compile(r"^(TOOLKIT_|PIP_|UV_|SOURCE_DATE_EPOCH$|PYTHON)")


class BenchError(Exception):
    """An expected failure, shown without a traceback: a build that failed (recorded, exit
    code 1 at the end) or a set-up that cannot run (exit code 2 at once)."""


@dataclass
class Results:
    """Seconds per (project, tool, phase); failures per (project, tool)."""

    times: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)
    cpu: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, project: str, tool: str, phase: str, timed: Timed) -> None:
        self.times.setdefault((project, tool, phase), []).append(timed.seconds)
        if timed.cpu is not None:
            self.cpu.setdefault((project, tool, phase), []).append(timed.cpu)


@dataclass
class Bench:
    python: str
    uv: str
    scratch: Path
    runs: int
    results: Results = field(default_factory=Results)
    _count: int = 0

    def fresh(self, name: str) -> Path:
        self._count += 1
        return self.scratch / f"{self._count:03d}-{name}"

    def command(self, tool: str, src: Path, out: Path) -> list[str]:
        values = {"python": self.python, "uv": self.uv, "src": str(src), "out": str(out)}
        return [part.format(**values) for part in TOOLS[tool]]

    def run(self, tool: str, src: Path, cache: Path, *, python_flags: Sequence[str] = ()) -> Timed:
        """One build into a fresh output folder, checked; raises BenchError when it fails."""
        out = self.fresh("out")
        env = {**os.environ, "TOOLKIT_CACHE_DIR": str(cache)}
        cmd = self.command(tool, src, out)
        if python_flags and cmd[0] == self.python:
            cmd[1:1] = python_flags
        timed = run_timed(cmd, cwd=self.scratch, env=env)
        if timed.returncode != 0:
            raise BenchError(f"`{' '.join(cmd)}` exited with {timed.returncode}:\n{timed.tail()}")
        problem = built_files_problem(out)
        if problem:
            raise BenchError(f"`{' '.join(cmd)}` succeeded but {problem}:\n{timed.tail()}")
        return timed

    def project(self, project: Path) -> None:
        """A priming round, then `runs` rounds of cold + warm for every tool."""
        label = display(project)
        tools = list(TOOLS)
        print(f"\n{label}: priming the package caches (untimed)", flush=True)
        for tool in tools:
            self._guarded(label, tool, self._prime, project)
        for round_ in range(self.runs):
            # The order turns each round, so no tool always runs right after the same one.
            order = tools[round_ % len(tools):] + tools[:round_ % len(tools)]
            for tool in order:
                if (label, tool) not in self.results.failures:
                    self._guarded(label, tool, self._cold_warm, project)
            print(f"{label}: round {round_ + 1}/{self.runs} done", flush=True)

    def _prime(self, project: Path, tool: str) -> None:
        self.run(tool, self.copy(project), self.fresh("cache"))

    def _cold_warm(self, project: Path, tool: str) -> None:
        label = display(project)
        src, cache = self.copy(project), self.fresh("cache")
        for phase in PHASES:
            timed = self.run(tool, src, cache)
            self.results.add(label, tool, phase, timed)

    def _guarded(self, label: str, tool: str, action: Callable[[Path, str], None], project: Path) -> None:
        try:
            action(project, tool)
        except BenchError as exc:
            self.results.failures[(label, tool)] = str(exc)
            print(f"FAILED {label} / {tool}: {exc}", file=sys.stderr, flush=True)

    def copy(self, project: Path) -> Path:
        # A pristine copy per round: nothing one tool leaves in the tree is seen by another.
        dest = self.fresh("src") / project.name

        top_only = {".git", ".venv", "dist", "build"}

        def leftovers(folder: str, names: list[str]) -> set[str]:
            at_top = Path(folder) == project
            return {n for n in names if (at_top and n in top_only) or n == "__pycache__" or n.endswith(".egg-info")}

        shutil.copytree(project, dest, ignore=leftovers)
        return dest


def built_files_problem(out: Path) -> str | None:
    """Why `out` does not hold exactly one good sdist and one good wheel (None: it does)."""
    names = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    sdists = [out / n for n in names if n.endswith(".tar.gz")]
    wheels = [out / n for n in names if n.endswith(".whl")]
    if len(sdists) != 1 or len(wheels) != 1:
        return f"{out} holds {names or 'nothing'}, not one sdist and one wheel"
    if not tarfile.is_tarfile(sdists[0]):
        return f"{sdists[0].name} is not a readable tar archive"
    if not zipfile.is_zipfile(wheels[0]):
        return f"{wheels[0].name} is not a readable zip archive"
    return None


def newest_log(cache: Path) -> str:
    logs = sorted((cache / "logs").glob("*.log"), key=lambda p: p.stat().st_mtime)
    return logs[-1].read_text(encoding="utf-8", errors="replace") if logs else "(no kept log)"


def display(project: Path) -> str:
    if project.name == GENERATED and not project.is_relative_to(ROOT):
        return GENERATED
    try:
        return str(project.relative_to(ROOT))
    except ValueError:
        return str(project)


def find_uv() -> str:
    try:
        from uv import find_uv_bin
    except ImportError:
        raise BenchError("the `uv` package is not installed in this interpreter (pip install uv)") from None
    try:
        return str(find_uv_bin())
    except FileNotFoundError as exc:
        raise BenchError(f"the `uv` package has no binary: {exc}") from None


def write_generated(scratch: Path) -> Path:
    """The hatchling-20 project: hatchling, 20 small modules, a README (the issue's measuring input)."""
    project = scratch / GENERATED
    package = project / "src" / "hatch20"
    package.mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        '[project]\nname = "hatch20"\nversion = "1.0.0"\ndescription = "A 20-module hatchling project"\n'
        'readme = "README.md"\nrequires-python = ">=3.9"\n', encoding="utf-8")
    (project / "README.md").write_text("# hatch20\n\nA benchmark input.\n", encoding="utf-8")
    (package / "__init__.py").write_text('"""hatch20."""\n', encoding="utf-8")
    for i in range(1, GENERATED_MODULES + 1):
        (package / f"mod{i:02d}.py").write_text(f'"""Module {i}."""\n\n\ndef f{i}(x: int) -> int:\n    return x + {i}\n',
                                                encoding="utf-8")
    return project


def projects_from(args: argparse.Namespace, scratch: Path) -> list[Path]:
    if args.project:
        chosen = [write_generated(scratch) if p == GENERATED else Path(p).resolve() for p in args.project]
    else:
        chosen = [ROOT / p for p in DEFAULT_PROJECTS if (ROOT / p).is_dir()] + [write_generated(scratch)]
    for project in chosen:
        if not ((project / "pyproject.toml").is_file() or (project / "setup.py").is_file()):
            raise BenchError(f"{project}: not a Python project (no pyproject.toml or setup.py)")
    if not chosen:
        raise BenchError(f"none of {', '.join(DEFAULT_PROJECTS)} exists under {ROOT}")
    return chosen


def print_header(bench: Bench, projects: Sequence[Path]) -> None:
    print("== build benchmark ==")
    print("\n".join(machine_lines()))
    versions = {
        "toolkit": [bench.python, "-m", "toolkit", "--version"],
        "build": [bench.python, "-m", "build", "--version"],
        "pip": [bench.python, "-m", "pip", "--version"],
        "uv": [bench.uv, "--version"],
    }
    for name, cmd in versions.items():
        print(f"{name + ':':<12} {command_output(cmd)}")
    steering = sorted(k for k in os.environ if STEERING.match(k))
    print(f"{'set vars:':<12} {', '.join(steering) or '(none of TOOLKIT_*, PIP_*, UV_*, PYTHON*)'}")
    print(f"{'projects:':<12} {', '.join(display(p) for p in projects)}; {bench.runs} runs each")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("note:        PYTHONDONTWRITEBYTECODE is set: a build environment installed without bytecode\n"
              "             (uv's default) compiles its backend again in every hook process")
    print("\n" + DEFINITIONS + "\n\ncommands:")
    for tool, template in TOOLS.items():
        print(f"  {tool:<12} {' '.join(template)}")


def print_results(results: Results, projects: Sequence[str]) -> None:
    for label in projects:
        rows = []
        for tool in TOOLS:
            cells = [results.times.get((label, tool, phase)) for phase in PHASES]
            cpu = [results.cpu.get((label, tool, phase)) for phase in PHASES]
            if (label, tool) in results.failures:
                rows.append([tool, *["FAILED"] * 4])
            else:
                rows.append([tool, *(spread(c) if c else "-" for c in cells), *(f"{median(c):.2f}" if c else "-" for c in cpu)])
        print(f"\n{label}: wall seconds, median [min-max]; cpu: median CPU seconds of the command and its children")
        print(table(["tool", *PHASES, *(f"{p} cpu" for p in PHASES)], rows))
        ratio_rows = [row for peer in TOOLS if peer != OURS and (row := _ratio_row(results, label, peer))]
        if ratio_rows:
            print(f"\n{label}: ratio of medians, toolkit / peer (below 1: toolkit is faster)")
            print(table(["", *PHASES, *(f"{p} cpu" for p in PHASES)], ratio_rows))


def _ratio_row(results: Results, label: str, peer: str) -> list[str] | None:
    cells = [f"toolkit / {peer}"]
    for measure in (results.times, results.cpu):
        for phase in PHASES:
            ours, theirs = measure.get((label, OURS, phase)), measure.get((label, peer, phase))
            if measure is results.times and not (ours and theirs):
                return None
            cells.append(f"{ratio(ours, theirs):.2f}x" if ours and theirs else "-")
    return cells


IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+\d+ \| \s*(\S+)\s*$")


def imports_by_package(output: str) -> dict[str, float]:
    """Seconds of `-X importtime` spent in each top-level package's own modules (self times)."""
    totals: dict[str, float] = {}
    for line in output.splitlines():
        m = IMPORT_LINE.match(line)
        if m:
            root = m.group(2).split(".")[0]
            totals[root] = totals.get(root, 0.0) + int(m.group(1)) / 1e6
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def readable_log(text: str, cache: str) -> list[str]:
    """The kept log's own lines, with the long paths shortened."""
    lines = [line for line in text.splitlines() if line.startswith("[toolkit +")]
    lines = [re.sub(r"\S*/_in_process\.py (\w+) \S+", r"_in_process.py \1 TMP", line) for line in lines]
    lines = [re.sub(r"\S*/envs/\w+/\w+", "$ENV", line).replace(cache, "$CACHE") for line in lines]
    return [re.sub(r"  \(in .*\)$", "", line) for line in lines]


def profile(bench: Bench, project: Path) -> None:
    """Where a warm toolkit build's time goes: interpreter start, imports, the hooks (kept log)."""
    label = display(project)
    pass_ = [run_timed([bench.python, "-c", "pass"], cwd=bench.scratch, env=os.environ).seconds for _ in range(5)]
    version = [run_timed([bench.python, "-m", "toolkit", "--version"], cwd=bench.scratch, env=os.environ).seconds
               for _ in range(5)]
    src, cache = bench.copy(project), bench.fresh("cache")
    bench.run(OURS, src, cache)  # fills the environment cache
    traced = bench.run(OURS, src, cache, python_flags=["-X", "importtime"])
    log = newest_log(cache)
    imports = imports_by_package(traced.output)
    warm = bench.results.times.get((label, OURS, "warm")) or [traced.seconds]
    stamps = [float(m) for m in re.findall(r"^\[toolkit \+([\d.]+)s\]", log, re.M)]
    span = stamps[-1] if stamps else 0.0
    print(f"\nprofile of a warm `toolkit build` of {label}")
    print(f"  python -c pass               {median(pass_):.3f} s  (interpreter start, median of 5)")
    print(f"  python -m toolkit --version  {median(version):.3f} s  (interpreter + the CLI's imports, median of 5)")
    print(f"  toolkit build, warm          {median(warm):.3f} s  (median)")
    top = ", ".join(f"{name} {sec:.3f}" for name, sec in list(imports.items())[:8])
    print(f"  imports in one warm build    {sum(imports.values()):.3f} s  (-X importtime, self times; by package: {top})")
    print(f"  kept log of that build ({span:.2f} s from the log's start to its last line):")
    print("\n".join(f"    {line}" for line in readable_log(log, str(cache))))
    print(f"  not covered by the log: {traced.seconds - span:.3f} s of the {traced.seconds:.3f} s run"
          " (interpreter start, imports, options, manifest, clean-up; inflated a little by -X importtime)")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks/build.py", description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--runs", type=int, default=5, help="timed rounds per tool (default: 5)")
    parser.add_argument("--project", action="append", metavar="DIR",
                        help=f"project to build, or {GENERATED} (repeatable; default: {', '.join(DEFAULT_PROJECTS)} that exist, "
                        f"and {GENERATED})")
    parser.add_argument("--profile", action="store_true", help="also break down a warm toolkit build")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (outputs, caches, logs)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="toolkit-bench-build-"))
    try:
        projects = projects_from(args, scratch)
        bench = Bench(sys.executable, find_uv(), scratch, args.runs)
        print_header(bench, projects)
        for project in projects:
            bench.project(project)
        print_results(bench.results, [display(p) for p in projects])
        if args.profile:
            for project in projects:
                if (display(project), OURS) not in bench.results.failures:
                    profile(bench, project)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"\nscratch folder kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    if bench.results.failures:
        print(f"\n{len(bench.results.failures)} tool/project pair(s) failed; see FAILED above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

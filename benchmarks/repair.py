"""Benchmark of the repair stage: `toolkit repair` (its check and import test included) beside
`auditwheel repair`, `repairwheel`, and "by hand" (auditwheel repair + twine check + venv + pip install +
import: the verification toolkit does, done with the usual tools) on the same Linux wheels, with a floor:
what any repair must at least do to write its output (deflate + hash + write every member, one core).

    python benchmarks/repair.py [--runs N] [--keep]

Two wheels are made here with gcc: "small" needs one small library, "large" needs three large ones.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from _common import command_output, machine_lines, median, run_timed, spread, table
from packaging.tags import sys_tags

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from test_repair_support import build_extension, build_library, make_wheel  # noqa: E402

BIN = Path(sys.executable).parent
TOOLS = {
    "toolkit": [sys.executable, "-m", "toolkit", "repair", "{wheel}", "-L", "{libs}", "-o", "{out}", "-q"],
    "auditwheel": [str(BIN / "auditwheel"), "repair", "{wheel}", "-w", "{out}"],
    "repairwheel": [str(BIN / "repairwheel"), "{wheel}", "-l", "{libs}", "-o", "{out}"],
    # What toolkit's verification does, by hand: auditwheel, then twine check, a fresh venv, pip install, import
    # (with no library path set, so that only the vendored copy can load).
    "by hand": ["/bin/sh", "-c", f"{BIN / 'auditwheel'} repair {{wheel}} -w {{out}} && {BIN / 'twine'} check "
                "{out}/*.whl && " + f"{sys.executable} -m venv {{out}}/venv && {{out}}/venv/bin/pip install -q "
                "--no-deps --no-index {out}/*.whl && env -u LD_LIBRARY_PATH {out}/venv/bin/python -c 'import bench'"],
}
LARGE_LIBS = 3
FUNCTIONS = 6000  # per large library: about 8 MB of code and tables each


def large_source(seed: int) -> str:
    """C with many small functions and lookup tables: machine code that deflates like real libraries."""
    rng = random.Random(seed)
    parts = []
    for i in range(FUNCTIONS):
        table_ = ", ".join(str(rng.randrange(0, 1 << 12)) for _ in range(96))
        parts.append(f"static const int t{i}[96] = {{{table_}}};\n"
                     f"int big{seed}_{i}(int x) {{ int s = 0; for (int k = 0; k < 96; k++) s += t{i}[k] * (x ^ k) "
                     f"+ {rng.randrange(1 << 16)}; return s >> {rng.randrange(1, 8)}; }}\n")
    return "".join(parts)


def make_wheels(scratch: Path) -> dict[str, tuple[Path, Path]]:
    """{case: (wheel, library folder)}."""
    found = {}
    for case, count in (("small", 1), ("large", LARGE_LIBS)):
        libs = scratch / case / "libs"
        names = [f"{case}{i}" for i in range(count)]
        for i, name in enumerate(names):
            if not (libs / f"lib{name}.so.1").is_file():  # kept from an earlier run with --scratch
                build_library(libs, name, extra=large_source(i) if case == "large" else "")
        ext = build_extension(scratch / case / "build", "_native", names[0], libs)
        if count > 1:  # the extension needs every library: link the others too (no --as-needed dropping them)
            subprocess.run(["gcc", "-shared", "-fPIC", f"-I{sysconfig.get_paths()['include']}", "-o", str(ext),
                            str(ext.with_name("_native.c")), f"-L{libs}", "-Wl,--no-as-needed",
                            *(f"-l{n}" for n in names)], check=True, capture_output=True)
        tag = next(t for t in sys_tags() if t.platform.startswith("linux_"))
        files = {"bench/__init__.py": b"from bench._native import add\n", f"bench/{ext.name}": ext}
        found[case] = (make_wheel(scratch / case / "dist", "bench", "1.0", str(tag), files), libs)
    return found


def floor_seconds(repaired: Path, scratch: Path) -> float:
    """Deflate (zlib default) + sha256 + write of every member of a repaired wheel, on one core."""
    with zipfile.ZipFile(repaired) as zf:
        members = [(i.filename, zf.read(i)) for i in zf.infolist() if not i.is_dir()]
    start = time.perf_counter()
    with open(scratch / "floor.zip", "wb") as f:
        for _name, data in members:
            c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
            f.write(c.compress(data) + c.flush())
            hashlib.sha256(data).digest()
    return time.perf_counter() - start


def run_tool(tool: str, wheel: Path, libs: Path, out: Path) -> tuple[float, float | None]:
    values = {"wheel": str(wheel), "libs": str(libs), "out": str(out)}
    cmd = [part.format(**values) for part in TOOLS[tool]]
    # Bytecode is written (as on users' machines): a priming run fills __pycache__ before the timed ones.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"LD_LIBRARY_PATH": str(libs), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"})
    timed = run_timed(cmd, cwd=out.parent, env=env)
    if timed.returncode != 0 or not list(out.glob("*manylinux*.whl")):
        raise SystemExit(f"`{' '.join(cmd)}` failed (exit {timed.returncode}):\n{timed.tail()}")
    return timed.seconds, timed.cpu


def _fresh(scratch: Path, count: int) -> Path:
    out = scratch / f"out-{count:03d}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    return out


@dataclass
class Figures:
    times: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # (case, tool) -> wall seconds
    cpus: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # (case, tool) -> CPU seconds
    floors: dict[str, list[float]] = field(default_factory=dict)  # case -> seconds


def measure(wheels: dict[str, tuple[Path, Path]], tools: list[str], runs: int, scratch: Path) -> Figures:
    """A priming round (bytecode written, files in the page cache), then `runs` rounds of every tool."""
    figures = Figures()
    count = 0
    for wheel, libs in wheels.values():
        for tool in tools:
            count += 1
            run_tool(tool, wheel, libs, _fresh(scratch, count))
    for _ in range(runs):
        for case, (wheel, libs) in wheels.items():
            for tool in tools:  # each run writes to a fresh folder
                count += 1
                out = _fresh(scratch, count)
                seconds, cpu = run_tool(tool, wheel, libs, out)
                figures.times.setdefault((case, tool), []).append(seconds)
                if cpu is not None:
                    figures.cpus.setdefault((case, tool), []).append(cpu)
                if tool == "auditwheel":
                    figures.floors.setdefault(case, []).append(floor_seconds(next(out.glob("*.whl")), scratch))
    return figures


def rows(figures: Figures, wheels: dict[str, tuple[Path, Path]], tools: list[str]) -> list[list[str]]:
    found = []
    for case, (_wheel, libs) in wheels.items():
        size = sum(p.stat().st_size for p in libs.glob("*.so.1")) / 1e6
        found.append([f"{case} ({size:.1f} MB of libraries)", f"floor {spread(figures.floors[case])}", "", "", "", ""])
        for tool in tools:
            t, c = figures.times[(case, tool)], figures.cpus.get((case, tool), [0.0])
            c_audit = figures.cpus.get((case, "auditwheel"), [1.0])
            found.append([f"  {tool}", spread(t), f"{median(t) / median(figures.times[(case, 'auditwheel')]):.2f}",
                          f"{median(t) / median(figures.floors[case]):.2f}", spread(c),
                          f"{median(c) / median(c_audit):.2f}"])
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--scratch", type=Path, help="scratch folder to use (and keep): its libraries are reused")
    args = parser.parse_args()
    tools = [t for t in TOOLS if Path(TOOLS[t][0]).exists() and (t != "by hand" or (BIN / "twine").exists())]
    scratch = args.scratch.resolve() if args.scratch else Path(tempfile.mkdtemp(prefix="toolkit-bench-repair-"))
    scratch.mkdir(parents=True, exist_ok=True)
    print("== repair benchmark ==")
    print("\n".join(machine_lines()))
    for tool in ("auditwheel", "repairwheel"):
        print(f"{tool + ':':<13}{command_output([TOOLS[tool][0], '--version'])}" if tool in tools
              else f"{tool}: not installed (pip install {tool})")
    try:
        wheels = make_wheels(scratch)
        figures = measure(wheels, tools, args.runs, scratch)
        print(f"\n{args.runs} runs each; wall and CPU seconds (the command and its children): median [min-max]; "
              "ratios of medians")
        print(table(["wheel / tool", "wall s", "vs auditwheel", "vs floor", "CPU s", "CPU vs auditwheel"],
                    rows(figures, wheels, tools)))
    finally:
        if args.keep or args.scratch:
            print(f"\nkept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

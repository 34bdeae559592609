"""Benchmark of the repair stage: `toolkit repair` (its check and import test included) beside
`auditwheel repair` and `repairwheel` on the same Linux wheels, with a floor: what any repair must
at least do to write its output (deflate + hash + write every member, one core, zlib's default level).

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
            extra = large_source(i) if case == "large" else ""
            build_library(libs, name, extra=extra)
        ext = build_extension(scratch / case / "build", "_native", names[0], libs)
        if count > 1:  # the extension needs every library: link the others too
            subprocess.run(["gcc", "-shared", "-fPIC", f"-I{sysconfig.get_paths()['include']}", "-o", str(ext),
                            str(ext.with_name("_native.c")), f"-L{libs}", *(f"-l{n}" for n in names)],
                           check=True, capture_output=True)
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
    env = {**os.environ, "LD_LIBRARY_PATH": str(libs), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    timed = run_timed(cmd, cwd=out.parent, env=env)
    if timed.returncode != 0 or not list(out.glob("*manylinux*.whl")):
        raise SystemExit(f"`{' '.join(cmd)}` failed (exit {timed.returncode}):\n{timed.tail()}")
    return timed.seconds, timed.cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    tools = [t for t in TOOLS if Path(TOOLS[t][0]).exists()]
    scratch = Path(tempfile.mkdtemp(prefix="toolkit-bench-repair-"))
    print("== repair benchmark ==")
    print("\n".join(machine_lines()))
    for tool in ("auditwheel", "repairwheel"):
        print(f"{tool + ':':<13}{command_output([TOOLS[tool][0], '--version'])}" if tool in tools
              else f"{tool}: not installed (pip install {tool})")
    try:
        wheels = make_wheels(scratch)
        times: dict[tuple[str, str], list[float]] = {}
        cpus: dict[tuple[str, str], list[float]] = {}
        floors: dict[str, list[float]] = {}
        count = 0
        for _ in range(args.runs):
            for case, (wheel, libs) in wheels.items():
                for tool in tools:  # each run writes to a fresh folder
                    count += 1
                    out = scratch / f"out-{count:03d}"
                    out.mkdir()
                    seconds, cpu = run_tool(tool, wheel, libs, out)
                    times.setdefault((case, tool), []).append(seconds)
                    if cpu is not None:
                        cpus.setdefault((case, tool), []).append(cpu)
                    if tool == "auditwheel":
                        floors.setdefault(case, []).append(floor_seconds(next(out.glob("*.whl")), scratch))
        rows = []
        for case, (_wheel, libs) in wheels.items():
            size = sum(p.stat().st_size for p in libs.glob("*.so.1")) / 1e6
            rows.append([f"{case} ({size:.1f} MB of libraries)", f"floor {spread(floors[case])}", "", "", "", ""])
            for tool in tools:
                t, c = times[(case, tool)], cpus.get((case, tool), [0.0])
                c_audit = cpus.get((case, "auditwheel"), [1.0])
                rows.append([f"  {tool}", spread(t), f"{median(t) / median(times[(case, 'auditwheel')]):.2f}",
                             f"{median(t) / median(floors[case]):.2f}", spread(c), f"{median(c) / median(c_audit):.2f}"])
        print(f"\n{args.runs} runs each; wall and CPU seconds (the command and its children): median [min-max]; "
              "ratios of medians")
        print(table(["wheel / tool", "wall s", "vs auditwheel", "vs floor", "CPU s", "CPU vs auditwheel"], rows))
    finally:
        if args.keep:
            print(f"\nkept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

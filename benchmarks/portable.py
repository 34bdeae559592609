"""Benchmark of portable builds: `toolkit build --manylinux 2_17` (zig) beside a gcc build of the same sdist
(`toolkit build --repair`, the host's glibc), each built, repaired and checked; the tag each one gets.

    python benchmarks/portable.py [--runs N] [SDIST ...]

Default sdists: markupsafe 3.0.4 (C) and msgpack 1.0.8 (C++) from the test corpus (`python tests/pypi_corpus.py`
downloads them). toolkit's environment cache is warm for both (an untimed first round). zig's cache is timed
three ways: its first use of the target (it builds libc stubs, compiler-rt and libc++: once per machine); a
build whose zig cache holds those but none of the project's objects (a copy of the primed cache per run: the
fair comparison with gcc, which caches nothing); and the same build again (zig's cache holds its objects).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from _common import Timed, command_output, machine_lines, median, ratio, run_timed, spread, table

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ("markupsafe-3.0.4.tar.gz", "msgpack-1.0.8.tar.gz")
COMMANDS = {
    "gcc (--repair)": ("-w", "--repair"),
    "zig (--manylinux 2_17)": ("-w", "--manylinux", "2_17"),
}
OURS, PEER = "zig (--manylinux 2_17)", "gcc (--repair)"


def default_sdists() -> list[Path]:
    sys.path.insert(0, str(ROOT / "tests"))
    from pypi_corpus import corpus_dir

    found = [corpus_dir() / name for name in DEFAULT]
    missing = [p.name for p in found if not p.is_file()]
    if missing:
        sys.exit(f"error: {', '.join(missing)} not in {corpus_dir()}\nhint: run `python tests/pypi_corpus.py` first")
    return found


def build(sdist: Path, flags: Sequence[str], scratch: Path, env: dict[str, str]) -> tuple[Timed, str]:
    """One `toolkit build` into a fresh folder; the platform tag of the wheel it leaves there."""
    out = Path(tempfile.mkdtemp(dir=scratch, prefix="out-"))
    timed = run_timed([sys.executable, "-m", "toolkit", "build", sdist, "-o", out, "-q", *flags], cwd=scratch, env=env)
    if timed.returncode != 0:
        sys.exit(f"error: building {sdist.name} with {' '.join(flags)} failed:\n{timed.tail()}")
    repaired = [w for w in out.glob("*.whl") if "manylinux" in w.name]
    tag = repaired[0].name.rsplit("-", 1)[1].removesuffix(".whl") if repaired else "(not repaired)"
    shutil.rmtree(out)
    return timed, tag


def prime(cache: Path, scratch: Path) -> Timed:
    """zig's first use of the target: a tiny C and C++ library linked into an empty cache through toolkit's own
    wrappers (zig builds its runtime libraries once per set of link flags: these must be the builds' flags)."""
    from toolkit.build.portable import Request, own_zig, write_wrappers, zig_target
    from toolkit.build.pythons import current

    zig = own_zig()
    if zig is None:
        sys.exit("error: no ziglang beside toolkit\nhint: pip install 'wheel-toolkit[portable]'")
    bindir = write_wrappers(zig, zig_target(Request("manylinux", (2, 17)), current()))
    (scratch / "prime.c").write_text("int f(void) { return 1; }\n")
    (scratch / "prime.cc").write_text("#include <string>\nint g(const char *s) { return std::string(s).size(); }\n")
    script = " && ".join(f"'{bindir / tool}' -O2 -fPIC -shared {src} -o {src}.so"
                         for tool, src in (("cc", "prime.c"), ("c++", "prime.cc")))
    timed = run_timed(["sh", "-c", script], cwd=scratch, env={**os.environ, "ZIG_GLOBAL_CACHE_DIR": str(cache)})
    if timed.returncode != 0:
        sys.exit(f"error: zig cannot build with {bindir}:\n{timed.tail()}")
    return timed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sdists", nargs="*", type=Path, help="sdists to build (default: markupsafe and msgpack)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    sdists = [p.resolve() for p in args.sdists] or default_sdists()
    print("\n".join(machine_lines()))
    print(f"gcc:         {command_output(['gcc', '--version'])}")
    print(f"zig:         {command_output([sys.executable, '-m', 'ziglang', 'version'])}\n")
    rows = []
    with tempfile.TemporaryDirectory(prefix="toolkit-bench-portable-") as tmp:
        scratch = Path(tmp)
        os.environ["TOOLKIT_CACHE_DIR"] = str(scratch / "cache")  # the wrappers prime() writes go there too
        primed = scratch / "zig-primed"
        first = prime(primed, scratch)
        rows.append(["(any)", "zig's first use of the target", f"{first.seconds:.2f}", _cpu([first]), "", ""])
        env = {**os.environ, "TOOLKIT_CACHE_DIR": str(scratch / "cache")}
        for sdist in sdists:
            rows += compare(sdist, scratch, primed, env, args.runs)
    print(table(["sdist", "compiler", "wall s", "cpu s", "zig/gcc", "tag"], rows))
    print("\nwall: median [min-max] over the runs, each a whole `toolkit build -w` (build, repair, check, import "
          "test)\ninto a fresh folder with toolkit's environment cache warm; zig/gcc = median over median.")
    return 0


def compare(sdist: Path, scratch: Path, primed: Path, env: dict[str, str], runs: int) -> list[list[str]]:
    gcc_flags, zig_flags = COMMANDS[PEER], COMMANDS[OURS]

    def zig_fresh() -> tuple[Timed, str]:
        fresh = Path(tempfile.mkdtemp(dir=scratch, prefix="zig-"))
        shutil.copytree(primed, fresh, dirs_exist_ok=True)  # untimed: the primed cache, no object of the project
        try:
            return build(sdist, zig_flags, scratch, {**env, "ZIG_GLOBAL_CACHE_DIR": str(fresh)})
        finally:
            shutil.rmtree(fresh)

    build(sdist, gcc_flags, scratch, env)  # fills toolkit's environment cache (untimed)
    gcc = [build(sdist, gcc_flags, scratch, env) for _ in range(runs)]
    zig = [zig_fresh() for _ in range(runs)]
    again_cache = {**env, "ZIG_GLOBAL_CACHE_DIR": str(scratch / "zig-again")}
    shutil.copytree(primed, scratch / "zig-again", dirs_exist_ok=True)
    build(sdist, zig_flags, scratch, again_cache)  # zig's cache now holds the project's objects
    again = [build(sdist, zig_flags, scratch, again_cache) for _ in range(runs)]
    gcc_secs = [t.seconds for t, _ in gcc]
    rows = []
    for name, results in ((PEER, gcc), (OURS, zig), (f"{OURS}, again", again)):
        secs = [t.seconds for t, _ in results]
        versus = f"{ratio(secs, gcc_secs):.2f}x" if results is not gcc else ""
        rows.append([sdist.name, name, spread(secs), _cpu([t for t, _ in results]), versus, results[0][1]])
    shutil.rmtree(scratch / "zig-again")
    return rows


def _cpu(times: list[Timed]) -> str:
    cpu = [t.cpu for t in times if t.cpu is not None]
    return f"{median(cpu):.2f}" if cpu else "n/a"


if __name__ == "__main__":
    sys.exit(main())

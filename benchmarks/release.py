"""Benchmark of `toolkit release` on examples/pure to a local pypiserver, beside the same work done with the
peers in sequence: `uv build`, `twine check`, `uv publish`. Every run publishes a new version (written into a
fresh copy of the project), so every run uploads both files; caches are warm for both sides (one untimed run
first), as on a developer's machine.

    python benchmarks/release.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from _common import command_output, machine_lines, median, run_timed, spread, table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from indexes import PASSWORD, USER, pypiserver  # noqa: E402


def fresh_project(work: Path, version: str) -> Path:
    dest = work / f"pure-{version}"
    shutil.copytree(ROOT / "examples" / "pure", dest, ignore=shutil.ignore_patterns("dist", "build"))
    pyproject = dest / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    start = text.index('version = "')
    end = text.index('"', start + len('version = "'))
    pyproject.write_text(text[:start] + f'version = "{version}"' + text[end + 1:], encoding="utf-8")
    return dest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from toolkit._proc import find_uv

    uv = find_uv()
    if uv is None:
        raise SystemExit("uv is needed for the peers (pip install uv)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOOLKIT_", "TWINE_", "UV_PUBLISH_"))}
    env.update(TOOLKIT_USERNAME=USER, TOOLKIT_PASSWORD=PASSWORD, PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")
    ours: list[float] = []
    peers: dict[str, list[float]] = {"uv build": [], "twine check": [], "uv publish": [], "peers in all": []}
    with tempfile.TemporaryDirectory(prefix="bench-release-") as tmp, pypiserver(Path(tmp) / "index") as index:
        work = Path(tmp)
        for run in range(args.runs + 1):  # run 0 warms both sides' caches and is not counted
            src = fresh_project(work, f"1.0.{run}")
            mine = run_timed([sys.executable, "-m", "toolkit", "release", "-q", "--repository-url", index.url],
                             cwd=src, env=env)
            if mine.returncode:
                raise SystemExit(f"toolkit release failed:\n{mine.tail()}")
            src = fresh_project(work, f"2.0.{run}")
            out = src / "dist"
            steps = {
                "uv build": [uv, "build", "-q", "-o", out],
                "twine check": [sys.executable, "-m", "twine", "check", "--strict", out / "*"],
                "uv publish": [uv, "publish", "--publish-url", index.url, "-u", USER, "-p", PASSWORD, out / "*"],
            }
            total = 0.0
            timings = {}
            for name, cmd in steps.items():
                shell = ["sh", "-c", " ".join(f'"{c}"' if "*" not in str(c) else str(c) for c in cmd)]
                timed = run_timed(shell, cwd=src, env=env)
                if timed.returncode:
                    raise SystemExit(f"{name} failed:\n{timed.tail()}")
                timings[name] = timed.seconds
                total += timed.seconds
            if run:
                ours.append(mine.seconds)
                for name, seconds in timings.items():
                    peers[name].append(seconds)
                peers["peers in all"].append(total)
    print("\n".join(machine_lines()))
    print(f"uv:          {command_output([uv, '--version'])}")
    print(f"twine:       {command_output([sys.executable, '-m', 'twine', '--version'])}")
    print(f"\nexamples/pure to a local pypiserver, {args.runs} runs, median [min-max] wall seconds, warm caches\n")
    rows = [["toolkit release", spread(ours), ""]]
    for name, values in peers.items():
        rows.append([name, spread(values), f"{median(ours) / median(values):.2f}x" if name == "peers in all" else ""])
    print(table(["", "seconds", "toolkit / peers"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Runs at once, through the real CLI, repeated a fixed number of times: six projects into one OUTDIR
(the manifest lists every file) while other runs prune the same logs, and two builds of one
setuptools tree (which stages its sdist inside the tree)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from projects import toolkit_env, write_project

ROUNDS = 4  # each round is 6 builds at once; the unlocked manifest lost files in 3 of 66 such trials
SETUPTOOLS_ROUNDS = 2


def _start(*args: str | Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "toolkit", *map(str, args)], env=toolkit_env(env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(procs: list[subprocess.Popen[str]]) -> list[tuple[int, str]]:
    errs = [p.communicate(timeout=600)[1] for p in procs]
    return [(p.returncode, err) for p, err in zip(procs, errs, strict=True)]


@pytest.mark.slow
def test_six_builds_into_one_outdir_all_land_in_the_manifest_while_logs_are_pruned(tmp_path: Path) -> None:
    projects = [write_project(tmp_path / f"p{i}", "intree", name=f"toy-pkg{i}") for i in range(6)]
    cache = tmp_path / "cache"
    logs = cache / "logs"
    logs.mkdir(parents=True)
    env = {"TOOLKIT_CACHE_DIR": str(cache)}
    for round_ in range(ROUNDS):
        outdir = tmp_path / f"out{round_}"
        old = time.time() - 3600
        for i in range(2000):  # stale logs that every run prunes at once
            log = logs / f"20200101-000000-{round_}{i}-build.log"
            log.write_text("old\n")
            os.utime(log, (old, old))
        results = _finish([_start("build", src, "-o", outdir, env=env) for src in projects])
        assert all(code == 0 and "Traceback" not in err for code, err in results), results
        listed = {d["path"] for d in json.loads((outdir / ".toolkit-manifest.json").read_text())["dists"]}
        on_disk = {p.name for p in outdir.iterdir() if not p.name.startswith(".")}
        assert len(on_disk) == 12 and listed == on_disk, (round_, sorted(on_disk - listed))
        assert len(list(logs.glob("*.log"))) <= 30 + len(projects)


@pytest.mark.slow
def test_two_builds_of_one_setuptools_tree_at_once_both_succeed(tmp_path: Path) -> None:
    src = write_project(tmp_path / "p", "setuptools")
    for round_ in range(SETUPTOOLS_ROUNDS):
        outdirs = [tmp_path / f"out{round_}-{i}" for i in range(2)]
        results = _finish([_start("build", src, "-o", out, env={}) for out in outdirs])
        assert all(code == 0 for code, _ in results), results
        for out in outdirs:
            assert sorted(p.suffix for p in out.iterdir() if not p.name.startswith(".")) == [".gz", ".whl"]

"""A monorepo: two projects in one git repository. A project's SOURCE_DATE_EPOCH is the time of
the last commit that touched its own folder, so a commit in the other project changes no byte of it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from projects import run_toolkit, sha256, write_project

FIRST, OTHER, OWN = 1700000000, 1710000000, 1720000000  # even: zip times have a 2-second step


def commit(repo: Path, epoch: int, message: str) -> None:
    stamp = f"@{epoch} +0000"
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
    for cmd in (["add", "-A"], ["commit", "-q", "-m", message]):
        subprocess.run(["git", "-C", str(repo), *cmd], env=env, check=True, capture_output=True)


def build(src: Path, out: Path) -> tuple[dict[str, str], str]:
    """The built files (name -> sha256) and the SOURCE_DATE_EPOCH the manifest records."""
    proc = run_toolkit("build", src, "-o", out, "-q")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / ".toolkit-manifest.json").read_text(encoding="utf-8"))
    return {p.name: sha256(p) for p in out.iterdir() if not p.name.startswith(".")}, manifest["source_date_epoch"]


def test_a_commit_in_another_project_changes_no_byte_of_this_one(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    ours = write_project(repo / "projects" / "ours", "hatchling", name="ours")
    theirs = write_project(repo / "projects" / "theirs", "hatchling", name="theirs")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    commit(repo, FIRST, "both projects")
    before, epoch = build(ours, tmp_path / "before")
    assert epoch == str(FIRST)

    (theirs / "src" / "theirs" / "extra.py").write_text("X = 1\n", encoding="utf-8")
    commit(repo, OTHER, "a change in the other project")
    after, epoch = build(ours, tmp_path / "after")
    assert epoch == str(FIRST)
    assert after == before and len(after) == 2  # the sdist and the wheel, byte for byte

    (ours / "src" / "ours" / "extra.py").write_text("X = 1\n", encoding="utf-8")
    commit(repo, OWN, "a change in this project")
    _, epoch = build(ours, tmp_path / "own")
    assert epoch == str(OWN)

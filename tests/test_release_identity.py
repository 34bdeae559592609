"""`toolkit release` knows a release by what it publishes (name and version), not by file times: a new tag is a new
release, an sdist given as SRC is published with its wheel, a re-run never overwrites what the index holds, and two
releases at once end with the files on the index. Each test runs the real CLI against a real pypiserver."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from indexes import Index, creds, publish_env, pypiserver
from projects import write_project

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org"}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with pypiserver(tmp_path_factory.mktemp("pypiserver")) as idx:
        yield idx


def release(*args: str | Path, home: Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_release_cmd(*args), cwd=cwd, env=publish_env(home, {**creds(), **(env or {})}),
                          capture_output=True, text=True, timeout=900, check=False)


def _release_cmd(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "toolkit", "release", *map(str, args)]


def on_index(index: Index, prefix: str) -> dict[str, str]:
    """file name -> sha256 of what the index stores for one project."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(index.packages.iterdir())
            if p.name.startswith(prefix)}


def in_folder(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.name.endswith((".whl", ".tar.gz"))}


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), *args], env={**os.environ, **GIT_ENV}, check=True, capture_output=True)


def vcs_project(folder: Path, name: str) -> Path:
    """A hatch-vcs project (its version comes from the git tag), committed in a new git repository."""
    write_project(folder, "hatchling", name=name, requires=["hatchling>=1.26", "hatch-vcs"])
    text = (folder / "pyproject.toml").read_text(encoding="utf-8")
    text = text.replace('version = "0.1.0"\n', 'dynamic = ["version"]\n')
    (folder / "pyproject.toml").write_text(text + '[tool.hatch.version]\nsource = "vcs"\n', encoding="utf-8")
    (folder / ".gitignore").write_text("dist/\n", encoding="utf-8")
    git(folder, "init", "-q")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "first")
    return folder


@pytest.mark.slow
def test_a_new_tag_is_a_new_release_even_on_an_empty_commit(tmp_path: Path, index: Index) -> None:
    src = vcs_project(tmp_path / "proj", "vcs-tagged")
    git(src, "tag", "v1.0")
    first = release("--repository-url", index.url, home=tmp_path, cwd=src)
    assert first.returncode == 0, first.stdout + first.stderr
    assert sorted(on_index(index, "vcs_tagged")) == ["vcs_tagged-1.0-py3-none-any.whl", "vcs_tagged-1.0.tar.gz"]
    # Nothing in the tree changes: an empty commit, tagged v1.1. The release is 1.1, and 1.1 reaches the index.
    git(src, "commit", "-q", "--allow-empty", "-m", "release 1.1")
    git(src, "tag", "v1.1")
    second = release("--repository-url", index.url, home=tmp_path, cwd=src)
    assert second.returncode == 0, second.stdout + second.stderr
    assert {"vcs_tagged-1.1-py3-none-any.whl", "vcs_tagged-1.1.tar.gz"} <= set(on_index(index, "vcs_tagged"))
    # The version setuptools-scm is told to use is the release's too.
    third = release("--repository-url", index.url, home=tmp_path, cwd=src, env={"SETUPTOOLS_SCM_PRETEND_VERSION": "1.2"})
    assert third.returncode == 0, third.stdout + third.stderr
    assert {"vcs_tagged-1.2-py3-none-any.whl", "vcs_tagged-1.2.tar.gz"} <= set(on_index(index, "vcs_tagged"))
    # Every file on the index is the one in dist/, byte for byte.
    assert on_index(index, "vcs_tagged") == in_folder(src / "dist")


def _sdist(tmp_path: Path, name: str, version: str, into: Path) -> Path:
    """An sdist of a hatchling project, built by `toolkit build -s`, moved into `into`."""
    src = write_project(tmp_path / f"{name}-{version}-src", "hatchling", name=name, version=version)
    proc = subprocess.run([sys.executable, "-m", "toolkit", "build", "-s", str(src)], capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    into.mkdir(parents=True, exist_ok=True)
    built = next((src / "dist").glob("*.tar.gz"))
    return Path(shutil.move(built, into / built.name))


@pytest.mark.slow
def test_an_sdist_given_as_src_is_published_with_the_wheel_built_from_it(tmp_path: Path, index: Index) -> None:
    sdist = _sdist(tmp_path, "from-sdist", "1.0", tmp_path / "sdists")
    sent = hashlib.sha256(sdist.read_bytes()).hexdigest()
    proc = release("--repository-url", index.url, sdist, home=tmp_path, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    stored = on_index(index, "from_sdist")
    assert sorted(stored) == ["from_sdist-1.0-py3-none-any.whl", "from_sdist-1.0.tar.gz"]
    assert stored["from_sdist-1.0.tar.gz"] == sent  # that sdist, not another one built from it


@pytest.mark.slow
def test_a_second_sdist_into_the_same_outdir_gets_its_own_wheel(tmp_path: Path, index: Index) -> None:
    out = tmp_path / "out"
    one = _sdist(tmp_path, "two-sdists", "1.0", tmp_path / "sdists")
    two = _sdist(tmp_path, "two-sdists", "2.0", tmp_path / "sdists")
    first = release("--repository-url", index.url, "-o", out, one, home=tmp_path, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    second = release("--repository-url", index.url, "-o", out, two, home=tmp_path, cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert sorted(on_index(index, "two_sdists")) == [
        "two_sdists-1.0-py3-none-any.whl", "two_sdists-1.0.tar.gz", "two_sdists-2.0-py3-none-any.whl",
        "two_sdists-2.0.tar.gz"]


@pytest.mark.slow
def test_a_touched_setuptools_project_is_not_rebuilt_over_what_the_index_holds(tmp_path: Path, index: Index) -> None:
    src = write_project(tmp_path / "proj", "setuptools", name="touched-release")
    first = release("--repository-url", index.url, home=tmp_path, cwd=src)
    assert first.returncode == 0, first.stdout + first.stderr
    published = on_index(index, "touched_release")
    assert len(published) == 2 and in_folder(src / "dist") == published
    # Every file's time changes (setuptools' sdists are not reproducible: a rebuild gives other bytes).
    later = time.time() + 5
    for path in src.rglob("*"):
        os.utime(path, (later, later))
    again = release("--repository-url", index.url, home=tmp_path, cwd=src)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("already there, identical") == 2
    assert in_folder(src / "dist") == published == on_index(index, "touched_release")


@pytest.mark.slow
def test_a_version_the_index_holds_with_other_bytes_stops_before_the_build(tmp_path: Path, index: Index) -> None:
    first = write_project(tmp_path / "first", "setuptools", name="taken-version")
    proc = release("--repository-url", index.url, home=tmp_path, cwd=first)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    published = on_index(index, "taken_version")
    # Another checkout of the same version (its dist/ is empty): nothing it would build can go under those names.
    other = write_project(tmp_path / "other", "setuptools", name="taken-version", files={"NEWS.txt": "changed\n"})
    proc = release("--repository-url", index.url, home=tmp_path, cwd=other)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "taken-version 0.1.0" in lines[0] and "already" in lines[0], proc.stderr
    assert "hint:" in proc.stderr and "version" in proc.stderr.split("hint:")[1]
    assert "Traceback" not in proc.stderr and "running again" not in proc.stderr
    assert not (other / "dist").exists() or not in_folder(other / "dist")  # nothing was built
    assert on_index(index, "taken_version") == published


@pytest.mark.slow
def test_two_releases_of_one_project_at_once_both_end_with_the_files_on_the_index(tmp_path: Path, index: Index) -> None:
    src = write_project(tmp_path / "proj", "setuptools", name="twice-at-once")
    env = publish_env(tmp_path, creds())
    cmd = _release_cmd("--repository-url", index.url)
    procs = [subprocess.Popen(cmd, cwd=src, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    time.sleep(0.5)  # apart enough for the files' times to differ, as two CI jobs or two terminals start
    procs.append(subprocess.Popen(cmd, cwd=src, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=900) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, out + err
    published = on_index(index, "twice_at_once")
    assert len(published) == 2 and in_folder(src / "dist") == published

"""`toolkit check --index`: what the index will say, predicted before anything is sent, in PyPI's words; against a real
pypiserver and a small server that speaks PyPI's JSON API (for upload times, project sizes and names)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from distfactory import make_sdist, make_wheel
from indexes import Index, creds, pypiserver, run_publish
from jsonapi import json_index


def check(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "toolkit", "check", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ago(days: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def entry(path: Path, days: float = 1, size: int | None = None) -> dict[str, object]:
    return {"filename": path.name, "sha256": sha256(path), "size": size or path.stat().st_size, "uploaded": ago(days)}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with pypiserver(tmp_path_factory.mktemp("pypiserver")) as idx:
        yield idx


def test_a_release_older_than_14_days_takes_no_new_file(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "aged_pkg", "1.0")
    sdist = make_sdist(tmp_path, "aged_pkg", "1.0")
    state = {"aged-pkg": {"1.0": [entry(wheel, days=15)]}}
    with json_index(state, tmp_path) as url:
        proc = check("--index", url, wheel, sdist, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    # The wheel is there with the same bytes: "already there", not an error.
    assert f"{wheel}: PASSED" in lines
    assert any(line.startswith(f"{sdist}: I013 error [PyPI rejects]: Uploading new files to releases older than 14 "
                               "days is not allowed.") for line in lines), proc.stdout
    assert any(f"{sdist}: I100 warning" in line and "aged_pkg-1.0-py3-none-any.whl" in line for line in lines)


def test_a_release_younger_than_14_days_takes_a_new_file(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "young_pkg", "1.0")
    sdist = make_sdist(tmp_path, "young_pkg", "1.0")
    with json_index({"young-pkg": {"1.0": [entry(wheel, days=13)]}}, tmp_path) as url:
        proc = check("--index", url, sdist, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "I100 warning" in proc.stdout and "I013" not in proc.stdout


def test_a_new_name_too_close_to_another_project_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "hello_world", "1.0")
    other = make_wheel(tmp_path, "hell0_w0rld", "3.0")
    with json_index({"Hell0.W0rld": {"3.0": [entry(other)]}}, tmp_path) as url:
        proc = check("--index", url, wheel, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert ("I005 error [PyPI rejects]: The name 'hello-world' is too similar to an existing project. See "
            "https://pypi.org/help/#project-name for more information.") in proc.stdout
    assert "'Hell0.W0rld'" in proc.stdout


def test_a_close_name_is_found_where_the_index_lists_no_names(tmp_path: Path) -> None:
    # As on PyPI, whose list of every name toolkit does not read: the look-alike spellings are looked up one by one.
    wheel = make_wheel(tmp_path, "hello_world", "1.0")
    other = make_wheel(tmp_path, "hello_w0rld", "2.0")
    with json_index({"Hello-W0rld": {"2.0": [entry(other)]}}, tmp_path, listing=False) as url:
        proc = check("--index", url, wheel, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "I005 error [PyPI rejects]: The name 'hello-world' is too similar to an existing project." in proc.stdout
    assert "'Hello-W0rld'" in proc.stdout


def test_the_projects_total_size_limit(tmp_path: Path) -> None:
    old = make_wheel(tmp_path, "big_pkg", "1.0")
    new = make_wheel(tmp_path, "big_pkg", "2.0")
    near_full = (10 << 30) - 10
    with json_index({"big-pkg": {"1.0": [entry(old, size=near_full)]}}, tmp_path) as url:
        proc = check("--index", url, new, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "I010 error [PyPI rejects]: Project size too large. Limit for project 'big-pkg' total size is 10 GB." \
        in proc.stdout


def test_a_file_name_on_a_real_index_with_other_bytes_same_bytes_and_a_new_name(tmp_path: Path, index: Index) -> None:
    sent = tmp_path / "sent"
    sent.mkdir()
    wheel = make_wheel(sent, "reused_name", "1.0")
    proc = run_publish("--repository-url", index.url, wheel, home=tmp_path, env=creds())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The same file: already there, no finding.
    same = check("--index", index.url, wheel, cwd=tmp_path)
    assert same.returncode == 0 and f"{wheel}: PASSED" in same.stdout, same.stdout + same.stderr
    # Another file under that name (the simple page of pypiserver gives its sha256).
    rebuilt = tmp_path / "rebuilt"
    rebuilt.mkdir()
    other = make_wheel(rebuilt, "reused_name", "1.0", files={"reused_name/__init__.py": b"x = 2\n"})
    proc = check("--index", index.url, other, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{other}: I011 error [PyPI rejects]: File already exists ('reused_name-1.0-py3-none-any.whl', with " \
           "blake2_256 hash '" in proc.stdout
    assert "See https://pypi.org/help/#file-name-reuse for more information." in proc.stdout
    # A project the index has never seen: a new name, fine.
    fresh = make_wheel(rebuilt, "never_seen_here", "0.1")
    proc = check("--index", index.url, fresh, cwd=tmp_path)
    assert proc.returncode == 0 and f"{fresh}: PASSED" in proc.stdout, proc.stdout + proc.stderr


def test_an_index_that_is_not_a_url_is_one_line(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "any_pkg", "1.0")
    proc = check("--index", "ftp://example", wheel, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: --index ftp://example") and "hint:" in proc.stderr
    # An index that does not answer, given with a password in its URL: one line, and the password nowhere.
    from indexes import free_port

    down = check("--index", f"http://reader:Pa55-Secret-77@127.0.0.1:{free_port()}/", wheel, cwd=tmp_path)
    assert down.returncode == 5 and "Traceback" not in down.stderr, down.stderr
    assert "error: cannot read http://127.0.0.1:" in down.stderr and "Pa55-Secret-77" not in down.stdout + down.stderr


def test_the_new_codes_are_listed_with_who_refuses() -> None:
    proc = subprocess.run([sys.executable, "-m", "toolkit", "check", "--list-codes"], capture_output=True, text=True,
                          check=True)
    listed = {line.split()[0]: line for line in proc.stdout.splitlines()}
    for code in ("I005", "I010", "I011", "I013", "I014"):
        assert "PyPI rejects" in listed[code]
    assert "toolkit" in listed["I100"]


# -- the same verdicts in publish (before each file is sent) and in release (before the build) ---------------------

def test_publish_sends_nothing_the_index_would_refuse(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "aged_pub", "1.0")
    sdist = make_sdist(tmp_path, "aged_pub", "1.0")
    with json_index({"aged-pub": {"1.0": [entry(wheel, days=15)]}}, tmp_path) as url:
        proc = run_publish("--repository-url", url, wheel, sdist, home=tmp_path, env=creds())
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert (f"{sdist.name}: failed: not sent, the index would refuse it: I013 Uploading new files to releases older "
            "than 14 days is not allowed.") in proc.stdout
    # The wheel the index holds goes as before (the index's answer settles it); the sdist never goes on the wire.
    assert (tmp_path / "jsonapi-state.json.posts").read_text().split() == [wheel.name]
    # The hint says what will help, and does not promise that running again finishes the job.
    hint = proc.stderr.split("hint:", 1)[1]
    assert "bump the version" in hint and "running the same command again" not in hint


def test_publish_to_a_real_index_sends_no_other_bytes_under_a_used_name(tmp_path: Path, index: Index) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    wheel = make_wheel(first, "used_name", "1.0")
    assert run_publish("--repository-url", index.url, wheel, home=tmp_path, env=creds()).returncode == 0
    stored = sha256(index.packages / wheel.name)
    other = make_wheel(second, "used_name", "1.0", files={"used_name/__init__.py": b"x = 2\n"})
    proc = run_publish("--repository-url", index.url, "--dry-run", other, home=tmp_path, env=creds())
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "not sent, the index would refuse it: I011 File already exists ('used_name-1.0-py3-none-any.whl'" \
        in proc.stdout
    assert sha256(index.packages / wheel.name) == stored


@pytest.mark.slow
def test_release_of_a_new_name_too_close_to_another_stops_before_the_build(tmp_path: Path) -> None:
    from projects import write_project
    from test_release_identity import release

    src = write_project(tmp_path / "proj", "intree", name="hello-world")
    other = make_wheel(tmp_path, "he11o_world", "1.0")
    with json_index({"He11o-World": {"1.0": [entry(other)]}}, tmp_path) as url:
        proc = release("--repository-url", url, home=tmp_path, cwd=src)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "error: The name 'hello-world' is too similar to an existing project ('He11o-World' on the index)" \
        in proc.stderr
    assert not (src / "dist").exists()


# -- the verdicts themselves, on what an index shows (pure: in-memory records) -------------------------------------

def test_pypis_folding_of_names() -> None:
    from toolkit.indexstate import similar_names, ultranormalize

    assert ultranormalize("Hello_World.1") == ultranormalize("he11o-w0r1d-l") == "he110w0r1d1"
    assert ultranormalize("pip") == ultranormalize("P1P") and ultranormalize("foo") == ultranormalize("F0O")
    # The same project under another spelling is not "another project"; a folded twin is.
    assert similar_names("my.pkg", ["My_Pkg", "mypkg", "my-pkq", "MY-PKG"]) == ["mypkg"]


def test_a_second_sdist_and_the_same_bytes_are_told_apart(tmp_path: Path) -> None:
    from toolkit.indexstate import Local, Project, RemoteFile, verdicts

    sdist = make_sdist(tmp_path, "two_sdists", "1.0")
    local = Local.of(sdist)
    zip_there = Project("two-sdists", True, "x", "two-sdists", (RemoteFile("two_sdists-1.0.zip", "0" * 64, 10),))
    codes = [f.code for f in verdicts([local], zip_there)[sdist]]
    assert codes == ["I100", "I014"]
    same_there = Project("two-sdists", True, "x", "two-sdists", (RemoteFile(sdist.name, local.sha256, local.size),))
    assert verdicts([local], same_there)[sdist] == []

"""publish's messages tell the truth: a hint promises that running again finishes only when it can; a
redirect names where it pointed; a dry run says what the index already holds; nothing to publish is an
error; a name that is not UTF-8 is one line; attest's hint names a command that helps; a keyring backend
that does not answer is named."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from distfactory import make_sdist, make_wheel, metadata_text
from faultproxy import FaultProxy, Recorder
from indexes import Index, creds, free_port, publish_env, pypiserver, results, run_publish

RERUN = "running the same command again"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    with pypiserver(tmp_path_factory.mktemp("pypiserver")) as idx:
        yield idx


def error_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in proc.stderr, proc.stderr
    return [line for line in proc.stderr.splitlines() if line.startswith(("error: ", "hint: "))]


def test_other_bytes_under_the_name_never_promise_a_rerun(tmp_path: Path, index: Index) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = make_wheel(tmp_path / "a", "rebytes", "1.0")
    second = make_wheel(tmp_path / "b", "rebytes", "1.0", files={"rebytes/extra.py": b"x = 1\n"})
    assert run_publish("--repository-url", index.url, first, home=tmp_path, env=creds()).returncode == 0
    proc = run_publish("--repository-url", index.url, second, home=tmp_path, env=creds())
    assert proc.returncode == 5
    # Seen before sending (what the index holds, in PyPI's words), so nothing is sent under the name again.
    assert results(proc.stdout)[second.name].startswith("failed: not sent, the index would refuse it: I011 File "
                                                        "already exists")
    assert RERUN not in proc.stderr


def test_a_check_refusal_never_promises_a_rerun(tmp_path: Path) -> None:
    bad = make_wheel(tmp_path, "refused_pkg", "2.0", metadata=metadata_text("refused-pkg", "2.0", mv="2.0"))
    proc = run_publish("--repository-url", f"http://127.0.0.1:{free_port()}/", bad, home=tmp_path, env=creds())
    assert proc.returncode == 5 and "refused by toolkit check" in results(proc.stdout)[bad.name]
    assert RERUN not in proc.stderr


def test_a_stray_sha256sums_in_dist_never_promises_a_rerun(tmp_path: Path, index: Index) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    wheel = make_wheel(dist, "stray_sums", "1.0")
    (dist / "SHA256SUMS").write_text("0" * 64 + f"  {wheel.name}\n")
    proc = run_publish("--repository-url", index.url, dist, home=tmp_path, env=creds())
    assert proc.returncode == 5
    assert results(proc.stdout) == {wheel.name: "uploaded",
                                    "SHA256SUMS": "failed: not a wheel (.whl) or an sdist (.tar.gz, .zip)"}
    assert RERUN not in proc.stderr


def test_a_transient_failure_still_says_a_rerun_finishes(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "transient_pkg", "1.0")
    with Recorder({"/legacy/": (503, b"busy", {}), "/simple/": (404, b"", {})}) as srv:
        proc = run_publish("--repository-url", f"{srv.origin}/legacy/", "--retries", "0", wheel, home=tmp_path,
                           env=creds())
    assert proc.returncode == 5
    assert RERUN in error_lines(proc)[-1]


@pytest.mark.parametrize("status", [301, 302, 307])
def test_a_redirect_names_where_it_pointed(status: int, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "moved_pkg", "1.0")
    with Recorder({"/legacy/": (status, b"", {"Location": "https://elsewhere.example/upload/"})}) as srv:
        proc = run_publish("--repository-url", f"{srv.origin}/legacy/", wheel, home=tmp_path, env=creds())
    assert proc.returncode == 5
    line = results(proc.stdout)[wheel.name]
    assert f"the index answered {status}" in line and "a redirect to https://elsewhere.example/upload/" in line, line


def test_dry_run_says_already_there_for_what_the_index_holds(tmp_path: Path, index: Index) -> None:
    (tmp_path / "dist").mkdir()
    held = make_wheel(tmp_path / "dist", "dry_held", "1.0")
    assert run_publish("--repository-url", index.url, held, home=tmp_path, env=creds()).returncode == 0
    new = make_sdist(tmp_path / "dist", "dry_held", "1.0")
    proc = run_publish("--repository-url", index.url, "--dry-run", held, new, home=tmp_path, env=creds())
    assert proc.returncode == 0, proc.stderr
    assert results(proc.stdout) == {held.name: "already there, identical", new.name: "would upload"}


@pytest.mark.parametrize("content", ["empty", "fifo"])
def test_a_folder_with_nothing_to_publish_is_an_error(content: str, tmp_path: Path) -> None:
    folder = tmp_path / "dist"
    folder.mkdir()
    if content == "fifo":
        os.mkfifo(folder / "pkg-1.0-py3-none-any.whl")
    proc = run_publish("--repository-url", f"http://127.0.0.1:{free_port()}/", folder, home=tmp_path, env=creds())
    assert proc.returncode == 2
    assert error_lines(proc) == [f"error: no file to publish in {folder}",
                                 "hint: name wheels and sdists (regular files), or a folder that holds them such as dist/"]


def test_a_file_name_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    wheel = make_wheel(tmp_path / "src", "bytes_name", "1.0")
    odd = os.fsdecode(bytes(tmp_path / "dist") + b"/bytes_name-1.0-py3-none-any\xff.whl")
    Path(odd).parent.mkdir()
    os.rename(wheel, odd)
    with Recorder() as srv:
        proc = run_publish("--repository-url", f"{srv.origin}/legacy/", "--no-check", tmp_path / "dist",
                           home=tmp_path, env=creds())
        assert srv.requests == []
    assert proc.returncode == 5, proc.stderr
    assert "its name is not UTF-8 text" in proc.stdout
    assert error_lines(proc)[0] == "error: 1 of 1 file(s) not published"


def test_attest_without_the_trust_root_names_what_helps_signing(tmp_path: Path) -> None:
    """The TUF repository unreachable (a proxy that is not there): the hint is not verify's --offline."""
    wheel = make_wheel(tmp_path, "attest_hint", "1.0")
    home = tmp_path / "home"
    env = {**publish_env(home), "XDG_CACHE_HOME": str(home / "cache"), "XDG_DATA_HOME": str(home / "data"),
           "HTTPS_PROXY": f"http://127.0.0.1:{free_port()}", "NO_PROXY": "", "GITLAB_CI": "true",
           "SIGSTORE_ID_TOKEN": "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJzaWdzdG9yZSJ9.c2ln"}
    proc = subprocess.run([sys.executable, "-m", "toolkit", "attest", str(wheel)], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 7, proc.stderr  # AttestError: exit 7
    lines = error_lines(proc)
    assert lines[0].startswith("error: cannot update Sigstore's trust root"), lines
    assert "verify" not in lines[1] and "--trust-config FILE" in lines[1], lines


_SLOW_KEYRING = '''
import time
from keyring.backend import KeyringBackend


class Sleeper(KeyringBackend):
    priority = 1

    def get_password(self, service, username):
        time.sleep(60)

    def get_credential(self, service, username):
        time.sleep(60)

    def set_password(self, service, username, password):
        pass

    def delete_password(self, service, username):
        pass
'''


def test_a_keyring_backend_that_does_not_answer_is_named(tmp_path: Path) -> None:
    (tmp_path / "kr").mkdir()
    (tmp_path / "kr" / "slow_keyring.py").write_text(_SLOW_KEYRING)
    wheel = make_wheel(tmp_path, "keyring_pkg", "1.0")
    with FaultProxy("http://127.0.0.1:9") as proxy:
        proc = run_publish("--repository-url", proxy.url, wheel, home=tmp_path,
                           env={"PYTHON_KEYRING_BACKEND": "slow_keyring.Sleeper", "PYTHONPATH": str(tmp_path / "kr")})
        assert proxy.requests == []
    assert proc.returncode == 5, proc.stderr
    assert error_lines(proc) == [
        "error: the keyring backend slow_keyring.Sleeper did not answer within 5 s",
        "hint: unlock the keyring, give credentials (TOOLKIT_PASSWORD), or add --no-keyring"]


def test_release_keeps_publishs_specific_hint(tmp_path: Path) -> None:
    from projects import write_project

    src = write_project(tmp_path / "proj", "intree", name="hinted-release")
    with Recorder({"/legacy/": (301, b"", {"Location": "https://elsewhere.example/upload/"})}) as srv:
        proc = subprocess.run([sys.executable, "-m", "toolkit", "release", "--repository-url", f"{srv.origin}/legacy/"],
                              cwd=src, env=publish_env(tmp_path, creds()), capture_output=True, text=True, timeout=600,
                              check=False)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert error_lines(proc)[-1] == "hint: give the index's upload URL itself (toolkit does not follow redirects on upload)"

"""No index, however broken or hostile, hangs toolkit or exhausts its memory: small misbehaving servers on
127.0.0.1 answer endlessly, trickle one byte a second, stall after the status line, nest JSON without end,
or put terminal control sequences and binary in their words; publish and `verify --from-index` end with
one line each, within --deadline."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from distfactory import make_wheel
from faultproxy import HTTPServerBase, Request, read_body, send_response
from indexes import creds, publish_env, results, run_publish

NESTED = b"[" * 200_000 + b"]" * 200_000


def endless(sock: socket.socket) -> None:
    """A 200 whose body never ends (no length, no chunks: the connection's end would be the body's)."""
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n")
    block = b"<a>" + b"x" * 65533
    while True:
        sock.sendall(block)


def trickle(sock: socket.socket) -> None:
    """One byte a second, status line first: each read gets something, none waits long."""
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000:
        sock.sendall(bytes([byte]))
        time.sleep(1)


def stalled_200(sock: socket.socket) -> None:
    """The status and headers, then nothing more of the promised body."""
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\nOK so far")
    time.sleep(60)


class Hostile(HTTPServerBase):
    """Answers each request whose path starts with a key of `routes` with that behaviour (a function of the
    socket, or a fixed (status, body, headers)); anything else gets a 404."""

    def __init__(self, routes: dict[str, Callable[[socket.socket], None] | tuple[int, bytes, dict[str, str]]]) -> None:
        super().__init__()
        self.routes = routes

    def handle(self, sock: socket.socket, reader, req: Request) -> bool:  # type: ignore[no-untyped-def]
        read_body(reader, req)
        self.record(req)
        for prefix, how in self.routes.items():
            if req.path.startswith(prefix):
                if callable(how):
                    try:
                        how(sock)
                    except OSError:
                        pass
                    return False
                send_response(sock, *how)
                return True
        send_response(sock, 404, b"not here")
        return True


def wheel(tmp_path: Path, name: str) -> Path:
    (tmp_path / "dist").mkdir(exist_ok=True)
    return make_wheel(tmp_path / "dist", name, "1.0")


def publish_to(server: Hostile, path: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_publish("--repository-url", f"{server.origin}/legacy/", "--timeout", "3", "--deadline", "10", *extra,
                       path, home=tmp_path, env=creds())


def one_failure(proc: subprocess.CompletedProcess[str], path: Path) -> str:
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return results(proc.stdout)[path.name]


def test_an_upload_answer_that_never_ends_is_cut_at_its_cap(tmp_path: Path) -> None:
    path = wheel(tmp_path, "endless_answer")
    with Hostile({"/legacy/": endless, "/simple/": (404, b"", {})}) as server:
        proc = publish_to(server, path, tmp_path, "--retries", "0")
    line = one_failure(proc, path)
    assert "the index answered 200 OK, but its answer goes on past 1024 KiB" in line, line


def test_a_simple_page_that_never_ends_is_cut_at_its_cap(tmp_path: Path) -> None:
    path = wheel(tmp_path, "endless_page")
    with Hostile({"/legacy/": (503, b"busy", {}), "/simple/": endless}) as server:
        proc = publish_to(server, path, tmp_path, "--retries", "0")
    line = one_failure(proc, path)
    assert "cannot see whether the index holds the file (the index answered 200 OK, but its answer goes on past " \
           "65536 KiB" in line, line


def test_a_trickled_answer_ends_at_the_deadline(tmp_path: Path) -> None:
    """1 byte a second: without a wall-clock bound each read succeeds and the upload never ends."""
    path = wheel(tmp_path, "trickled")
    with Hostile({"/legacy/": trickle, "/simple/": trickle}) as server:
        proc = publish_to(server, path, tmp_path)  # run_publish's own timeout (300 s) fails the test if it hangs
    line = one_failure(proc, path)
    assert "no answer within 3 s" in line or "the deadline (10 s) passed" in line, line


def test_a_stalled_200_is_not_called_no_answer(tmp_path: Path) -> None:
    path = wheel(tmp_path, "stalled")
    with Hostile({"/legacy/": stalled_200, "/simple/": (404, b"", {})}) as server:
        proc = publish_to(server, path, tmp_path, "--retries", "0")
    line = one_failure(proc, path)
    assert "the index answered 200 OK, but the rest of the answer did not come within 3 s" in line, line
    assert "no answer" not in line


def test_a_deeply_nested_json_simple_page_is_one_line(tmp_path: Path) -> None:
    path = wheel(tmp_path, "nested_page")
    page = (200, NESTED, {"Content-Type": "application/vnd.pypi.simple.v1+json"})
    with Hostile({"/legacy/": (503, b"busy", {}), "/simple/": page}) as server:
        proc = publish_to(server, path, tmp_path, "--retries", "0")
    line = one_failure(proc, path)
    assert f"{server.origin}/simple/nested-page/ is not a simple API page" in line, line


def test_server_words_are_shown_without_control_sequences_or_binary(tmp_path: Path) -> None:
    path = wheel(tmp_path, "noisy")
    body = b"<p>\x1b]0;pwned\x07bad \x1b[2J\x1b[31mred\x00\x01\xff\xfe text</p>"
    with Hostile({"/legacy/": (400, body, {}), "/simple/": (404, b"", {})}) as server:
        proc = publish_to(server, path, tmp_path, "--retries", "0")
    line = one_failure(proc, path)
    shown = proc.stdout + proc.stderr
    assert "\x1b" not in shown and "\x00" not in shown and "\x07" not in shown and "\ufffd" not in shown
    assert "bad red ? text" in line, line


# -- verify --from-index ---------------------------------------------------------------------------------------

def verify_from(server: Hostile, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    dist = tmp_path / "pypi_attestations-0.0.19.tar.gz"
    dist.write_bytes(b"not the real one")
    cmd = [sys.executable, "-m", "toolkit", "verify", dist, "--from-index", server.origin, "--offline",
           "--publisher", "github:trailofbits/pypi-attestations", *extra]
    return subprocess.run(list(map(str, cmd)), env=publish_env(tmp_path), capture_output=True, text=True,
                          timeout=120, check=False)


def one_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("error: ") and all(x.startswith("hint: ") for x in lines[1:]), proc.stderr
    return lines[0]


def test_verify_from_index_ends_at_the_deadline_against_a_trickle(tmp_path: Path) -> None:
    with Hostile({"/integrity/": trickle}) as server:
        proc = verify_from(server, tmp_path, "--timeout", "3", "--deadline", "10")
    line = one_error(proc)
    assert "(no answer within 3 s)" in line or "the deadline (10 s) passed" in line, line


def test_verify_from_index_cuts_an_endless_provenance(tmp_path: Path) -> None:
    with Hostile({"/integrity/": endless}) as server:
        proc = verify_from(server, tmp_path)
    assert "its answer goes on past 16384 KiB" in proc.stdout + one_error(proc)


def test_verify_from_index_with_a_deeply_nested_provenance_is_one_line(tmp_path: Path) -> None:
    with Hostile({"/integrity/": (200, NESTED, {"Content-Type": "application/json"})}) as server:
        proc = verify_from(server, tmp_path)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "RecursionError" not in proc.stderr
    assert "is not a PEP 740 attestation (JSON nested too deeply)" in proc.stdout + proc.stderr


# -- trusted publishing: the CI's OIDC token endpoint and the index's token exchange ---------------------------

AUDIENCE = (200, b'{"audience": "toolkit-tests"}', {"Content-Type": "application/json"})


def publish_trusted(index: Hostile, github: Hostile, path: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {"GITHUB_ACTIONS": "true", "ACTIONS_ID_TOKEN_REQUEST_URL": f"{github.origin}/token?api-version=2.0",
           "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "gh-request-token-0123456789"}
    return run_publish("--repository-url", f"{index.origin}/legacy/", "--timeout", "3", "--deadline", "10", path,
                       home=tmp_path, env=env)


def test_a_trickling_oidc_token_endpoint_ends_at_the_deadline(tmp_path: Path) -> None:
    path = wheel(tmp_path, "trickled_oidc")
    with Hostile({"/_/oidc/audience": AUDIENCE}) as index, Hostile({"/token": trickle}) as github:
        proc = publish_trusted(index, github, path, tmp_path)
    line = one_failure(proc, path)
    assert line.startswith("failed: trusted publishing: no answer within 3 s"), line


def test_an_endless_token_exchange_answer_is_cut_at_its_cap(tmp_path: Path) -> None:
    path = wheel(tmp_path, "endless_mint")
    token = (200, b'{"value": "oidc-token-from-the-ci"}', {"Content-Type": "application/json"})
    with Hostile({"/_/oidc/audience": AUDIENCE, "/_/oidc/mint-token": endless}) as index, \
            Hostile({"/token": token}) as github:
        proc = publish_trusted(index, github, path, tmp_path)
    line = one_failure(proc, path)
    assert "trusted publishing: the index answered 200 OK, but its answer goes on past 1024 KiB" in line, line
    assert "oidc-token-from-the-ci" not in proc.stdout + proc.stderr


def test_a_deeply_nested_attestation_file_is_one_line(tmp_path: Path) -> None:
    path = wheel(tmp_path, "nested_attestation")
    path.with_name(path.name + ".publish.attestation").write_bytes(NESTED)
    proc = run_publish("--repository-url", "http://127.0.0.1:9/legacy/", "--attestations", "--dry-run", path,
                       home=tmp_path, env=creds())
    line = one_failure(proc, path)
    assert "is not a PEP 740 attestation (JSON nested too deeply)" in line, line


@pytest.mark.parametrize("answer", [
    b'{"errors": [{"description": "bad \\u001b[2Jtoken\\u0007"}]}', b'{"errors": 5}', b'[' * 5000])
def test_a_refusal_of_the_token_exchange_is_one_printable_line(answer: bytes, tmp_path: Path) -> None:
    path = wheel(tmp_path, "refused_mint")
    token = (200, b'{"value": "oidc-token-from-the-ci"}', {"Content-Type": "application/json"})
    with Hostile({"/_/oidc/audience": AUDIENCE, "/_/oidc/mint-token": (422, answer, {})}) as index, \
            Hostile({"/token": token}) as github:
        proc = publish_trusted(index, github, path, tmp_path)
    line = one_failure(proc, path)
    assert line.startswith("failed: trusted publishing: the index refused the OIDC token (422"), line
    assert "\x1b" not in proc.stdout + proc.stderr and "\x07" not in proc.stdout + proc.stderr

"""`toolkit attest`: the refusal outside CI, and signing up to Sigstore with local stand-ins.

Signing itself needs Sigstore's Fulcio and Rekor, which no test may reach: the tests stop at a local
stand-in for Fulcio (named by a Sigstore client trust config, `--trust-config`), after the CI's OIDC
token was fetched from a local stand-in for GitHub's token service, and check that no token leaks.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from distfactory import make_wheel

from toolkit.attest import record_attestations
from toolkit.attestation import attestation_path
from toolkit.dist import Dist, read_manifest_doc, record

# Every variable by which `id` recognises a CI with an OIDC identity: unset, so "outside CI" is outside CI
# even when this suite runs in GitHub Actions.
CI_VARIABLES = ("GITHUB_ACTIONS", "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "GITLAB_CI",
                "SIGSTORE_ID_TOKEN", "BUILDKITE", "CIRCLECI", "GOOGLE_SERVICE_ACCOUNT_NAME")
REQUEST_TOKEN = "request-token-0123456789-do-not-print"


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in CI_VARIABLES}
    return subprocess.run([sys.executable, "-m", "toolkit", "attest", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env={**base, **(env or {})}, timeout=120)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A project whose dist/ holds one wheel, listed in the build manifest."""
    dist = tmp_path / "dist"
    dist.mkdir()
    record(dist, [Dist.from_path(make_wheel(dist))])
    return tmp_path


def assert_refused(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode == 7, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), proc.stderr
    assert fragment in lines[0], lines[0]


def test_outside_ci_attest_refuses_in_one_line(project: Path) -> None:
    proc = run(cwd=project)
    assert_refused(proc, "no OIDC identity to sign with")
    assert "id-token: write" in proc.stderr  # what to do
    assert not list((project / "dist").glob("*.attestation"))


def test_outside_ci_named_files_are_refused_too(project: Path) -> None:
    [wheel] = (project / "dist").glob("*.whl")
    assert_refused(run(wheel, cwd=project), "no OIDC identity to sign with")


def test_github_without_the_id_token_permission_says_so(project: Path) -> None:
    proc = run(cwd=project, env={"GITHUB_ACTIONS": "true"})
    assert_refused(proc, "ACTIONS_ID_TOKEN_REQUEST_TOKEN environment variable was unset")


def test_gitlab_without_the_id_token_says_which_variable(project: Path) -> None:
    assert_refused(run(cwd=project, env={"GITLAB_CI": "true"}), "SIGSTORE_ID_TOKEN")


def test_only_wheels_and_sdists_are_attested(project: Path) -> None:
    (project / "notes.txt").write_text("x")
    proc = run(project / "notes.txt", cwd=project)
    assert proc.returncode == 2 and "no wheel or sdist to attest" in proc.stderr


# -- up to Sigstore: a local OIDC token service and a local Fulcio ------------------------------------------

def _jwt(issuer: str, subject: str) -> str:
    import jwt

    now = int(time.time())
    claims = {"iss": issuer, "aud": "sigstore", "sub": subject, "iat": now, "nbf": now, "exp": now + 300}
    return jwt.encode(claims, "stand-in-key-of-32-bytes-or-more!!", algorithm="HS256")


class _StandIn(http.server.BaseHTTPRequestHandler):
    """GET: GitHub's OIDC token service. POST: Fulcio, refusing the certificate and echoing the token back."""

    token = ""
    seen: list[dict[str, Any]] = []

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append({"method": "GET", "path": self.path, "auth": self.headers.get("Authorization")})
        self._answer(200, {"value": self.token})

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.seen.append({"method": "POST", "path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        self._answer(400, {"message": f"refused {self.headers.get('Authorization')}"})

    def _answer(self, status: int, doc: dict[str, str]) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def stand_in() -> Iterator[tuple[str, type[_StandIn]]]:
    handler = type("Handler", (_StandIn,), {"seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def _trust_config(folder: Path, fulcio: str) -> Path:
    """Sigstore's production trust root with a signing config whose services are all on 127.0.0.1."""
    from sigstore._utils import read_embedded

    url = "https://tuf-repo-cdn.sigstore.dev"
    signing = json.loads(read_embedded("signing_config.v0.2.json", url))
    signing["caUrls"][0]["url"] = fulcio
    for key in ("rekorTlogUrls", "tsaUrls", "oidcUrls"):
        for service in signing[key]:
            service["url"] = "http://127.0.0.1:9"  # discard: nothing past Fulcio may be reached
    doc = {"mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
           "trustedRoot": json.loads(read_embedded("trusted_root.json", url)), "signingConfig": signing}
    path = folder / "trust-config.json"
    path.write_text(json.dumps(doc))
    return path


def _assert_no_secret(proc: subprocess.CompletedProcess[str], *secrets: str, under: Path) -> None:
    for secret in secrets:
        assert secret not in proc.stdout and secret not in proc.stderr
        for f in under.rglob("*"):
            if f.is_file():
                assert secret.encode() not in f.read_bytes(), f


def test_github_token_is_fetched_sent_to_fulcio_and_never_shown(project: Path, stand_in: tuple[str, Any]) -> None:
    url, handler = stand_in
    handler.token = _jwt("https://token.actions.githubusercontent.com", "repo:octo/demo:ref:refs/heads/main")
    env = {"GITHUB_ACTIONS": "true", "ACTIONS_ID_TOKEN_REQUEST_URL": f"{url}/token?api-version=2.0",
           "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN}
    proc = run("-v", "--trust-config", _trust_config(project, url), cwd=project, env=env)
    assert_refused(proc, "Sigstore signing failed")
    assert f"{url}/api/v2/signingCert answered HTTP 400" in proc.stderr
    # The token service was asked for a Sigstore token with the job's request token ...
    get, post = handler.seen
    assert get["auth"] == f"bearer {REQUEST_TOKEN}"
    assert parse_qs(urlparse(get["path"]).query)["audience"] == ["sigstore"]
    # ... and the token it gave went to Fulcio with a certificate request, and nowhere else.
    assert post["path"] == "/api/v2/signingCert" and post["auth"] == f"Bearer {handler.token}"
    assert b"BEGIN CERTIFICATE REQUEST" in post["body"] or b"certificateSigningRequest" in post["body"]
    _assert_no_secret(proc, handler.token, REQUEST_TOKEN, under=project)
    assert not list((project / "dist").glob("*.attestation"))
    assert "attestations" not in read_manifest_doc(project / "dist")


def test_gitlab_token_goes_to_fulcio_and_is_never_shown(project: Path, stand_in: tuple[str, Any]) -> None:
    url, handler = stand_in
    token = _jwt("https://gitlab.com", "project_path:group/demo:ref_type:branch:ref:main")
    proc = run("--trust-config", _trust_config(project, url), cwd=project,
               env={"GITLAB_CI": "true", "SIGSTORE_ID_TOKEN": token})
    assert_refused(proc, "Sigstore signing failed")
    [post] = handler.seen
    assert post["auth"] == f"Bearer {token}"
    _assert_no_secret(proc, token, under=project)


def test_a_token_for_another_audience_is_refused_before_any_request(project: Path, stand_in: tuple[str, Any]) -> None:
    import jwt

    url, handler = stand_in
    token = jwt.encode({"iss": "https://gitlab.com", "aud": "pypi", "sub": "x"}, "k" * 32, algorithm="HS256")
    proc = run("--trust-config", _trust_config(project, url), cwd=project,
               env={"GITLAB_CI": "true", "SIGSTORE_ID_TOKEN": token})
    assert_refused(proc, "audience")
    assert handler.seen == []
    _assert_no_secret(proc, token, under=project)


# -- the manifest ----------------------------------------------------------------------------------------

def test_attestations_are_listed_in_the_manifest_of_their_folder(project: Path, tmp_path: Path) -> None:
    dist = project / "dist"
    [wheel] = dist.glob("*.whl")
    att = attestation_path(wheel)
    att.write_text("{}")
    (tmp_path / "elsewhere").mkdir()
    elsewhere = make_wheel(tmp_path / "elsewhere")
    attestation_path(elsewhere).write_text("{}")
    record_attestations([wheel, elsewhere], [att, attestation_path(elsewhere)])
    assert read_manifest_doc(dist)["attestations"] == {wheel.name: att.name}
    assert not (tmp_path / "elsewhere" / ".toolkit-manifest.json").exists()  # no manifest made where there was none
    # A second wheel joins the first; a dist that is gone leaves the map.
    other = make_wheel(dist, name="other")
    record(dist, [Dist.from_path(other)])
    attestation_path(other).write_text("{}")
    record_attestations([other], [attestation_path(other)])
    assert set(read_manifest_doc(dist)["attestations"]) == {wheel.name, other.name}
    wheel.unlink()
    record_attestations([other], [attestation_path(other)])
    assert read_manifest_doc(dist)["attestations"] == {other.name: attestation_path(other).name}

"""Trusted publishing as it happens in CI, with local stand-ins: GitHub's OIDC token endpoint
(ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN) or GitLab's ID token variable, and the index's /_/oidc/audience and
/_/oidc/mint-token endpoints (played by the proxy in front of a real pypiserver, which accepts only the
tokens it minted)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from distfactory import make_sdist, make_wheel
from faultproxy import FaultProxy, Minted, github_oidc
from indexes import Index, creds, publish_env, pypiserver, results, run_publish


def _jwt(claims: dict[str, str]) -> str:
    """A token shaped as the CI's OIDC tokens are (header.claims.signature); only the index checks more."""
    def part(doc: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJlLW9mLXRoZS1jaQ"


OIDC = _jwt({"aud": "toolkit-tests", "iss": "https://token.actions.githubusercontent.com", "sub": "repo:o/r:ref:main"})
REQUEST_TOKEN = "gh-request-token-0123456789"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    with pypiserver(tmp_path_factory.mktemp("pypiserver")) as idx:
        yield idx


def dists(tmp_path: Path, name: str) -> list[Path]:
    (tmp_path / "dist").mkdir()
    return [make_wheel(tmp_path / "dist", name, "1.0"), make_sdist(tmp_path / "dist", name, "1.0")]


def github_env(url: str) -> dict[str, str]:
    return {"GITHUB_ACTIONS": "true", "ACTIONS_ID_TOKEN_REQUEST_URL": f"{url}/token?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN}


def test_github_actions_identity_is_exchanged_masked_and_never_shown(tmp_path: Path, index: Index) -> None:
    paths = dists(tmp_path, "trusted_pkg")
    minted = Minted(oidc_tokens={OIDC})
    with github_oidc(OIDC, REQUEST_TOKEN) as gh, FaultProxy(index.url, minted=minted) as proxy:
        proc = run_publish("--repository-url", proxy.url, "-v", *paths, home=tmp_path, env=github_env(gh.origin))
        assert [r.path for r in gh.requests] == [f"/token?api-version=2.0&audience={minted.audience}"]
    assert proc.returncode == 0, proc.stderr
    assert results(proc.stdout) == {p.name: "uploaded" for p in paths}
    assert minted.exchanges == 1  # one token for both files: it had 15 minutes left
    (token,) = minted.tokens
    # The runner reads workflow commands on stderr too: the mask goes there, stdout is only the results.
    assert f"::add-mask::{token}" in proc.stderr.splitlines()
    assert "::add-mask::" not in proc.stdout
    shown = proc.stdout + proc.stderr.replace(f"::add-mask::{token}", "")
    for secret in (OIDC, REQUEST_TOKEN, token):
        assert secret not in shown
    assert "credentials: trusted publishing" in proc.stderr
    assert proc.stderr.count("trusted publishing: a new upload token, valid until") == 1


def test_a_token_near_its_end_is_renewed_before_the_next_upload(tmp_path: Path, index: Index) -> None:
    paths = dists(tmp_path, "renewed_pkg")
    minted = Minted(oidc_tokens={OIDC}, lifetime=60)  # less than the 5 minutes toolkit wants left
    with github_oidc(OIDC, REQUEST_TOKEN) as gh, FaultProxy(index.url, minted=minted) as proxy:
        proc = run_publish("--repository-url", proxy.url, *paths, home=tmp_path, env=github_env(gh.origin))
    assert proc.returncode == 0, proc.stderr
    assert minted.exchanges == 2
    assert proc.stderr.count("::add-mask::pypi-minted-") == 2


def test_gitlab_ci_identity_is_exchanged(tmp_path: Path, index: Index) -> None:
    paths = dists(tmp_path, "gitlab_pkg")
    minted = Minted(oidc_tokens={OIDC})
    with FaultProxy(index.url, minted=minted) as proxy:
        proc = run_publish("--repository-url", proxy.url, *paths, home=tmp_path,
                           env={"GITLAB_CI": "true", "TOOLKIT_TESTS_ID_TOKEN": OIDC})
    assert proc.returncode == 0, proc.stderr
    assert minted.exchanges == 1
    assert "::add-mask::" not in proc.stdout + proc.stderr  # a GitHub command; GitLab masks variables itself
    assert OIDC not in proc.stdout + proc.stderr


def test_explicit_credentials_win_over_trusted_publishing(tmp_path: Path, index: Index) -> None:
    paths = dists(tmp_path, "explicit_pkg")
    minted = Minted(oidc_tokens={OIDC})
    with github_oidc(OIDC, REQUEST_TOKEN) as gh, FaultProxy(index.url, minted=minted) as proxy:
        proc = run_publish("--repository-url", proxy.url, "-v", *paths, home=tmp_path,
                           env={**github_env(gh.origin), **creds()})
        assert gh.requests == []
    assert minted.exchanges == 0
    assert "password from TOOLKIT_PASSWORD" in proc.stderr  # (the stand-in index takes minted tokens only)


def test_a_refused_identity_is_one_line_per_file_and_no_traceback(tmp_path: Path, index: Index) -> None:
    paths = dists(tmp_path, "refused_id_pkg")
    minted = Minted(oidc_tokens={"some-other-token"})
    with github_oidc(OIDC, REQUEST_TOKEN) as gh, FaultProxy(index.url, minted=minted) as proxy:
        proc = run_publish("--repository-url", proxy.url, *paths, home=tmp_path, env=github_env(gh.origin))
    assert proc.returncode == 5
    lines = results(proc.stdout)
    assert lines[paths[0].name] == "failed: trusted publishing: the index refused the OIDC token (422: bad)"
    assert lines[paths[1].name].startswith("failed: not tried: trusted publishing")
    assert "hint: check the trusted publisher configured for this project on the index" in proc.stderr
    assert OIDC not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr


def test_no_permission_for_an_oidc_token_says_what_the_job_needs(tmp_path: Path, index: Index) -> None:
    paths = dists(tmp_path, "noperm_pkg")[:1]
    minted = Minted(oidc_tokens={OIDC})
    with FaultProxy(index.url, minted=minted) as proxy:
        proc = run_publish("--repository-url", proxy.url, "--trusted-publishing", "always", *paths, home=tmp_path,
                           env={"GITHUB_ACTIONS": "true"})
    assert proc.returncode == 5
    assert "failed: trusted publishing: the CI gives no OIDC token" in proc.stdout
    assert "id-token: write" in proc.stderr


def test_dry_run_says_trusted_publishing_would_be_used_without_exchanging(tmp_path: Path, index: Index) -> None:
    paths = dists(tmp_path, "dry_trusted_pkg")
    minted = Minted(oidc_tokens={OIDC})
    with github_oidc(OIDC, REQUEST_TOKEN) as gh, FaultProxy(index.url, minted=minted) as proxy:
        proc = run_publish("--repository-url", proxy.url, "--dry-run", "-v", *paths, home=tmp_path,
                           env=github_env(gh.origin))
        # Nothing exchanged, nothing sent: only the index's public pages were read (what it holds, what it will say).
        assert gh.requests == [] and all(r.method == "GET" and not r.path.startswith("/_/") for r in proxy.requests)
        assert all("authorization" not in r.headers for r in proxy.requests)
    assert proc.returncode == 0, proc.stderr
    assert all(r.startswith("would upload") for r in results(proc.stdout).values()), proc.stdout
    assert "trusted publishing (not exchanged: dry run)" in proc.stderr


def test_json_output_stays_json_and_no_file_holds_the_token(tmp_path: Path, index: Index) -> None:
    """stdout redirected to a file (`> out.json`) and stderr to another: the document alone in the first, the
    token in neither (the mask is for the runner's pipe, the only log that needs it)."""
    paths = dists(tmp_path, "json_trusted_pkg")
    minted = Minted(oidc_tokens={OIDC})
    out, err = tmp_path / "out.json", tmp_path / "err.txt"
    with github_oidc(OIDC, REQUEST_TOKEN) as gh, FaultProxy(index.url, minted=minted) as proxy:
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            proc = subprocess.run([sys.executable, "-m", "toolkit", "publish", "--format", "json", "--repository-url",
                                   proxy.url, *map(str, paths)], env=publish_env(tmp_path, github_env(gh.origin)),
                                  cwd=tmp_path, stdout=stdout, stderr=stderr, timeout=300, check=False)
    assert proc.returncode == 0, err.read_text()
    doc = json.loads(out.read_text())
    assert doc
    (token,) = minted.tokens
    for secret in (OIDC, REQUEST_TOKEN, token):
        assert secret not in out.read_text() + err.read_text()

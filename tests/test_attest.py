"""`toolkit verify` on real PEP 740 attestations, offline.

The pypi-attestations sdist on PyPI ships real attestations with the dists they were made for
(test/assets/: GitHub, GitLab, Google Cloud and CircleCI publishers, and two signed with Sigstore's
staging instance); it is pinned by sha256, downloaded once per machine (tests/pypi_corpus.py) and its
assets are verified through the real CLI with the trust root shipped inside sigstore.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkit.attest.verify import parse_publisher, provenance_url
from toolkit.attestation import Mismatch, check_subject, load_attestations
from toolkit.cli import main
from toolkit.errors import ConfigError

GITHUB = "github:trailofbits/pypi-attestations@release.yml"
GH_DIST = "pypi_attestations-0.0.19.tar.gz"
GITLAB = "gitlab:facutuesca/gitlab-oidc-project@.gitlab-ci.yml"
GL_DIST = "gitlab_oidc_project-0.0.3.tar.gz"
GOOGLE = "google:919436158236-compute@developer.gserviceaccount.com"
CIRCLECI = "circleci:fdd9283f-e619-46af-8f9c-851f7d3e8b2b/8e4f8ab2-8d7c-4827-9f15-de076d6d647f"
CIRCLECI_DIST = "circleci_sign_publish_example-0.0.1.dev137-py3-none-any.whl"


@pytest.fixture()
def work(assets: Path, tmp_path: Path) -> Path:
    """A private copy of the assets, for tests that rename, alter or tamper."""
    return Path(shutil.copytree(assets, tmp_path / "assets"))


def verify(*args: str | Path, cwd: Path | None = None, offline: bool = True) -> subprocess.CompletedProcess[str]:
    """`toolkit verify ARGS --offline` through the CLI's entry point, in this process (sigstore's imports cost
    about a second a process); an exception that escapes main() fails the test as a traceback would."""
    argv = ["verify", *map(str, args), *(["--offline"] if offline else [])]
    out, err = io.StringIO(), io.StringIO()
    before = Path.cwd()
    try:
        os.chdir(cwd or before)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        os.chdir(before)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def run_toolkit(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed command in a process of its own, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "toolkit", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def assert_fails(proc: subprocess.CompletedProcess[str], *fragments: str, code: int = 1) -> str:
    """One `error:` line naming what did not match (and a hint), the exit code, no traceback."""
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("error: ") and all(f in lines[0] for f in fragments), proc.stderr
    assert len(lines) <= 2 and all(line.startswith("hint: ") for line in lines[1:]), proc.stderr
    return lines[0]


# -- every real asset verifies offline with its publisher --------------------------------------------------

CASES = [
    # dist, attestation (None: FILE.publish.attestation), publisher, what signed it
    (GH_DIST, None, GITHUB, "GitHub Actions, pypi-attestations' own release"),
    (GH_DIST, None, "github:trailofbits/pypi-attestations", "GitHub, any workflow of the repository"),
    (GH_DIST, f"{GH_DIST}.provenance", GITHUB, "the provenance PyPI serves"),
    (GH_DIST, f"{GH_DIST}.slsa.attestation", GITHUB, "a SLSA provenance predicate"),
    ("pypi_attestation_models-0.0.4a2.tar.gz", "pypi_attestation_models-0.0.4a2.tar.gz.attestation",
     "github:trailofbits/pypi-attestation-models@release.yml", "actions/attest"),
    ("pypi_attestation_models-0.0.4a2.tar.gz", "pypi_attestation_models-0.0.4a2.tar.gz.sigstore",
     "github:trailofbits/pypi-attestation-models@.github/workflows/release.yml", "a Sigstore bundle"),
    (GL_DIST, None, GITLAB, "GitLab CI"),
    (GL_DIST, None, "gitlab:facutuesca/gitlab-oidc-project", "GitLab, any CI file"),
    ("gcb_attestation_test-0.0.0.tar.gz", "gcb_attestation_test-0.0.0.tar.gz.provenance", GOOGLE, "Google Cloud Build"),
    (CIRCLECI_DIST, None, CIRCLECI, "CircleCI"),
    (CIRCLECI_DIST, f"{CIRCLECI_DIST}.provenance", CIRCLECI, "CircleCI, provenance"),
]


@pytest.mark.parametrize(("dist", "attestation", "publisher", "what"), CASES, ids=[c[3] for c in CASES])
def test_a_real_attestation_verifies_offline_with_its_publisher(assets: Path, dist: str, attestation: str | None,
                                                                publisher: str, what: str) -> None:
    extra = ["--attestation", attestation] if attestation else []
    proc = verify(dist, *extra, "--publisher", publisher, cwd=assets)
    assert proc.returncode == 0, proc.stderr
    signer = parse_publisher(publisher)
    assert proc.stdout.startswith(f"{dist}: verified, signed by {signer.kind}:{signer.identity}"), proc.stdout
    assert proc.stderr == ""


def test_offline_verification_needs_no_network(assets: Path) -> None:
    """In a network namespace with no interface but lo, --offline still verifies (and without it, says why not)."""
    # As root, `unshare -n`; as a user where user namespaces are allowed (GitHub's runners), `unshare -rn`.
    unshare = next((u for u in (["unshare", "-n"], ["unshare", "-rn"]) if shutil.which("unshare")
                    and subprocess.run([*u, "true"], capture_output=True).returncode == 0), None)
    if unshare is None:
        pytest.skip("cannot make a network namespace here (unshare -n / -rn)")
    base = [*unshare, sys.executable, "-m", "toolkit", "verify", GH_DIST, "--publisher", GITHUB]
    env = {**os.environ, "HOME": str(assets.parent / "home"), "XDG_CACHE_HOME": str(assets.parent / "home" / "cache"),
           "XDG_DATA_HOME": str(assets.parent / "home" / "data")}  # no TUF cache: only what sigstore ships
    proc = subprocess.run([*base, "--offline"], capture_output=True, text=True, cwd=assets, env=env)
    assert proc.returncode == 0, proc.stderr
    assert not (assets.parent / "home").exists()  # nothing written to a sigstore cache either
    online = subprocess.run(base, capture_output=True, text=True, cwd=assets, env=env)
    assert_fails(online, "cannot update Sigstore's trust root", code=7)


def test_json_output_names_the_predicate_types(assets: Path) -> None:
    proc = verify(GH_DIST, "--attestation", f"{GH_DIST}.provenance", "--publisher", GITHUB, "--format", "json", cwd=assets)
    assert proc.returncode == 0, proc.stderr
    [result] = json.loads(proc.stdout)
    assert result["ok"] and result["signer"] == GITHUB
    assert "https://docs.pypi.org/attestations/publish/v1" in result["predicate_types"]


# -- the wrong publisher ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("dist", "publisher", "signed_by"), [
    (GH_DIST, "github:trailofbits/other-repo@release.yml", GITHUB),
    (GH_DIST, "github:someone-else/pypi-attestations@release.yml", GITHUB),
    (GH_DIST, "github:trailofbits/pypi-attestations@other.yml", GITHUB),
    (GH_DIST, "github:trailofbits/other-repo", GITHUB),
    (GH_DIST, "gitlab:trailofbits/pypi-attestations", GITHUB),
    (GL_DIST, "gitlab:facutuesca/gitlab-oidc-project@release.yml", GITLAB),
    (GL_DIST, "gitlab:facutuesca/other-project@.gitlab-ci.yml", GITLAB),
    (CIRCLECI_DIST, "circleci:fdd9283f-e619-46af-8f9c-851f7d3e8b2b/00000000-0000-0000-0000-000000000000", CIRCLECI),
], ids=["repo", "owner", "workflow", "repo-any-workflow", "gitlab-for-github", "gitlab-ci-file", "gitlab-project",
        "circleci-pipeline"])
def test_the_wrong_publisher_fails_naming_who_signed(assets: Path, dist: str, publisher: str, signed_by: str) -> None:
    assert_fails(verify(dist, "--publisher", publisher, cwd=assets), f"signed by {signed_by}, not {publisher}")


def test_the_wrong_google_account_fails(assets: Path) -> None:
    dist = "gcb_attestation_test-0.0.0.tar.gz"
    proc = verify(dist, "--attestation", f"{dist}.provenance", "--publisher", "google:someone@example.com", cwd=assets)
    assert_fails(proc, f"signed by {GOOGLE}, not google:someone@example.com")


def test_a_staging_attestation_needs_staging(assets: Path) -> None:
    """rfc8785's attestation was signed with Sigstore's staging instance by a person (no trusted publisher)."""
    dist = "rfc8785-0.1.2-py3-none-any.whl"
    assert_fails(verify(dist, "--publisher", "github:trailofbits/rfc8785.py", cwd=assets),
                 "does not verify against Sigstore's production trust root")
    # With the staging root the signature holds: what fails now is who signed it.
    assert_fails(verify(dist, "--publisher", "github:trailofbits/rfc8785.py", "--staging", cwd=assets),
                 "signed by william@yossarian.net (issuer https://github.com/login/oauth), not github:trailofbits/rfc8785.py")


# -- the wrong file -----------------------------------------------------------------------------------------

def test_an_attestation_for_another_file_fails(assets: Path) -> None:
    proc = verify(GL_DIST, "--attestation", f"{GH_DIST}.publish.attestation", "--publisher", GITHUB, cwd=assets)
    assert_fails(proc, f"the attestation is for {GH_DIST}, not {GL_DIST}")


def test_the_same_bytes_under_another_name_fail(work: Path) -> None:
    renamed = work / "pypi_attestations-0.0.20.tar.gz"
    (work / GH_DIST).rename(renamed)
    proc = verify(renamed, "--attestation", work / f"{GH_DIST}.publish.attestation", "--publisher", GITHUB)
    assert_fails(proc, f"the attestation is for {GH_DIST}, not {renamed.name}")


def test_other_bytes_under_the_same_name_fail(work: Path) -> None:
    with open(work / GH_DIST, "ab") as f:
        f.write(b"\0")
    assert_fails(verify(work / GH_DIST, "--publisher", GITHUB), "sha256 does not match", "the attestation is for 9bb1add04b1b4e18")


def test_every_file_is_reported_and_one_failure_fails_the_run(work: Path) -> None:
    with open(work / GL_DIST, "ab") as f:
        f.write(b"\0")
    proc = verify(work / GH_DIST, work / GL_DIST, "--publisher", "github:trailofbits/pypi-attestations")
    assert proc.returncode == 1
    assert f"{GH_DIST}: verified" in proc.stdout
    assert f"{GL_DIST}: " in proc.stderr and "Traceback" not in proc.stderr


# -- tampered attestations ----------------------------------------------------------------------------------

def _tamper(path: Path, change: str, donor: Path | None = None) -> None:
    doc = json.loads(path.read_text())
    if change == "statement":
        # Point the statement at other bytes (the ones the test then verifies): the signature must catch it.
        statement = json.loads(base64.b64decode(doc["envelope"]["statement"]))
        statement["subject"][0]["digest"]["sha256"] = "0" * 64
        doc["envelope"]["statement"] = base64.b64encode(json.dumps(statement).encode()).decode()
    elif change == "signature":
        sig = bytearray(base64.b64decode(doc["envelope"]["signature"]))
        sig[-1] ^= 1
        doc["envelope"]["signature"] = base64.b64encode(bytes(sig)).decode()
    elif change == "certificate":
        assert donor is not None
        doc["verification_material"]["certificate"] = json.loads(donor.read_text())["verification_material"]["certificate"]
    elif change == "certificate bytes":
        doc["verification_material"]["certificate"] = base64.b64encode(b"not a certificate").decode()
    elif change == "log entry":
        doc["verification_material"]["transparency_entries"][0]["logIndex"] = "1"
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("change", ["statement", "signature", "certificate", "certificate bytes", "log entry"])
def test_a_tampered_attestation_fails(work: Path, change: str) -> None:
    att = work / f"{GH_DIST}.publish.attestation"
    _tamper(att, change, donor=work / f"{GL_DIST}.publish.attestation")
    reason = {"statement": "DSSE: invalid signature", "signature": "DSSE: invalid signature",
              "certificate": "not valid at validation time", "certificate bytes": "invalid X.509 certificate",
              "log entry": "invalid log entry"}[change]
    assert_fails(verify(work / GH_DIST, "--publisher", GITHUB),
                 "the signature does not verify against Sigstore's production trust root", reason)


def test_an_attestation_rewritten_for_other_bytes_still_fails(work: Path) -> None:
    """Change the file and rewrite the statement's sha256 to match it: only the signature can tell, and does."""
    import hashlib

    with open(work / GH_DIST, "ab") as f:
        f.write(b"\0")
    att = work / f"{GH_DIST}.publish.attestation"
    doc = json.loads(att.read_text())
    statement = json.loads(base64.b64decode(doc["envelope"]["statement"]))
    statement["subject"][0]["digest"]["sha256"] = hashlib.sha256((work / GH_DIST).read_bytes()).hexdigest()
    doc["envelope"]["statement"] = base64.b64encode(json.dumps(statement).encode()).decode()
    att.write_text(json.dumps(doc))
    assert_fails(verify(work / GH_DIST, "--publisher", GITHUB), "the signature does not verify")


@pytest.mark.parametrize(("content", "fragment"), [
    ("not json", "is not a PEP 740 attestation"),
    ('{"version": 1}', "is not a PEP 740 attestation"),
    ('{"version": 1, "attestation_bundles": []}', "holds no attestation"),
])
def test_something_that_is_not_an_attestation_fails(work: Path, content: str, fragment: str) -> None:
    (work / f"{GH_DIST}.publish.attestation").write_text(content)
    assert_fails(verify(work / GH_DIST, "--publisher", GITHUB), fragment)


def test_a_missing_attestation_fails(work: Path) -> None:
    (work / f"{GH_DIST}.publish.attestation").unlink()
    assert_fails(verify(work / GH_DIST, "--publisher", GITHUB), "no attestation at")


@pytest.mark.parametrize(("args", "fragment"), [
    (["--publisher", "github:just-a-name"], "not a publisher"),
    (["--publisher", "bitbucket:a/b"], "not a publisher"),
    ([], "no publisher to verify against"),
    (["--publisher", GITHUB, "--attestation", "a", "--attestation", "b"], "2 --attestation for 1 files"),
])
def test_bad_arguments_are_one_config_error(assets: Path, args: list[str], fragment: str) -> None:
    assert_fails(verify(GH_DIST, *args, cwd=assets), fragment, code=2)


def test_the_publisher_can_come_from_pyproject(work: Path) -> None:
    (work / "pyproject.toml").write_text(f'[tool.toolkit.verify]\npublisher = "{GITHUB}"\noffline = true\n')
    proc = run_toolkit("verify", GH_DIST, cwd=work)  # a process of its own: the real command, start to end
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{GH_DIST}: verified, signed by {GITHUB}\n"


# -- what an index serves (PyPI's Integrity API), from a local stand-in -------------------------------------

class _Provenance(http.server.BaseHTTPRequestHandler):
    documents: dict[str, bytes] = {}
    seen: list[tuple[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append((self.path, self.headers.get("Accept", "")))
        body = self.documents.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/vnd.pypi.integrity.v1+json")
        self.end_headers()
        self.wfile.write(body or b'{"message": "No provenance available"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def index(assets: Path) -> Iterator[str]:
    """An index on 127.0.0.1 serving the real provenance of pypi_attestations-0.0.19.tar.gz, nothing else."""
    handler = type("Handler", (_Provenance,), {"seen": [], "documents": {
        f"/integrity/pypi-attestations/0.0.19/{GH_DIST}/provenance": (assets / f"{GH_DIST}.provenance").read_bytes()}})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
        assert all(accept == "application/vnd.pypi.integrity.v1+json" for _, accept in handler.seen)
        assert handler.seen, "the index was never asked"
    finally:
        server.shutdown()
        server.server_close()


def test_the_provenance_an_index_serves_verifies(assets: Path, index: str) -> None:
    proc = verify(GH_DIST, "--from-index", index, "--publisher", GITHUB, cwd=assets)
    assert proc.returncode == 0, proc.stderr
    assert f"{GH_DIST}: verified, signed by {GITHUB}" in proc.stdout


def test_the_index_provenance_is_checked_against_the_publisher_and_the_file(work: Path, index: str) -> None:
    assert_fails(verify(work / GH_DIST, "--from-index", index, "--publisher", "github:trailofbits/other"),
                 f"signed by {GITHUB}, not github:trailofbits/other")
    with open(work / GH_DIST, "ab") as f:
        f.write(b"\0")
    assert_fails(verify(work / GH_DIST, "--from-index", index, "--publisher", GITHUB), "sha256 does not match")


def test_a_file_the_index_has_no_provenance_for_fails(assets: Path, index: str) -> None:
    assert_fails(verify(GL_DIST, "--from-index", index + "/simple/", "--publisher", GITLAB, cwd=assets),
                 f"the index serves no provenance for {GL_DIST}")


def test_an_unreachable_index_is_one_line(assets: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert_fails(verify(GH_DIST, "--from-index", f"http://127.0.0.1:{port}", "--publisher", GITHUB, cwd=assets),
                 "cannot fetch the provenance", code=7)


# -- the pure parts -----------------------------------------------------------------------------------------

def test_publisher_forms() -> None:
    assert str(parse_publisher("github:o/r@.github/workflows/release.yml")) == "github:o/r@release.yml"
    assert parse_publisher("gitlab:group/sub/project@ci/release.yml").workflow == "ci/release.yml"
    assert parse_publisher("GitHub:o/r").workflow is None
    for bad in ("github:o", "github:o/r/x", "gitlab:p", "google:nobody", "circleci:x", "pypi:o/r", ""):
        with pytest.raises(ConfigError):
            parse_publisher(bad)


def test_provenance_url_follows_the_integrity_api() -> None:
    assert provenance_url("pypi", "Foo_Bar-1.0.tar.gz") == "https://pypi.org/integrity/foo-bar/1.0/Foo_Bar-1.0.tar.gz/provenance"
    assert provenance_url("https://test.pypi.org/simple/", "a-2-py3-none-any.whl").startswith("https://test.pypi.org/integrity/a/2/")


def test_check_subject_binds_name_and_digest(assets: Path) -> None:
    [att] = load_attestations((assets / f"{GH_DIST}.publish.attestation").read_bytes(), "test")
    digest = "9bb1add04b1b4e182be6b0b80931593f7a291eb49d69b4fd728a5d4cbcdc4bd3"
    check_subject(att, GH_DIST, digest)
    check_subject(att, "PyPI_Attestations-0.0.19.tar.gz", digest)  # the same file name, as packaging parses it
    with pytest.raises(Mismatch, match="not pypi_attestations-0.0.20.tar.gz"):
        check_subject(att, "pypi_attestations-0.0.20.tar.gz", digest)
    with pytest.raises(Mismatch, match="sha256 does not match"):
        check_subject(att, GH_DIST, "0" * 64)


@pytest.mark.parametrize("statement", [b"[]", b'{"subject": {}}', b'{"subject": [{"name": "x", "digest": []}]}', b"\xff"])
def test_check_subject_refuses_odd_statements_in_one_line(assets: Path, statement: bytes) -> None:
    [att] = load_attestations((assets / f"{GH_DIST}.publish.attestation").read_bytes(), "test")
    odd = att.model_copy(update={"envelope": att.envelope.model_copy(update={"statement": statement})})
    with pytest.raises(Mismatch):
        check_subject(odd, GH_DIST, "0" * 64)


def test_attestation_for_binds_the_file_beside_it(work: Path) -> None:
    import hashlib

    from toolkit.attestation import attestation_for

    digest = hashlib.sha256((work / GH_DIST).read_bytes()).hexdigest()
    assert attestation_for(work / GH_DIST, digest).statement["subject"][0]["name"] == GH_DIST
    renamed = work / "pypi_attestations-0.0.20.tar.gz"
    (work / GH_DIST).rename(renamed)
    (work / f"{GH_DIST}.publish.attestation").rename(work / f"{renamed.name}.publish.attestation")
    with pytest.raises(Mismatch, match=f"the attestation is for {GH_DIST}"):
        attestation_for(renamed, digest)
    with pytest.raises(Mismatch, match="no attestation at"):
        attestation_for(work / GL_DIST.replace("0.0.3", "9"), digest)
    (work / f"{CIRCLECI_DIST}.provenance").rename(work / f"{CIRCLECI_DIST}.publish.attestation")
    with pytest.raises(Mismatch, match="sha256 does not match"):  # a provenance of one attestation reads too
        attestation_for(work / CIRCLECI_DIST, digest)

"""publish's decisions as plain data: what an index's answer means, how long to wait, what the simple API
says about a file, which index and credentials the options name, and what a .pypirc may show of itself."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from toolkit.config import PublishOptions
from toolkit.errors import ConfigError
from toolkit.publish import answers, index, order
from toolkit.publish.target import read_pypirc, resolve
from toolkit.uploadform import upload_form

# -- answers ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "reason", "body"), [
    (400, "File already exists ('demo-1.0.tar.gz', with blake2_256 hash 'abc').", ""),  # PyPI, TestPyPI
    (409, "Conflict", "File demo-1.0.tar.gz already exists"),  # pypiserver
    (409, "Conflict", ""),  # devpi
    (200, "Upload of identical file to non volatile index.", ""),  # devpi, the same bytes again
    (403, "Forbidden", '{"errors":[{"status":403,"message":"Not enough permissions to overwrite artifact"}]}'),  # Artifactory
    (400, "Repository does not allow updating assets: pypi-hosted", ""),  # Nexus
    (400, "Bad Request", '{"message":"Validation failed: File name has already been taken"}'),  # GitLab
])
def test_every_index_way_of_saying_already_exists_is_recognised(status: int, reason: str, body: str) -> None:
    assert answers.says_exists(status, reason, body)
    assert answers.verdict(status, reason, body) == "exists"


@pytest.mark.parametrize(("status", "reason", "verdict"), [
    (200, "OK", "uploaded"), (201, "Created", "uploaded"),
    (408, "Request Timeout", "retry"), (429, "Too Many Requests", "retry"), (500, "Internal Server Error", "retry"),
    (502, "Bad Gateway", "retry"), (503, "Service Unavailable", "retry"), (504, "Gateway Timeout", "retry"),
    (301, "Moved Permanently", "redirect"), (308, "Permanent Redirect", "redirect"),
    (401, "Unauthorized", "auth"), (403, "Invalid or non-existent authentication information.", "auth"),
    (407, "Proxy Authentication Required", "proxy"),
    (400, "'2.0' is not a valid metadata version.", "refused"), (413, "Payload Too Large", "refused"),
])
def test_what_an_answer_means(status: int, reason: str, verdict: str) -> None:
    assert answers.verdict(status, reason, "") == verdict


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert answers.retry_after("7") == 7.0
    assert answers.retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=lambda: 1445412480.0 - 3.0) == 3.0
    assert answers.retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=lambda: 2e9) == 0.0  # in the past
    assert answers.retry_after(None) is None
    assert answers.retry_after("soon") is None


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    low = [answers.backoff(n, rand=lambda: 0.0) for n in range(1, 5)]
    high = [answers.backoff(n, rand=lambda: 1.0) for n in range(1, 5)]
    assert low == [0.25, 0.5, 1.0, 2.0]
    assert high == [0.5, 1.0, 2.0, 4.0]
    assert answers.backoff(30, rand=lambda: 1.0) == answers.BACKOFF_CAP


def test_what_the_listing_says_about_a_file() -> None:
    listed = {"demo-1.0.tar.gz": "AB" * 32, "demo-1.0-py3-none-any.whl": None}
    assert answers.compare(listed, "demo-1.0.tar.gz", "ab" * 32) == ("identical", "AB" * 32)
    assert answers.compare(listed, "demo-1.0.tar.gz", "cd" * 32) == ("different", "AB" * 32)
    assert answers.compare(listed, "Demo-1.0.tar.gz", "ab" * 32)[0] == "identical"  # listed lower-cased
    assert answers.compare(listed, "demo-1.0-py3-none-any.whl", "ab" * 32) == ("unknown", None)
    assert answers.compare(listed, "demo-2.0.tar.gz", "ab" * 32) == ("absent", None)


# -- the simple API --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("upload", "first"), [
    ("https://upload.pypi.org/legacy/", "https://pypi.org/simple/"),
    ("https://test.pypi.org/legacy/", "https://test.pypi.org/simple/"),
    ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/simple/"),  # pypiserver
    ("https://nexus.example/repository/pypi-hosted/", "https://nexus.example/repository/pypi-hosted/simple/"),
    ("https://gitlab.example/api/v4/projects/7/packages/pypi", "https://gitlab.example/api/v4/projects/7/packages/pypi/simple/"),
])
def test_where_the_simple_api_is_looked_for(upload: str, first: str) -> None:
    assert index.simple_urls(upload)[0] == first


def test_devpi_simple_api_is_a_candidate_and_index_url_overrides() -> None:
    assert "http://h/root/dev/+simple/" in index.simple_urls("http://h/root/dev/")
    assert index.simple_urls("http://h/root/dev/", "http://h/root/dev/+simple") == ["http://h/root/dev/+simple/"]


def test_listing_from_pep_691_json_and_pep_503_html() -> None:
    doc = {"meta": {"api-version": "1.1"}, "name": "demo",
           "files": [{"filename": "demo-1.0.tar.gz", "url": "x", "hashes": {"sha256": "aa"}},
                     {"filename": "demo-1.0-py3-none-any.whl", "url": "y", "hashes": {}}]}
    assert index.parse_listing(json.dumps(doc).encode(), index.JSON_TYPE) == {
        "demo-1.0.tar.gz": "aa", "demo-1.0-py3-none-any.whl": None}
    html = (b'<html><body><a href="../../packages/demo-1.0.tar.gz#sha256=bb">demo-1.0.tar.gz</a><br>'
            b'<a href="/p/MarkupSafe-2.1.5.tar.gz#md5=cc"></a></body></html>')
    assert index.parse_listing(html, "text/html") == {"demo-1.0.tar.gz": "bb", "MarkupSafe-2.1.5.tar.gz": None}


# -- order and form --------------------------------------------------------------------------------------

def test_wheels_go_first_and_the_sdist_last() -> None:
    paths = [Path("a-1.0.tar.gz"), Path("a-1.0-py3-none-any.whl"), Path("a-1.0-cp312-cp312-win_amd64.whl")]
    assert [p.name for p in order(paths)] == ["a-1.0-py3-none-any.whl", "a-1.0-cp312-cp312-win_amd64.whl", "a-1.0.tar.gz"]


def test_the_upload_form_carries_the_metadata_the_digest_and_the_attestations() -> None:
    form = upload_form([("name", "demo"), ("version", "1.0")], "demo-1.0-cp312-abi3-linux_x86_64.whl", "ff" * 32,
                       attestations="[]")
    assert form[:2] == [(":action", "file_upload"), ("protocol_version", "1")]
    assert ("filetype", "bdist_wheel") in form and ("pyversion", "cp312") in form
    assert ("sha256_digest", "ff" * 32) in form and form[-1] == ("attestations", "[]")


# -- where to and as whom --------------------------------------------------------------------------------

def test_a_malformed_pypirc_is_reported_by_file_and_line_never_by_content(tmp_path: Path) -> None:
    pypirc = tmp_path / ".pypirc"
    pypirc.write_text("[distutils]\nindex-servers = internal\n\n[internal]\nrepository: https://x/\n"
                      "this line leaks hunter2-password\n")
    with pytest.raises(ConfigError) as exc:
        read_pypirc(pypirc)
    assert str(exc.value) == f"{pypirc}, line 6: neither a [section] header nor a `key = value` line"
    assert "hunter2" not in str(exc.value) and "hunter2" not in (exc.value.hint or "")
    pypirc.write_text("password = hunter2\n")
    with pytest.raises(ConfigError, match=r"line 1: a setting before any \[section\] header") as exc:
        read_pypirc(pypirc)
    assert "hunter2" not in str(exc.value)


def test_pypirc_repositories_with_server_login_defaults(tmp_path: Path) -> None:
    pypirc = tmp_path / ".pypirc"
    pypirc.write_text("[distutils]\nindex-servers =\n  internal\n  pypi\n\n[server-login]\nusername = old\n\n"
                      "[internal]\nrepository = https://internal.example/\npassword = pw\n\n[pypi]\nusername = __token__\n")
    assert read_pypirc(pypirc) == {"internal": {"username": "old", "repository": "https://internal.example/",
                                                "password": "pw"}, "pypi": {"username": "__token__"}}
    assert read_pypirc(tmp_path / "missing") == {}


def _resolve(tmp_path: Path, environ: dict[str, str] | None = None, **options: object):  # type: ignore[no-untyped-def]
    opts = PublishOptions(config_file=tmp_path / ".pypirc", keyring=False, trusted_publishing="never", **options)  # type: ignore[arg-type]
    if not (tmp_path / ".pypirc").exists():
        (tmp_path / ".pypirc").write_text("")
    return resolve(opts, environ or {})


def test_presets_names_and_urls(tmp_path: Path) -> None:
    assert _resolve(tmp_path).upload_url == "https://upload.pypi.org/legacy/"
    assert _resolve(tmp_path, repository="testpypi").upload_url == "https://test.pypi.org/legacy/"
    target = _resolve(tmp_path, repository="corp", repositories={"corp": "https://corp.example/pypi/"})
    assert target.upload_url == "https://corp.example/pypi/"
    with pytest.raises(ConfigError, match="no repository named 'nope'"):
        _resolve(tmp_path, repository="nope")


def test_explicit_credentials_win_and_the_source_is_named_not_the_secret(tmp_path: Path) -> None:
    (tmp_path / ".pypirc").write_text("[pypi]\nusername = fromfile\npassword = file-secret\n")
    env = {"TOOLKIT_PASSWORD": "env-secret", "TWINE_PASSWORD": "twine-secret", "TWINE_USERNAME": "twineuser"}
    target = _resolve(tmp_path, env, password="flag-secret")
    assert (target.creds.username, target.creds.password) == ("twineuser", "flag-secret")
    assert "secret" not in target.creds.describe() and "--password" in target.creds.describe()
    assert _resolve(tmp_path, env).creds.password_from == "TOOLKIT_PASSWORD"
    assert _resolve(tmp_path, {"TWINE_PASSWORD": "t"}).creds.password_from == "TWINE_PASSWORD"
    from_file = _resolve(tmp_path)
    assert (from_file.creds.username, from_file.creds.password) == ("fromfile", "file-secret")
    token = _resolve(tmp_path, env, token="pypi-tok")
    assert (token.creds.username, token.creds.password) == ("__token__", "pypi-tok")


def test_userinfo_in_the_url_is_taken_out_of_it(tmp_path: Path) -> None:
    target = _resolve(tmp_path, repository_url="https://bob:p%40ss@idx.example/legacy/")
    assert target.upload_url == "https://idx.example/legacy/"
    assert (target.creds.username, target.creds.password, target.creds.password_from) == ("bob", "p@ss", "the URL")
    assert target.redact("failed for p@ss") == "failed for ***"


@pytest.mark.parametrize(("url", "message"), [
    ("http://[bad/", "--repository-url is not a valid URL"),
    ("http://127.0.0.1:99999/", "--repository-url is not a valid URL"),
    ("https://", "--repository-url has no valid host name (and port)"),
    ("http://h o st/", "--repository-url has no valid host name (and port)"),
    ("ftp://files.example/", "--repository-url must start with https:// or http://"),
    ("https://u:secret-in-url@[::1/", "--repository-url is not a valid URL"),
])
def test_a_bad_upload_url_is_one_line_that_does_not_repeat_it(tmp_path: Path, url: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        _resolve(tmp_path, repository_url=url)
    assert exc.value.message == message and "secret" not in exc.value.message


def test_timeouts_and_retries_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="more than 0 seconds"):
        _resolve(tmp_path, timeout=0.0)
    with pytest.raises(ConfigError, match="0 or more"):
        _resolve(tmp_path, retries=-1)


def test_a_file_is_hashed_once_a_pinned_hash_is_used_while_the_size_holds(tmp_path: Path) -> None:
    from distfactory import make_wheel

    from toolkit.publish.prepare import prepare

    wheel = make_wheel(tmp_path)
    size = wheel.stat().st_size
    assert prepare(wheel, None, False, ("ab" * 32, size)).sha256 == "ab" * 32  # as the manifest pinned it
    assert prepare(wheel, None, False, ("ab" * 32, size + 1)).sha256 == hashlib.sha256(wheel.read_bytes()).hexdigest()
    prepared = prepare(wheel, None, False)
    assert prepared.problem is None and ("sha256_digest", prepared.sha256) in prepared.form


def test_an_sdists_pkg_info_is_found_behind_other_members_and_a_broken_stream_is_named(tmp_path: Path) -> None:
    """publish reads PKG-INFO through the bounded gzip reader (toolkit/targz.py), as the check stage walks it."""
    import io
    import tarfile

    from toolkit.publish.prepare import read_metadata

    sdist = tmp_path / "demo-1.0.tar.gz"
    pkg_info = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n"
    with tarfile.open(sdist, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, data in [*((f"demo-1.0/src/m{i}.py", b"x = 1\n" * 500) for i in range(200)),
                           ("demo-1.0/sub/PKG-INFO", b"not this one"), ("demo-1.0/PKG-INFO", pkg_info)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert read_metadata(sdist) == (pkg_info, "")
    whole = sdist.read_bytes()
    sdist.write_bytes(whole[: len(whole) // 2])
    assert read_metadata(sdist) == (None, "cannot read the archive (the gzip stream is truncated)")
    sdist.write_bytes(b"PK\x03\x04 not a gzip stream")
    metadata, why = read_metadata(sdist)
    assert metadata is None and why.startswith("cannot read the archive (corrupt gzip data")


def test_an_sdists_pkg_info_from_the_checks_walk_makes_the_same_upload_form(
        corpus: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With checks on, publish takes an sdist's PKG-INFO from the check's walk of the tar instead of walking it
    again: on every real sdist the check passes, the upload form is the one `--no-check` builds, and the tar is not
    walked a second time."""
    from toolkit.check import gate
    from toolkit.publish import prepare as prepare_module

    monkeypatch.setenv("TOOLKIT_CACHE_DIR", str(tmp_path / "cache"))  # no remembered verdict: every file is walked
    walked_again: list[str] = []
    read_metadata = prepare_module.read_metadata

    def counted(path: Path) -> tuple[bytes | None, str]:
        walked_again.append(path.name)
        return read_metadata(path)

    checks = gate()
    passed = 0
    for path in sorted(p for p in corpus if p.name.endswith(".tar.gz")):
        unchecked = prepare_module.prepare(path, None, False)
        monkeypatch.setattr(prepare_module, "read_metadata", counted)
        checked = prepare_module.prepare(path, checks, False)
        monkeypatch.setattr(prepare_module, "read_metadata", read_metadata)
        if checked.problem is not None:  # refused by the check (the corpus pins a few PyPI refuses)
            assert checked.problem.startswith("refused by toolkit check: "), checked.problem
            continue
        passed += 1
        assert (checked.form, checked.project, checked.sha256) == (unchecked.form, unchecked.project, unchecked.sha256)
    assert passed >= 140 and walked_again == []


def test_a_pkg_info_the_sdist_holds_twice_is_sent_as_no_check_sends_it(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """publish sends the first top-level PKG-INFO; the check's archive reads a name as its last copy: with two,
    the check hands nothing back and publish reads the tar itself."""
    import io
    import tarfile

    from toolkit.check import gate
    from toolkit.publish.prepare import prepare

    monkeypatch.setenv("TOOLKIT_CACHE_DIR", str(tmp_path / "cache"))
    sdist = tmp_path / "dupdemo-1.0.tar.gz"
    head = b"Metadata-Version: 2.1\nName: dupdemo\nVersion: 1.0\nSummary: "
    with tarfile.open(sdist, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, data in [("dupdemo-1.0/PKG-INFO", head + b"first\n"), ("dupdemo-1.0/setup.py", b""),
                           ("dupdemo-1.0/PKG-INFO", head + b"second\n")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    checked, unchecked = prepare(sdist, gate(), False), prepare(sdist, None, False)
    assert checked.problem is None and unchecked.problem is None, checked.problem
    assert ("summary", "first") in checked.form and checked.form == unchecked.form

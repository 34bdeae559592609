"""`toolkit publish` as a user runs it, against a real pypiserver on 127.0.0.1: build, publish, pip install
the package back; publish again (nothing uploaded); refusals, dry runs, names from .pypirc and pyproject.toml,
and no secret in any output or log."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from distfactory import make_sdist, make_wheel, metadata_text
from faultproxy import FaultProxy
from indexes import PASSWORD, USER, Index, creds, free_port, pypiserver, results, run_publish
from projects import run_toolkit

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    """One real pypiserver for the module; each test uploads its own project name."""
    with pypiserver(tmp_path_factory.mktemp("pypiserver")) as idx:
        yield idx


def dists(folder: Path, name: str, version: str = "1.0", **wheel: object) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    pkg = name.replace("-", "_")
    return [make_sdist(folder, pkg, version), make_wheel(folder, pkg, version, **wheel)]  # type: ignore[arg-type]


@pytest.mark.slow
def test_build_publish_and_pip_install_it_back_then_publish_again_uploads_nothing(tmp_path: Path, index: Index) -> None:
    built = run_toolkit("build", ROOT / "examples" / "pure", "-o", tmp_path / "dist", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    with FaultProxy(index.url) as proxy:
        # no FILE: the manifest; one lane (--jobs 1), so both files go on one kept-alive connection
        first = run_publish("--repository-url", proxy.url, "--jobs", "1", home=tmp_path, env=creds())
        assert first.returncode == 0, first.stderr
        assert results(first.stdout) == {"pure_demo-1.0.0-py3-none-any.whl": "uploaded",
                                         "pure_demo-1.0.0.tar.gz": "uploaded"}
        assert first.stdout.index(".whl") < first.stdout.index(".tar.gz")  # wheels first, the sdist last
        assert proxy.connections == 2  # one to look at the index first, one kept alive for both files' uploads
        again = run_publish("--repository-url", proxy.url, home=tmp_path, env=creds())
    assert again.returncode == 0, again.stderr
    assert set(results(again.stdout).values()) == {"already there, identical"}
    assert sorted(f for f in index.files() if f.startswith("pure_demo")) == [
        "pure_demo-1.0.0-py3-none-any.whl", "pure_demo-1.0.0.tar.gz"]
    target = tmp_path / "installed"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-cache-dir", "--index-url",
                          index.simple, "--target", target, "pure-demo==1.0.0"], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    assert (target / "pure_demo" / "__init__.py").is_file()


def test_a_file_that_fails_the_check_is_refused_and_the_others_go(tmp_path: Path, index: Index) -> None:
    bad = make_wheel(tmp_path, "refused_pkg", "1.0",
                     metadata=metadata_text("refused-pkg", "1.0", extra="Classifier: Private :: Do Not Upload\n"))
    good = make_sdist(tmp_path, "refused_pkg", "1.0")
    proc = run_publish("--repository-url", index.url, bad, good, home=tmp_path, env=creds())
    assert proc.returncode == 5
    lines = results(proc.stdout)
    assert lines[bad.name].startswith("failed: refused by toolkit check: M017 'Private :: Do Not Upload'")
    assert lines[good.name] == "uploaded"
    assert "error: 1 of 2 file(s) not published" in proc.stderr and "Traceback" not in proc.stderr
    assert bad.name not in index.files()


def test_no_check_skips_the_checks_loudly(tmp_path: Path, index: Index) -> None:
    bad = make_wheel(tmp_path, "unchecked_pkg", "1.0",
                     metadata=metadata_text("unchecked-pkg", "1.0", extra="Classifier: Private :: Do Not Upload\n"))
    proc = run_publish("--repository-url", index.url, "--no-check", bad, home=tmp_path, env=creds())
    assert proc.returncode == 0, proc.stderr
    assert "warning: --no-check: the files are uploaded without toolkit check" in proc.stderr
    assert bad.name in index.files()


def test_a_name_that_is_not_normalized_is_refused_aloud_or_uploaded_as_it_is(tmp_path: Path, index: Index) -> None:
    sdist = make_sdist(tmp_path, "MarkupSafe", "2.1.5", pkg_info=metadata_text("MarkupSafe", "2.1.5"))
    assert sdist.name == "MarkupSafe-2.1.5.tar.gz"
    checked = run_publish("--repository-url", index.url, sdist, home=tmp_path, env=creds())
    assert checked.returncode == 5
    assert results(checked.stdout)[sdist.name].startswith("failed: refused by toolkit check: N012")
    unchecked = run_publish("--repository-url", index.url, "--no-check", sdist, home=tmp_path, env=creds())
    assert unchecked.returncode == 0, unchecked.stderr
    assert results(unchecked.stdout) == {sdist.name: "uploaded"}
    assert sdist.name in index.files()


def test_other_bytes_under_a_published_name_are_fatal_and_both_hashes_shown(tmp_path: Path, index: Index) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = make_wheel(tmp_path / "a", "twice_pkg", "1.0")
    assert run_publish("--repository-url", index.url, first, home=tmp_path, env=creds()).returncode == 0
    second = make_wheel(tmp_path / "b", "twice_pkg", "1.0", files={"twice_pkg/__init__.py": b"x = 2\n"})
    proc = run_publish("--repository-url", index.url, second, home=tmp_path, env=creds())
    assert proc.returncode == 5
    line = results(proc.stdout)[second.name]
    ours, theirs = (hashlib.sha256(p.read_bytes()).hexdigest() for p in (second, first))
    # Known from the index's page before anything is sent: PyPI's words (I011), and both hashes.
    assert line.startswith("failed: not sent, the index would refuse it: I011 File already exists")
    assert ours in line and theirs in line


def test_dry_run_does_everything_but_the_upload(tmp_path: Path) -> None:
    files = dists(tmp_path / "dist", "dry-pkg")
    nowhere = f"http://127.0.0.1:{free_port()}/"
    proc = run_publish("--repository-url", nowhere, "--dry-run", *files, home=tmp_path, env=creds())
    assert proc.returncode == 0, proc.stderr
    # Nothing listens there: the dry run says it could not look at what the index holds.
    assert all(r.startswith("would upload (cannot see whether the index holds the file (cannot connect")
               for r in results(proc.stdout).values()), proc.stdout
    bad = make_wheel(tmp_path, "dry_pkg", "2.0", metadata=metadata_text("dry-pkg", "2.0", mv="2.0"))
    refused = run_publish("--repository-url", nowhere, "--dry-run", bad, home=tmp_path, env=creds())
    assert refused.returncode == 5 and "M002" in results(refused.stdout)[bad.name]


def test_names_from_pypirc_and_from_the_project_table(tmp_path: Path, index: Index) -> None:
    (tmp_path / ".pypirc").write_text(f"[distutils]\nindex-servers = local\n\n[local]\nrepository = {index.url}\n"
                                      f"username = {USER}\npassword = {PASSWORD}\n")
    files = dists(tmp_path / "dist", "named-pkg")
    proc = run_publish("-r", "local", "-v", files[0], home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"user '{USER}' from ~/.pypirc [local], password from ~/.pypirc [local]" in proc.stderr
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(f'[tool.toolkit.publish]\nrepository = "corp"\n\n'
                                            f'[tool.toolkit.publish.repositories]\ncorp = "{index.url}"\n')
    proc = run_publish(files[1], home=tmp_path, cwd=project, env=creds())
    assert proc.returncode == 0, proc.stderr
    assert results(proc.stdout) == {files[1].name: "uploaded"}


def test_a_malformed_pypirc_is_one_line_naming_file_and_line(tmp_path: Path) -> None:
    (tmp_path / ".pypirc").write_text("[pypi]\nusername = __token__\npypi-AgEIcHlwaS5vcmc-leaked\n")
    files = dists(tmp_path / "dist", "rc-pkg")
    proc = run_publish("--dry-run", *files, home=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == f"error: {tmp_path / '.pypirc'}, line 3: neither a [section] header nor a " \
                                          "`key = value` line"
    assert "leaked" not in proc.stderr + proc.stdout


def test_a_password_in_pyproject_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.toolkit.publish]\npassword = "hunter2-in-git"\n')
    proc = run_publish("--dry-run", home=tmp_path)
    assert proc.returncode == 2 and "is a secret" in proc.stderr and "hunter2" not in proc.stderr


def test_wrong_credentials_stop_the_run_naming_the_source_never_the_secret(tmp_path: Path, index: Index) -> None:
    files = dists(tmp_path / "dist", "wrong-pkg")
    proc = run_publish("--repository-url", index.url, "-v", *files, home=tmp_path,
                       env=creds(password="wrong-Secret-123"))
    assert proc.returncode == 5
    lines = results(proc.stdout)
    assert lines[files[1].name].startswith("failed: the index refused the credentials: 403")
    assert lines[files[0].name].startswith("failed: not tried: the index refused the credentials")
    assert "password from TOOLKIT_PASSWORD" in proc.stderr
    assert "wrong-Secret-123" not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_no_secret_in_any_output_or_log_at_any_verbosity(tmp_path: Path, index: Index) -> None:
    """Password, token and URL userinfo, through successes, retries and failures, at -v and -q."""
    cache = tmp_path / "cache"
    secrets_ = {"flag": "Flag-Secret-0001", "userinfo": "Userinfo-Secret-0002", "token": "pypi-Token-Secret-0003"}
    files = dists(tmp_path / "dist", "secret-pkg")
    with FaultProxy(index.url, ["drop-after", "status:503", "garbage"]) as proxy:
        url = proxy.url.replace("http://", f"http://{USER}:{secrets_['userinfo']}@")
        runs = [run_publish("--repository-url", proxy.url, "-v", "-u", USER, "-p", PASSWORD, *files, home=tmp_path,
                            env={"TOOLKIT_CACHE_DIR": str(cache)}),
                run_publish("--repository-url", url, "-v", *files, home=tmp_path, env={"TOOLKIT_CACHE_DIR": str(cache)}),
                run_publish("--repository-url", proxy.url, "-v", "-u", USER, "-p", secrets_["flag"], *files,
                            home=tmp_path, env={"TOOLKIT_CACHE_DIR": str(cache)}),
                run_publish("--repository-url", proxy.url, "-q", "--token", secrets_["token"], *files, home=tmp_path,
                            env={"TOOLKIT_CACHE_DIR": str(cache)}),
                run_publish("--repository-url", url, "--format", "json", *files, home=tmp_path,
                            env={"TOOLKIT_CACHE_DIR": str(cache)})]
    assert runs[0].returncode == 0, runs[0].stderr
    assert [r.returncode for r in runs[2:4]] == [5, 5]  # refused credentials, said without the secret
    output = "".join(r.stdout + r.stderr for r in runs)
    kept = "".join(p.read_text(errors="replace") for p in cache.rglob("*") if p.is_file()) if cache.exists() else ""
    for secret in [PASSWORD, *secrets_.values()]:
        assert secret not in output
        assert secret not in kept
    assert "Traceback" not in output


def test_pyproject_table_and_flags_are_generated_from_the_options(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "toolkit", "publish", "--help"], capture_output=True, text=True)
    for flag in ("-r", "--repository-url", "--no-check", "--attestations", "--dry-run", "--cacert", "--timeout",
                 "--retries", "--trusted-publishing", "-u", "-p", "--token"):
        assert f" {flag}" in proc.stdout, flag
    assert "--insecure" not in proc.stdout


def test_a_file_that_is_not_a_dist_is_reported(tmp_path: Path, index: Index) -> None:
    stray = tmp_path / "notes.txt"
    stray.write_text("hello")
    good = make_wheel(tmp_path, "stray_pkg", "1.0")
    proc = run_publish("--repository-url", index.url, stray, good, home=tmp_path, env=creds())
    assert proc.returncode == 5
    assert results(proc.stdout) == {good.name: "uploaded",
                                    stray.name: "failed: not a wheel (.whl) or an sdist (.tar.gz, .zip)"}
    shutil.rmtree(tmp_path / "dist", ignore_errors=True)


def test_keyring_gives_the_password_for_the_index_and_user(tmp_path: Path, index: Index) -> None:
    store = tmp_path / "keyring.json"
    store.write_text(json.dumps({index.url: {USER: PASSWORD}}))
    files = dists(tmp_path / "dist", "keyring-pkg")
    env = {"PYTHON_KEYRING_BACKEND": "indexes.FileKeyring", "TEST_KEYRING_FILE": str(store),
           "PYTHONPATH": str(Path(__file__).parent), "TOOLKIT_USERNAME": USER}
    proc = run_publish("--repository-url", index.url, "-v", *files, home=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"user '{USER}' from TOOLKIT_USERNAME, password from keyring" in proc.stderr
    off = run_publish("--repository-url", index.url, "--no-keyring", "-v", *files, home=tmp_path, env=env)
    assert off.returncode == 5 and "no password" in off.stderr


def test_with_no_files_named_the_newest_of_each_lineage_goes(tmp_path: Path, index: Index) -> None:
    """A repaired wheel is recorded as made from the linux_* one: only the repaired one is published."""
    from toolkit.dist import Dist, record

    outdir = tmp_path / "dist"
    outdir.mkdir()
    raw = make_wheel(outdir, "lineage_pkg", "1.0", tag="cp312-cp312-linux_x86_64")
    repaired = make_wheel(outdir, "lineage_pkg", "1.0", tag="cp312-cp312-manylinux_2_17_x86_64")
    sdist = make_sdist(outdir, "lineage_pkg", "1.0")
    record(outdir, [Dist.from_path(sdist), Dist.from_path(raw), Dist.from_path(repaired, derived_from=raw)])
    proc = run_publish("--repository-url", index.url, "--no-check", home=tmp_path, env=creds())
    assert proc.returncode == 0, proc.stderr
    assert results(proc.stdout) == {repaired.name: "uploaded", sdist.name: "uploaded"}
    assert raw.name not in index.files()


def test_json_results(tmp_path: Path, index: Index) -> None:
    files = dists(tmp_path / "dist", "json-pkg")
    proc = run_publish("--repository-url", index.url, "--format", "json", *files, home=tmp_path, env=creds())
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["index"] == index.url
    assert [(Path(r["file"]).name, r["outcome"]) for r in doc["results"]] == [
        (files[1].name, "uploaded"), (files[0].name, "uploaded")]
    assert all(len(r["sha256"]) == 64 for r in doc["results"])


def test_an_http_proxy_from_the_environment_is_used(tmp_path: Path, index: Index) -> None:
    files = dists(tmp_path / "dist", "proxied-pkg")
    with FaultProxy(index.url) as proxy:
        proc = run_publish("--repository-url", index.url, *files, home=tmp_path,
                           env={**creds(), "HTTP_PROXY": f"http://someone:proxy-pw@127.0.0.1:{proxy.port}",
                                "NO_PROXY": ""})
    assert proc.returncode == 0, proc.stderr
    assert [r.path for r in proxy.uploads] == [index.url, index.url]  # absolute URIs: a proxy's requests
    assert all(r.headers["proxy-authorization"].startswith("Basic ") for r in proxy.uploads)
    assert "proxy-pw" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(("host", "no_proxy", "proxied"), [
    ("localhost", "localhost", False),  # the exact host
    ("localhost", "example.org, .LocalHost", False),  # a `.suffix` entry, among others, any case
    ("127.0.0.1", "*", False),
    ("127.0.0.1", "127.0.0.1", False),  # an IP address
    ("127.0.0.1", "localhost,.example.org", True),  # a name is not its address: the proxy is used
], ids=["host", "suffix", "star", "ip", "no-match"])
def test_no_proxy_naming_the_index_sends_the_upload_direct(tmp_path: Path, index: Index, host: str, no_proxy: str,
                                                          proxied: bool) -> None:
    name = f"noproxy-{host.replace('.', '-')}-{no_proxy.translate(str.maketrans('', '', ' ,.*')).lower() or 'star'}"
    files = dists(tmp_path / "dist", name)
    url = index.url.replace("127.0.0.1", host)
    with FaultProxy(index.url) as proxy:
        proxy_url = f"http://127.0.0.1:{proxy.port}"
        proc = run_publish("--repository-url", url, "--no-check", *files, home=tmp_path,
                           env={**creds(), "HTTP_PROXY": proxy_url, "HTTPS_PROXY": proxy_url, "NO_PROXY": no_proxy})
    assert proc.returncode == 0, proc.stderr
    assert {f.name for f in files} <= set(index.files())  # the index got them, directly or through the proxy
    if proxied:
        assert [r.path for r in proxy.uploads] == [url, url]
    else:
        assert (proxy.connections, proxy.requests) == (0, [])


def test_no_proxy_suffix_entries_match_the_domain_and_its_subdomains_only() -> None:
    """The `.suffix` form for names this machine cannot resolve (the test above uploads through the real ones)."""
    from toolkit.proxy import proxy_for

    proxy = "http://proxy.example.net:3128"
    for entry in (".example.org", "example.org"):
        environ = {"HTTPS_PROXY": proxy, "NO_PROXY": f"other.test,{entry}"}
        assert proxy_for("https://upload.example.org/legacy/", environ) is None
        assert proxy_for("https://example.org/legacy/", environ) is None
        assert proxy_for("https://badexample.org/legacy/", environ) == proxy
        assert proxy_for("https://example.org.evil.test/legacy/", environ) == proxy


def test_the_library_takes_the_dists_another_stage_returns(tmp_path: Path, index: Index) -> None:
    """`publish(dists, target, options, gate=...)` from a CI script: no CLI, Dists in, results out."""
    from toolkit.check import gate
    from toolkit.config import PublishOptions
    from toolkit.dist import Dist
    from toolkit.publish import publish
    from toolkit.publish.target import resolve

    made = [Dist.from_path(p) for p in dists(tmp_path / "dist", "library-pkg")]
    options = PublishOptions(repository_url=index.url, username=USER, password=PASSWORD, keyring=False,
                             trusted_publishing="never")
    results_ = publish(made, resolve(options, {}), options, gate=gate())
    assert [(r.path.name, r.outcome) for r in results_] == [(made[1].path.name, "uploaded"),
                                                           (made[0].path.name, "uploaded")]
    assert [r.sha256 for r in results_] == [made[1].sha256, made[0].sha256]

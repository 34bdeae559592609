"""Publish's credentials stay with publish: a build backend, the installer of its requirements and the
repair stage's import test (third-party code, all) never see them, on screen (-v), in the kept log, or in
their environment."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from distfactory import make_wheel as make_dist_wheel
from faultproxy import Recorder
from indexes import creds, run_publish
from projects import run_toolkit, write_project
from test_repair_support import HOST_TAG, build_extension, build_library, make_wheel, needs_gcc

from toolkit.publish.index import JSON_TYPE
from toolkit.transport import basic_auth

# Every credential variable toolkit reads (publish, trusted publishing, attest), each with a value to look for.
SECRETS = {name: f"s3cret-{name.lower()}-0123456789" for name in (
    "TOOLKIT_PASSWORD", "TOOLKIT_PUBLISH_TOKEN", "TOOLKIT_PUBLISH_PASSWORD", "TWINE_PASSWORD", "TWINE_USERNAME",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL", "SIGSTORE_ID_TOKEN", "PYPI_ID_TOKEN")}
MARK = "toolkit-test-env:"

_PRINTING_BACKEND = f'''\
"""The tests' in-tree backend, printing its environment before each hook."""
import json, os
import toy_backend
from toy_backend import *  # noqa: F403


def _show():
    print({MARK!r} + json.dumps(dict(os.environ)), flush=True)


def build_sdist(sdist_directory, config_settings=None):
    _show()
    return toy_backend.build_sdist(sdist_directory, config_settings)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _show()
    return toy_backend.build_wheel(wheel_directory, config_settings, metadata_directory)
'''


def printing_project(folder: Path, requires: list[str] | None = None) -> Path:
    src = write_project(folder, "intree", requires=requires or [])
    (src / "backend" / "printing_backend.py").write_text(_PRINTING_BACKEND, encoding="utf-8")
    pyproject = src / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("'toy_backend'", "'printing_backend'"), encoding="utf-8")
    return src


def shown_environments(text: str) -> list[dict[str, str]]:
    return [json.loads(line.split(MARK, 1)[1]) for line in text.splitlines() if MARK in line]


def assert_no_secret(text: str, where: str) -> None:
    for name, value in SECRETS.items():
        assert value not in text, f"{name}'s value is in {where}"


def test_a_build_backend_never_sees_publish_credentials_on_screen_or_in_the_kept_log(tmp_path: Path) -> None:
    src = printing_project(tmp_path / "proj")
    cache = tmp_path / "cache"
    proc = run_toolkit("build", src, "-o", tmp_path / "out", "-v", "--pass-env", "TWINE_*",
                       env={**SECRETS, "TOOLKIT_CACHE_DIR": str(cache), "KEPT_ON_PURPOSE": "yes"})
    assert proc.returncode == 0, proc.stderr
    seen = shown_environments(proc.stderr)
    assert len(seen) == 2  # build_sdist, build_wheel
    assert all(env.get("KEPT_ON_PURPOSE") == "yes" for env in seen)  # the environment is there, minus credentials
    assert_no_secret(proc.stdout + proc.stderr, "the output of `toolkit build -v`")
    (log,) = (cache / "logs").glob("*.log")
    assert len(shown_environments(log.read_text())) == 2
    assert_no_secret(log.read_text(), "the kept log")


# -- the installer: a build requirement that is a local sdist whose backend writes down its environment ------------

_SPY_BACKEND = r'''\
"""Writes the environment it runs in (the installer's, which builds this sdist) to a file, builds an empty wheel."""
import base64, hashlib, json, os, zipfile

RECORD_TO = RECORD_PATH


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    with open(RECORD_TO, "w") as f:
        json.dump(dict(os.environ), f)
    info = os.path.join(metadata_directory, "envspy-1.0.dist-info")
    os.makedirs(info)
    with open(os.path.join(info, "METADATA"), "w") as f:
        f.write(_METADATA)
    return "envspy-1.0.dist-info"


_METADATA = "Metadata-Version: 2.1\nName: envspy\nVersion: 1.0\n"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open(RECORD_TO, "w") as f:
        json.dump(dict(os.environ), f)
    members = {"envspy-1.0.dist-info/METADATA": _METADATA.encode(),
               "envspy-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: spy\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = ""
    for name, data in members.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{name},sha256={digest},{len(data)}\n"
    members["envspy-1.0.dist-info/RECORD"] = (record + "envspy-1.0.dist-info/RECORD,,\n").encode()
    name = "envspy-1.0-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        for member, data in members.items():
            zf.writestr(member, data)
    return name
'''


def spy_sdist(folder: Path, record_to: Path) -> Path:
    """envspy-1.0.tar.gz: an sdist with an in-tree backend that writes its environment to `record_to`."""
    folder.mkdir(parents=True, exist_ok=True)
    members = {
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "spy_backend"\nbackend-path = ["."]\n'
                          '[project]\nname = "envspy"\nversion = "1.0"\n',
        "spy_backend.py": _SPY_BACKEND.replace("RECORD_PATH", repr(str(record_to))),
        "PKG-INFO": "Metadata-Version: 2.1\nName: envspy\nVersion: 1.0\n",
    }
    path = folder / "envspy-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"envspy-1.0/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("installer", ["uv", pytest.param("pip", marks=pytest.mark.slow)])
def test_the_installer_of_build_requirements_never_sees_publish_credentials(installer: str, tmp_path: Path) -> None:
    record = tmp_path / "installer-env.json"
    sdist = spy_sdist(tmp_path / "spy", record)
    src = printing_project(tmp_path / "proj", requires=["envspy"])
    links = {f"{installer.upper()}_FIND_LINKS": str(sdist.parent)}  # the installer's own setting: it keeps it
    proc = run_toolkit("build", src, "-o", tmp_path / "out", "--wheel", "--installer", installer,
                       env={**SECRETS, **links, "TOOLKIT_CACHE_DIR": str(tmp_path / "cache"), "KEPT_ON_PURPOSE": "yes"})
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(record.read_text())  # what the installer handed to the requirement's build
    assert seen.get("KEPT_ON_PURPOSE") == "yes"
    assert_no_secret(json.dumps(seen), f"the environment {installer} builds a requirement in")
    assert_no_secret(proc.stdout + proc.stderr, "the output")


# -- the repair stage's import test: the wheel's package writes down the environment it is imported in -----------

@needs_gcc
def test_the_repair_import_test_never_sees_publish_credentials(tmp_path: Path) -> None:
    record = tmp_path / "import-env.json"
    libdir = tmp_path / "libs"
    build_library(libdir, "demomath")
    ext = build_extension(tmp_path / "build", "_native", "demomath", libdir)
    init = (f"import json, os\njson.dump(dict(os.environ), open({str(record)!r}, 'w'))\n"
            "from demo._native import add\n")
    wheel = make_wheel(tmp_path / "dist", "demo", "1.0", str(HOST_TAG), {"demo/__init__.py": init.encode(),
                                                                           f"demo/{ext.name}": ext})
    proc = run_toolkit("repair", wheel, "-L", libdir, env={**SECRETS, "KEPT_ON_PURPOSE": "yes"})
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(record.read_text())
    assert seen.get("KEPT_ON_PURPOSE") == "yes"
    assert_no_secret(json.dumps(seen), "the environment of the import test")


# -- URLs: one redaction for every URL shown; a password never written in pyproject.toml ---------------------------

INDEX_PASSWORD = "index-pw-9f8e7d6c5b"


def test_a_password_in_index_url_is_never_shown_and_is_sent_to_its_own_origin_only(tmp_path: Path) -> None:
    """The upload gets a 500 (so the index is looked at), the simple page is not one (so its URL is named)."""
    (tmp_path / "dist").mkdir()
    wheel = make_dist_wheel(tmp_path / "dist", "redacted_pkg", "1.0")
    with Recorder({"/upload/": (500, b"oops", {}), "/simple/": (200, b"{not json", {"Content-Type": JSON_TYPE})}) as srv:
        index_url = f"http://someone:{INDEX_PASSWORD}@127.0.0.1:{srv.port}/simple/"
        proc = run_publish("--repository-url", f"{srv.origin}/upload/", "--index-url", index_url, "--retries", "0",
                           "-v", wheel, home=tmp_path, env=creds())
        looked = [r for r in srv.requests if r.path.startswith("/simple/")]
    assert proc.returncode == 5, proc.stderr
    assert f"http://127.0.0.1:{srv.port}/simple/redacted-pkg/ is not a simple API page" in proc.stdout
    assert INDEX_PASSWORD not in proc.stdout + proc.stderr
    assert looked and all(r.headers["authorization"] == basic_auth("someone", INDEX_PASSWORD) for r in looked)


def test_a_password_in_the_from_index_url_is_never_shown(tmp_path: Path) -> None:
    from test_attest import GH_DIST, GITHUB, verify

    (tmp_path / GH_DIST).write_bytes(b"")
    with Recorder({"/integrity/": (503, b"busy", {})}) as srv:
        proc = verify(tmp_path / GH_DIST, "--from-index", f"http://someone:{INDEX_PASSWORD}@127.0.0.1:{srv.port}",
                      "--publisher", GITHUB)
    assert proc.returncode != 0
    assert "someone:***@127.0.0.1" in proc.stdout + proc.stderr
    assert INDEX_PASSWORD not in proc.stdout + proc.stderr


@pytest.mark.parametrize("table", [
    'repository-url = "https://user:{pw}@index.example.org/legacy/"',
    'index-url = "https://user:{pw}@index.example.org/simple/"',
    'repositories = {{ corp = "https://user:{pw}@index.example.org/legacy/" }}',
])
def test_a_url_with_a_password_in_pyproject_is_refused_like_a_password_key(table: str, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.toolkit.publish]\n" + table.format(pw=INDEX_PASSWORD) + "\n")
    (tmp_path / "dist").mkdir()
    wheel = make_dist_wheel(tmp_path / "dist", "pyproject_pw", "1.0")
    proc = run_publish("--dry-run", wheel, home=tmp_path, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: [tool.toolkit.publish]: ")
    assert "holds a URL with a password" in proc.stderr
    assert INDEX_PASSWORD not in proc.stdout + proc.stderr


# -- the repair tools that run in toolkit's own process (auditwheel, delocate) start theirs with os.environ ----------

_POPEN_SPY = '''\
import json, os, subprocess

_init = subprocess.Popen.__init__


def _spy(self, args, *rest, **kwargs):
    env = kwargs.get("env")
    with open(os.environ["POPEN_SPY_TO"], "a") as out:
        out.write(json.dumps({"args": [str(a) for a in (args if isinstance(args, (list, tuple)) else [args])],
                              "env": dict(os.environ if env is None else env)}) + "\\n")
    _init(self, args, *rest, **kwargs)


subprocess.Popen.__init__ = _spy
'''


@needs_gcc
def test_patchelf_started_by_auditwheel_never_sees_publish_credentials(tmp_path: Path) -> None:
    """auditwheel runs inside toolkit and starts patchelf with os.environ: every process toolkit's own process
    starts during a repair is recorded (a sitecustomize wraps subprocess.Popen), and none holds a credential."""
    spy, record = tmp_path / "spy", tmp_path / "popen.jsonl"
    spy.mkdir()
    (spy / "sitecustomize.py").write_text(_POPEN_SPY, encoding="utf-8")
    libdir = tmp_path / "libs"
    build_library(libdir, "demomath")
    ext = build_extension(tmp_path / "build", "_native", "demomath", libdir)
    wheel = make_wheel(tmp_path / "dist", "demo", "1.0", str(HOST_TAG), {"demo/__init__.py": b"",
                                                                           f"demo/{ext.name}": ext})
    proc = run_toolkit("repair", wheel, "-L", libdir,
                       env={**SECRETS, "PYTHONPATH": str(spy), "POPEN_SPY_TO": str(record)})
    assert proc.returncode == 0, proc.stderr
    started = [json.loads(line) for line in record.read_text().splitlines()]
    assert any(Path(s["args"][0]).name == "patchelf" for s in started), [s["args"][:2] for s in started]
    for s in started:
        assert_no_secret(json.dumps(s["env"]), f"the environment of {Path(s['args'][0]).name}")

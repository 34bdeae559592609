"""What crosses the line between the user's machine and a build: variables (`--pass-env`,
PIP_*/UV_* for the installer only) and the members of an sdist being unpacked."""

from __future__ import annotations

import http.server
import io
import os
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from distfactory import make_wheel
from projects import one_line_error, probe, run_toolkit, write_project

REQ = "toolkit-test-only-req"  # exists only in the local index below


class _Index(http.server.SimpleHTTPRequestHandler):
    requested: list[str]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        self.requested.append(self.path)


@pytest.fixture
def local_index(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A PEP 503 simple index on 127.0.0.1 holding one wheel of REQ; yields its URL and the paths asked for."""
    root = tmp_path / "index"
    project = root / "simple" / REQ
    project.mkdir(parents=True)
    wheel = make_wheel(project, REQ.replace("-", "_"), "1.0")
    (project / "index.html").write_text(f'<html><body><a href="{wheel.name}">{wheel.name}</a></body></html>\n',
                                        encoding="utf-8")
    (root / "simple" / "index.html").write_text(f'<html><body><a href="{REQ}/">{REQ}</a></body></html>\n',
                                                encoding="utf-8")
    requested: list[str] = []
    handler = type("Handler", (_Index,), {"requested": requested})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple", requested
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("installer", "index_variable"), [
    ("uv", "UV_INDEX_URL"),
    pytest.param("pip", "PIP_INDEX_URL", marks=pytest.mark.slow),  # pip resolves in a process of its own
])
def test_pass_env_prefixes_reach_the_backend_and_the_installer_keeps_its_variables(
        installer: str, index_variable: str, local_index: tuple[str, list[str]], tmp_path: Path) -> None:
    url, requested = local_index
    src = write_project(tmp_path / "proj", "intree", requires=[f"{REQ}==1.0"])
    env = {
        index_variable: url, "TOOLKIT_CACHE_DIR": str(tmp_path / "cache"),  # a cold cache: the installer must ask
        "UV_TEST_ALPHA": "a", "UV_TEST_BETA": "b", "PIP_TEST_GAMMA": "g",
        "MYBUILD_ONE": "1", "MYBUILD_TWO": "2", "PYTHONPATH": str(tmp_path / "nowhere"),
    }
    out = tmp_path / "out"
    proc = run_toolkit("build", src, "-o", out, "--wheel", "--installer", installer,
                       "--pass-env", "UV_TEST_*", "--pass-env", "MYBUILD_*", env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"/simple/{REQ}/" in requested, "the installer resolved against the index of its variable"
    seen = probe(out)["environ"]
    assert {k: seen.get(k) for k in ("UV_TEST_ALPHA", "UV_TEST_BETA", "MYBUILD_ONE", "MYBUILD_TWO")} == {
        "UV_TEST_ALPHA": "a", "UV_TEST_BETA": "b", "MYBUILD_ONE": "1", "MYBUILD_TWO": "2"}
    for hidden in (index_variable, "PIP_TEST_GAMMA", "PYTHONPATH"):
        assert hidden not in seen, f"{hidden} must not reach the backend"


# -- an sdist that tries to write outside the folder it is unpacked in ---------------------------------------------


def _file(name: str, data: bytes = b"escaped\n") -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def evil_sdist(folder: Path, outside: Path, case: str) -> Path:
    """A buildable sdist (intree backend) plus one member that tries to reach `outside`."""
    top = "toy_pkg-0.1.0"
    proj = write_project(folder / "proj", "intree")
    depth = len(Path(os.path.relpath(outside, folder / "unpack" / "toolkit-sdist" / top)).parts)
    up = "/".join([".."] * depth)
    extra = {
        "dotdot": [_file(f"{top}/{up}/{outside.name}/dotdot.txt")],
        "absolute": [_file(f"{outside}/absolute.txt")],
        "symlink": [_link(f"{top}/out", str(outside)), _file(f"{top}/out/through-link.txt")],
        "relative-symlink": [_link(f"{top}/out", f"{up}/{outside.name}"), _file(f"{top}/out/rel.txt")],
        "hardlink": [_link(f"{top}/hard", str(outside / "target.txt"), tarfile.LNKTYPE)],
    }[case]
    sdist = folder / f"{top}.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        for path in sorted(proj.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=f"{top}/{path.relative_to(proj).as_posix()}")
        pkg_info = b"Metadata-Version: 2.1\nName: toy-pkg\nVersion: 0.1.0\n"
        info, _ = _file(f"{top}/PKG-INFO", pkg_info)
        tar.addfile(info, io.BytesIO(pkg_info))
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return sdist


@pytest.mark.parametrize("case", ["dotdot", "absolute", "symlink", "relative-symlink", "hardlink"])
def test_an_sdist_whose_members_escape_fails_and_writes_nothing_outside(case: str, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target.txt").write_text("keep me\n", encoding="utf-8")
    sdist = evil_sdist(tmp_path, outside, case)
    unpack = tmp_path / "unpack"  # TMPDIR: where toolkit unpacks the sdist
    unpack.mkdir()
    proc = run_toolkit("build", sdist, "-o", tmp_path / "out", env={"TMPDIR": str(unpack)})
    assert proc.returncode == 3, proc.stderr
    error = one_line_error(proc.stderr)
    assert sdist.name in error and "member" in error, error
    assert sorted(p.name for p in outside.iterdir()) == ["target.txt"]
    assert (outside / "target.txt").read_text(encoding="utf-8") == "keep me\n"
    written = [p for p in tmp_path.rglob("*") if p.name.endswith(".txt") and p.parent != outside]
    assert written == [], written
    assert not (tmp_path / "out").exists()
    assert [p.name for p in (unpack / "toolkit-sdist").iterdir()] == ["toy_pkg-0.1.0.lock"]

"""`toolkit publish` to a real devpi-server on 127.0.0.1: its simple API lives at +simple/, it answers a
second upload of the same bytes with 200 "identical file" and of other bytes with 409."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from distfactory import make_sdist, make_wheel
from indexes import PASSWORD, Index, creds, devpi, results, run_publish

pytestmark = pytest.mark.slow  # devpi-server takes seconds to start


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    with devpi(tmp_path_factory.mktemp("devpi")) as idx:
        yield idx


def test_publish_to_devpi_install_back_publish_again_and_other_bytes(tmp_path: Path, index: Index) -> None:
    (tmp_path / "dist").mkdir()
    (tmp_path / "other").mkdir()
    paths = [make_wheel(tmp_path / "dist", "devpi_pkg", "1.0"), make_sdist(tmp_path / "dist", "devpi_pkg", "1.0")]
    env = creds("root", PASSWORD)
    first = run_publish("--repository-url", index.url, *paths, home=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert results(first.stdout) == {p.name: "uploaded" for p in paths}
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-cache-dir", "--index-url",
                          index.url + "+simple/", "--target", tmp_path / "t", "devpi-pkg==1.0"],
                         capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    assert (tmp_path / "t" / "devpi_pkg" / "__init__.py").is_file()
    again = run_publish("--repository-url", index.url, *paths, home=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert results(again.stdout) == {p.name: "already there, identical" for p in paths}
    other = make_wheel(tmp_path / "other", "devpi_pkg", "1.0", files={"devpi_pkg/__init__.py": b"x = 3\n"})
    clash = run_publish("--repository-url", index.url, other, home=tmp_path, env=env)
    assert clash.returncode == 5
    line = results(clash.stdout)[other.name]
    # Seen on devpi's +simple page before anything is sent: PyPI's words (I011), and both hashes.
    assert line.startswith("failed: not sent, the index would refuse it: I011 File already exists")
    assert hashlib.sha256(other.read_bytes()).hexdigest() in line
    assert hashlib.sha256(paths[0].read_bytes()).hexdigest() in line
    # `toolkit check --index` reads devpi's +simple page the same way: the file there is fine, the other bytes not.
    seen = subprocess.run([sys.executable, "-m", "toolkit", "check", "--index", index.url, paths[0], other],
                          capture_output=True, text=True, cwd=tmp_path)
    assert seen.returncode == 1, seen.stdout + seen.stderr
    assert f"{paths[0]}: PASSED" in seen.stdout and f"{other}: I011 error [PyPI rejects]" in seen.stdout

"""Real index servers for publish's tests, on 127.0.0.1 at free ports and stopped afterwards: pypiserver
with a password file (htpasswd, via passlib) and devpi-server (offline); and how a test runs `toolkit
publish` as a user does, in an environment of its own making (no credentials, CI identity or proxy of
the machine's; HOME and so ~/.pypirc its own; a keyring backend it controls). The servers that misbehave
on purpose are in faultproxy.py.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

USER, PASSWORD = "uploader", "s3cret-Pa55word-for-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Index:
    url: str  # upload URL
    packages: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def simple(self) -> str:
        return self.url + "simple/"

    def files(self) -> list[str]:
        return sorted(p.name for p in self.packages.iterdir() if p.is_file())


def write_htpasswd(path: Path, users: dict[str, str]) -> None:
    from passlib.apache import HtpasswdFile

    ht = HtpasswdFile(str(path), new=True)
    for user, password in users.items():
        ht.set_password(user, password)
    ht.save()


@contextlib.contextmanager
def pypiserver(folder: Path, users: dict[str, str] | None = None) -> Iterator[Index]:
    """A real pypiserver serving (and storing into) folder/packages; uploads need a user of `users`."""
    packages = folder / "packages"
    packages.mkdir(parents=True, exist_ok=True)
    htpasswd = folder / "htpasswd"
    write_htpasswd(htpasswd, users or {USER: PASSWORD})
    port = free_port()
    cmd = [sys.executable, "-m", "pypiserver", "run", "-p", str(port), "-i", "127.0.0.1", "-P", str(htpasswd),
           "-a", "update", "--disable-fallback", str(packages)]
    with _server(cmd, folder / "pypiserver.log") as proc:
        url = f"http://127.0.0.1:{port}/"
        _wait_until_up(url + "health", proc)
        yield Index(url, packages, proc)


@contextlib.contextmanager
def devpi(folder: Path, password: str = PASSWORD) -> Iterator[Index]:
    """A real devpi-server (offline: no PyPI mirror), with a non-volatile index root/dev that user root may
    upload to. `Index.packages` is devpi's server folder (it stores files under +files/)."""
    server_dir = folder / "devpi"
    init = subprocess.run([str(Path(sys.executable).parent / "devpi-init"), "--serverdir", str(server_dir),
                           "--root-passwd", password], capture_output=True, text=True, timeout=300)
    if init.returncode != 0:
        raise RuntimeError(f"devpi-init failed: {init.stderr[-2000:]}")
    port = free_port()
    cmd = [str(Path(sys.executable).parent / "devpi-server"), "--serverdir", str(server_dir), "--host", "127.0.0.1",
           "--port", str(port), "--offline-mode"]
    with _server(cmd, folder / "devpi.log") as proc:
        origin = f"http://127.0.0.1:{port}"
        _wait_until_up(origin + "/+api", proc, timeout=240)
        auth = "Basic " + base64.b64encode(f"root:{password}".encode()).decode()
        made = urllib.request.Request(origin + "/root/dev", method="PUT", data=b'{"bases": [], "volatile": false}',
                                      headers={"Content-Type": "application/json", "Authorization": auth})
        with urllib.request.urlopen(made, timeout=60):
            pass
        yield Index(origin + "/root/dev/", server_dir, proc)


@contextlib.contextmanager
def _server(cmd: list[str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A server process, its output in `log_path`, stopped (then killed if it must be) at the end."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the index server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


# -- running `toolkit publish` as a user does, in an environment of the test's making ---------------------

_CI_VARS = ("GITHUB_ACTIONS", "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "GITLAB_CI",
            "TOOLKIT_USERNAME", "TOOLKIT_PASSWORD")


def publish_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Our environment without credentials, CI identities or proxies; HOME (and so ~/.pypirc) is the test's;
    keyring answers nothing."""
    env = {k: v for k, v in os.environ.items()
           if k not in _CI_VARS and not k.startswith(("TOOLKIT_PUBLISH_", "TWINE_")) and not k.endswith("_ID_TOKEN")
           and not k.lower().endswith("_proxy")}
    env.update(HOME=str(home), PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring", NO_PROXY="127.0.0.1,localhost")
    env.update(extra or {})
    return env


def run_publish(*args: str | Path, home: Path, env: dict[str, str] | None = None,
                cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "toolkit", "publish", *map(str, args)], env=publish_env(home, env),
                          cwd=cwd or home, capture_output=True, text=True, timeout=300, check=False)


def creds(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    return {"TOOLKIT_USERNAME": user, "TOOLKIT_PASSWORD": password}


def results(stdout: str) -> dict[str, str]:
    """The end-of-run lines, file name -> what happened."""
    out = {}
    for line in stdout.splitlines():
        name, sep, what = line.partition(": ")
        if sep and not line.startswith("::"):
            out[name] = what
    return out


try:
    from keyring.backend import KeyringBackend
except ImportError:  # pragma: no cover - keyring comes with twine
    KeyringBackend = object  # type: ignore[assignment,misc]


class FileKeyring(KeyringBackend):  # type: ignore[misc,valid-type]
    """A keyring backend kept in the JSON file $TEST_KEYRING_FILE ({service: {user: password}}); chosen with
    PYTHON_KEYRING_BACKEND=indexes.FileKeyring, so that keyring's own lookup runs against known contents."""

    priority = 1

    def _load(self) -> dict[str, dict[str, str]]:
        path = os.environ.get("TEST_KEYRING_FILE", "")
        return json.loads(Path(path).read_text()) if path and Path(path).is_file() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(service, {}).get(username)

    def set_password(self, service: str, username: str, password: str) -> None:
        raise NotImplementedError

    def delete_password(self, service: str, username: str) -> None:
        raise NotImplementedError

"""A small index that speaks PyPI's JSON API (`/pypi/<name>/json`) and the PEP 691 simple API, from a state file, for
the rules only PyPI applies (upload times, project sizes, names too close to another): run as its own process on
127.0.0.1 (`python jsonapi.py STATE PORT`), started and stopped by `json_index`. It takes every upload (200) and
logs the file name of each in STATE.posts, so a test sees what was sent.

The state: {"Display-Name": {"1.0": [{"filename", "sha256", "size", "uploaded" (ISO 8601)}]}}.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name


def _projects(state: dict[str, Any]) -> dict[str, tuple[str, dict[str, list[dict[str, Any]]]]]:
    return {canonicalize_name(name): (name, releases) for name, releases in state.items()}


def _file(f: dict[str, Any]) -> dict[str, Any]:
    return {"filename": f["filename"], "digests": {"sha256": f["sha256"], "blake2b_256": "0" * 64}, "size": f["size"],
            "upload_time_iso_8601": f["uploaded"], "url": f"https://files.example/{f['filename']}"}


class _Handler(BaseHTTPRequestHandler):
    state: dict[str, Any] = {}
    posts = ""
    listing = True  # whether /simple/ lists every project (PyPI's does, but too long to read: toolkit does not)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        projects = _projects(self.state)
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        if parts == ["health"]:
            return self._send(200, {}, "application/json")
        if parts == ["simple"] and self.listing:
            doc = {"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n, _ in projects.values()]}
            return self._send(200, doc, "application/vnd.pypi.simple.v1+json")
        if len(parts) == 2 and parts[0] == "simple" and parts[1] in projects:
            name, releases = projects[parts[1]]
            files = [{"filename": f["filename"], "hashes": {"sha256": f["sha256"]}, "size": f["size"],
                      "upload-time": f["uploaded"], "url": "x"} for fs in releases.values() for f in fs]
            return self._send(200, {"meta": {"api-version": "1.1"}, "name": parts[1], "files": files},
                              "application/vnd.pypi.simple.v1+json")
        if len(parts) == 3 and parts[0] == "pypi" and parts[2] == "json" and parts[1] in projects:
            name, releases = projects[parts[1]]
            doc = {"info": {"name": name, "version": max(releases, default="")},
                   "releases": {v: [_file(f) for f in fs] for v, fs in releases.items()}, "urls": []}
            return self._send(200, doc, "application/json")
        self._send(404, {"message": "Not Found"}, "application/json")

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        found = re.search(rb'name="content"; filename="([^"]+)"', body)
        with open(self.posts, "a", encoding="utf-8") as log:
            log.write((found.group(1).decode() if found else "?") + "\n")
        self._send(200, {"message": "OK"}, "application/json")

    def _send(self, status: int, doc: object, content_type: str) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def json_index(state: dict[str, Any], folder: Path, *, listing: bool = True) -> Iterator[str]:
    """The server's root URL (its JSON API under /pypi/, its simple API under /simple/; with listing False, no
    root page that lists every project)."""
    from indexes import _server, _wait_until_up, free_port

    path = folder / "jsonapi-state.json"
    path.write_text(json.dumps(state), encoding="utf-8")
    port = free_port()
    cmd = [sys.executable, __file__, str(path), str(port), *([] if listing else ["--no-listing"])]
    with _server(cmd, folder / "jsonapi.log") as proc:
        url = f"http://127.0.0.1:{port}/"
        _wait_until_up(url + "health", proc)
        yield url


def main() -> None:
    _Handler.state = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    _Handler.posts = sys.argv[1] + ".posts"
    _Handler.listing = "--no-listing" not in sys.argv
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), _Handler).serve_forever()


if __name__ == "__main__":
    main()

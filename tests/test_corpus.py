"""The corpus downloader (tests/pypi_corpus.py) against a PEP 691 index on 127.0.0.1: pinned files fetched
straight by URL, hash checked, a broken answer retried, a wrong file named."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pypi_corpus import CorpusError, Pin, ensure_corpus

GOOD = b"good wheel bytes" * 100
OTHER = b"the index serves other bytes"


class _Index(BaseHTTPRequestHandler):
    files = {"/files/demo-1.0-py3-none-any.whl": GOOD, "/files/demo-1.0.tar.gz": OTHER}
    failures_left = {"/files/demo-1.0-py3-none-any.whl": 1}  # the first GET of the wheel gets a 503
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.seen.append(self.path)
        if self.path == "/simple/demo/":
            page = {"meta": {"api-version": "1.0"}, "name": "demo", "files": [
                {"filename": name.rsplit("/", 1)[1], "url": f"../../files/{name.rsplit('/', 1)[1]}",
                 "hashes": {"sha256": hashlib.sha256(body).hexdigest()}} for name, body in self.files.items()]}
            return self._send(200, json.dumps(page).encode(), "application/vnd.pypi.simple.v1+json")
        if self.failures_left.get(self.path):
            self.failures_left[self.path] -= 1
            return self._send(503, b"try later", "text/plain")
        body = self.files.get(self.path)
        self._send(200 if body is not None else 404, body or b"not found", "application/octet-stream")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def index(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("TOOLKIT_TEST_INDEX_URL", f"http://127.0.0.1:{server.server_port}/simple")
    _Index.seen.clear()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _pin(filename: str, body: bytes) -> Pin:
    return Pin(filename, hashlib.sha256(body).hexdigest(), len(body), "test")


def test_pinned_file_is_fetched_by_url_and_kept(index: str, tmp_path: Path) -> None:
    pin = _pin("demo-1.0-py3-none-any.whl", GOOD)

    paths = ensure_corpus(tmp_path, (pin,))

    assert paths == [tmp_path / pin.filename]
    assert paths[0].read_bytes() == GOOD
    assert _Index.seen.count("/files/demo-1.0-py3-none-any.whl") == 2  # the 503, then the file
    _Index.seen.clear()
    assert ensure_corpus(tmp_path, (pin,)) == paths
    assert _Index.seen == []  # cached: a second run asks nothing


def test_file_with_other_bytes_is_named_and_not_kept(index: str, tmp_path: Path) -> None:
    pin = _pin("demo-1.0.tar.gz", GOOD)  # the index serves OTHER under this name

    with pytest.raises(CorpusError, match=r"demo-1\.0\.tar\.gz: .*sha256 differs"):
        ensure_corpus(tmp_path, (pin,))
    assert not (tmp_path / pin.filename).exists()


def test_file_the_index_does_not_list_is_named(index: str, tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"demo-2\.0\.tar\.gz is not on"):
        ensure_corpus(tmp_path, (_pin("demo-2.0.tar.gz", GOOD),))

"""Looking at what an index already holds: its simple API (PEP 503 HTML, PEP 691 JSON where served)
lists each file of a project with its sha256, which is how an upload with no clear answer is settled.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

from packaging.utils import canonicalize_name

from toolkit._text import load_json
from toolkit.pypi import PYPI

ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"


def simple_urls(upload_url: str, index_url: str | None = None) -> list[str]:
    """Where the simple API of the index behind `upload_url` may be, most likely first.

    PyPI and TestPyPI upload to .../legacy/ and serve /simple/ beside it; pypiserver, Nexus,
    Artifactory and GitLab serve it under the upload URL; devpi as +simple under the index.
    """
    if index_url:
        return [index_url if index_url.endswith("/") else index_url + "/"]
    parts = urlsplit(upload_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if parts.hostname == urlsplit(PYPI.upload).hostname:
        return [PYPI.simple]
    path = parts.path.rstrip("/")
    if path.endswith("/legacy") or path == "legacy":
        return [f"{origin}{path[: -len('legacy')]}simple/"]
    base = f"{origin}{path}/"
    candidates = [f"{base}simple/", f"{base}+simple/", f"{origin}/simple/"]
    return list(dict.fromkeys(candidates))


def project_url(simple_url: str, project: str) -> str:
    return f"{simple_url}{canonicalize_name(project)}/"


def parse_listing(body: bytes, content_type: str) -> dict[str, str | None]:
    """file name -> sha256 (None when the index gives none), from a project's simple page."""
    if JSON_TYPE in content_type or content_type.startswith("application/json"):
        doc = load_json(body)
        return {f["filename"]: (f.get("hashes") or {}).get("sha256") for f in doc.get("files", [])}
    parser = _Anchors()
    parser.feed(body.decode("utf-8", "replace"))
    parser.close()
    return parser.files


class _Anchors(HTMLParser):
    """The anchors of a PEP 503 page. By hand: no library of the field parses the simple HTML alone
    (pip's parser is internal), and the format is an anchor per file with #sha256= on its URL."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.files: dict[str, str | None] = {}
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag != "a" or self._href is None:
            return
        url, _, fragment = self._href.partition("#")
        name = "".join(self._text).strip() or unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        algo, _, digest = fragment.partition("=")
        self.files[name] = digest if algo == "sha256" and digest else None
        self._href = None

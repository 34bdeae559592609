"""What an index holds for one project, read before anything is sent: every file with its sha256 and, where the
index says, its size and upload time. PyPI's JSON API (`/pypi/<name>/json`) first where the index serves it (PyPI,
TestPyPI, warehouse-like indexes), else the simple API (PEP 691 JSON, PEP 503 HTML: pypiserver, devpi).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from packaging.utils import canonicalize_name

from toolkit import __version__, transport
from toolkit._text import load_json
from toolkit.errors import ConfigError, PublishError
from toolkit.indexstate import HINTS, Local, Project, RemoteFile, Verdict, twins, verdicts
from toolkit.publish import index

JSON_APIS = {"upload.pypi.org": "https://pypi.org/pypi/", "test.pypi.org": "https://test.pypi.org/pypi/"}
_ANY = (ValueError, KeyError, TypeError, AttributeError)


@dataclass(frozen=True)
class Where:
    """Where to read: PyPI's JSON API base (…/pypi/) if the index may serve one, and its simple API candidates."""

    json_api: str | None
    simple: list[str] = field(default_factory=list)
    auth: Mapping[str, str] = field(default_factory=dict, repr=False)  # from --index URL's userinfo

    @classmethod
    def for_upload_url(cls, upload_url: str, simple_urls: list[str]) -> Where:
        parts = urlsplit(upload_url)
        api = JSON_APIS.get(parts.hostname or "")
        if api is None and simple_urls:
            base = simple_urls[0]
            api = base[: -len("simple/")] + "pypi/" if base.endswith("/simple/") else None
        return cls(api, simple_urls)

    @classmethod
    def for_index(cls, given: str) -> Where:
        """--index pypi, testpypi, or an index's URL (its root, its upload URL or its simple API)."""
        from toolkit.publish.target import PRESETS

        url = PRESETS.get(given, given)
        if not url.startswith(("http://", "https://")):
            shown = transport.without_userinfo(given)
            raise ConfigError(f"--index {shown}: not pypi, testpypi or an http(s) URL", hint="e.g. --index pypi")
        user, password = transport.userinfo(url)  # a private index's reader, given in the URL as pip takes it
        url = transport.without_userinfo(url)
        if password is not None:
            where = cls._for(url)
            return cls(where.json_api, where.simple, {"Authorization": transport.basic_auth(user or "", password)})
        return cls._for(url)

    @classmethod
    def _for(cls, url: str) -> Where:
        url = url if url.endswith("/") else url + "/"
        if url.endswith(("/simple/", "/+simple/")):
            root = url[: -len("+simple/")] if url.endswith("+simple/") else url[: -len("simple/")]
            return cls(root + "pypi/", [url])
        return cls.for_upload_url(url, index.simple_urls(url))


def read_project(http: transport.Transport, where: Where, project: str, *, auth: Mapping[str, str] | None = None,
                 deadline: float = 60.0) -> Project:
    """The project as the index shows it. PublishError when the index cannot be read (with what it answered)."""
    end = time.monotonic() + deadline
    headers = {"User-Agent": f"toolkit/{__version__}", "Cache-Control": "max-age=0", **(auth or where.auth)}
    origin = transport.origin_of(where.simple[0] if where.simple else where.json_api or "")
    tried: list[str] = []
    for url, accept, parse in _candidates(where, project):
        if time.monotonic() > end:
            raise PublishError(f"no answer from the index within {deadline:g} s ({', '.join(tried)})")
        try:
            answer = http.get(url, {**headers, "Accept": accept}, origin)
        except transport.WireError as exc:
            raise PublishError(f"cannot read {url}: {exc}", hint="check the index URL and the network") from None
        tried.append(f"{url}: {answer.status}")
        if answer.status == 404:
            if parse is _parse_json_api and _is_pypi(where):
                return Project(project, False, url)  # PyPI's JSON API: 404 is a name nobody has
            continue
        if answer.status != 200:
            if parse is _parse_json_api:
                continue  # no JSON API there (or not for us): the simple API says the same
            raise PublishError(f"the index answered {answer.status} {answer.reason} for {url}",
                               hint="check the index URL and the credentials")
        try:
            return parse(project, answer)
        except _ANY:
            if parse is _parse_json_api:
                continue
            raise PublishError(f"{url} is not a simple API page", hint="give the index's simple API URL") from None
    return Project(project, False, tried[-1].rsplit(":", 1)[0] if tried else "")


def read_authorization(target: Any, where: Where) -> dict[str, str]:
    """The credentials given for a private index (its pages may be private too); none for PyPI, whose pages are
    public, and never a trusted-publishing exchange just to read."""
    own = getattr(target, "simple_auth", {})  # --index-url's userinfo: that index's own reader, for its origin
    for url in where.simple:
        if own.get(transport.origin_of(url)):
            return {"Authorization": own[transport.origin_of(url)]}
    creds = target.creds
    if _is_pypi(where) or target.renew is not None or creds.password is None:
        return {}
    return {"Authorization": transport.basic_auth(creds.username or "__token__", creds.password)}


def _is_pypi(where: Where) -> bool:
    return where.json_api in JSON_APIS.values()


def _candidates(where: Where, project: str) -> Iterator[tuple[str, str, Any]]:
    name = canonicalize_name(project)
    if where.json_api:
        yield f"{where.json_api}{name}/json", "application/json", _parse_json_api
    for simple in where.simple:
        yield index.project_url(simple, name), index.ACCEPT, _parse_simple


def _parse_json_api(project: str, answer: transport.Response) -> Project:
    doc = load_json(answer.body)
    info = doc["info"]
    releases = doc.get("releases")
    entries = [f for files in releases.values() for f in files] if isinstance(releases, dict) else doc.get("urls", [])
    files = tuple(RemoteFile(f["filename"], (f.get("digests") or {}).get("sha256"), _int(f.get("size")),
                             _when(f.get("upload_time_iso_8601") or f.get("upload_time"))) for f in entries)
    return Project(project, True, answer.url, str(info.get("name") or project), files, dated=True)


def _parse_simple(project: str, answer: transport.Response) -> Project:
    content_type = answer.headers.get("content-type", "")
    if index.JSON_TYPE in content_type:
        doc = load_json(answer.body)
        files = tuple(RemoteFile(f["filename"], (f.get("hashes") or {}).get("sha256"), _int(f.get("size")),
                                 _when(f.get("upload-time"))) for f in doc.get("files", []))
        return Project(project, True, answer.url, str(doc.get("name") or project), files,
                       dated=all(f.uploaded is not None for f in files))
    listed = index.parse_listing(answer.body, content_type)
    return Project(project, True, answer.url, None, tuple(RemoteFile(n, h) for n, h in listed.items()))


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    from datetime import timezone

    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def names_near(http: transport.Transport, where: Where, name: str, *, auth: Mapping[str, str] | None = None,
               deadline: float = 60.0) -> list[str]:
    """Names of projects on the index that PyPI may call too similar to `name` (a new one): from the simple API's
    root page, which lists every name; where there is none to read (PyPI's and TestPyPI's list tens of megabytes),
    the few spellings of `name` a single confusable letter or the separators apart are looked up one by one."""
    listed = None if _is_pypi(where) else _root_listing(http, where, auth)
    if listed is not None:
        return listed
    end = time.monotonic() + deadline
    for twin in twins(name):
        if time.monotonic() > end:
            break
        try:
            found = read_project(http, where, twin, auth=auth, deadline=max(end - time.monotonic(), 1.0))
        except PublishError:
            break
        if found.found:
            return [found.listed_name or twin]
    return []


def _root_listing(http: transport.Transport, where: Where, auth: Mapping[str, str] | None) -> list[str] | None:
    headers = {"User-Agent": f"toolkit/{__version__}", "Accept": index.ACCEPT, **(auth or where.auth)}
    for simple in where.simple:
        try:
            answer = http.get(simple, headers, transport.origin_of(simple))
        except transport.WireError:
            return None
        if answer.status != 200:
            continue
        try:
            if index.JSON_TYPE in answer.headers.get("content-type", ""):
                return [str(p["name"]) for p in load_json(answer.body)["projects"]]
            return list(index.parse_listing(answer.body, answer.headers.get("content-type", "")))
        except _ANY:
            return None
    return None


def predict(http: transport.Transport, where: Where, files: Sequence[Local], *, auth: Mapping[str, str] | None = None,
            deadline: float = 60.0) -> dict[Path, list[Verdict]]:
    """What the index will say about each file (toolkit/indexstate.py's verdicts on what it shows of each project)."""
    found: dict[Path, list[Verdict]] = {}
    for name in dict.fromkeys(f.name for f in files):
        group = [f for f in files if f.name == name]
        project = read_project(http, where, name, auth=auth, deadline=deadline)
        names = names_near(http, where, name, auth=auth, deadline=deadline) if not project.found else []
        found.update(verdicts(group, project, names))
    return found


def predict_files(paths: Sequence[Path], where: Where, timeout: float = 30.0) -> dict[Path, list[Verdict]]:
    """`toolkit check --index`: what the index will say about each of these files."""
    http = transport.Transport(transport.Timeouts(timeout, timeout, timeout))
    try:
        return predict(http, where, [Local.of(p) for p in paths], deadline=timeout * 4)
    finally:
        http.close()


class Forecast:
    """publish's look at the index before each file is sent: each project read once, each file judged by
    check/indexstate.py; an index that cannot be read is said once, and the upload goes on as before."""

    def __init__(self, http: transport.Transport, target: Any, deadline: float, warn: Any) -> None:
        self.http, self.warn, self.deadline = http, warn, deadline
        self.where = Where.for_upload_url(target.upload_url, target.simple_urls)
        self.auth = read_authorization(target, self.where)
        self._projects: dict[str, tuple[Project, list[str]] | None] = {}

    def judge(self, path: Path, sha256: str, size: int) -> tuple[str, str, str]:
        """("send" | "refused", why, hint) for one file about to be sent. A file the index holds with the same
        bytes is sent as before: the index's own answer ("already exists") settles it, and a credential problem
        still shows."""
        try:
            local = Local.of(path, sha256, size)
        except ConfigError:
            return "send", "", ""
        seen = self._project(local.name)
        if seen is None:
            return "send", "", ""
        project, names = seen
        errors = [v for v in verdicts([local], project, names)[path] if v.is_error]
        if not errors:
            return "send", "", ""
        why = "; ".join(f"{v.code} {v.message}" for v in errors)
        return "refused", f"not sent, the index would refuse it: {why}", HINTS[errors[0].code]

    def _project(self, name: str) -> tuple[Project, list[str]] | None:
        if name not in self._projects:
            try:
                project = read_project(self.http, self.where, name, auth=self.auth, deadline=self.deadline)
                names = [] if project.found else names_near(self.http, self.where, name, auth=self.auth,
                                                            deadline=self.deadline)
                self._projects[name] = (project, names)
            except PublishError as exc:
                self.warn(f"cannot see what the index holds of {name} before the upload: {exc.message}")
                self._projects[name] = None
        return self._projects[name]

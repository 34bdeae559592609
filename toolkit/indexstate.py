"""What the index will say about a file, from what it shows of the project before anything is sent: the rules of
shared/pypi-upload-rules.md that need the index's state (a file name used before, a release older than 14 days, one
sdist per release, a name too similar to another project's, the project's total size), in PyPI's words.

Pure and below the stages: publish/remote.py reads the index into these records; check (`--index`) turns the
verdicts into findings, publish holds back a file the index would refuse, release stops before the build.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from toolkit import _fs
from toolkit.dist import parse_dist_filename
from toolkit.errors import ConfigError

RELEASE_WINDOW = timedelta(days=14)
PROJECT_LIMIT = 10 << 30  # 10 GiB, PyPI's default total per project
_NAME_HELP = "See https://pypi.org/help/#project-name for more information."
_REUSE_HELP = "See https://pypi.org/help/#file-name-reuse for more information."
_SIZE_HELP = "https://docs.pypi.org/project-management/storage-limits#requesting-a-project-size-limit-increase"

HINTS = {
    "I005": "choose a name that no project comes close to (PyPI folds case, '-_.', 1/l/I and 0/O)",
    "I010": "delete old files on the index, or ask PyPI for a larger project limit before uploading",
    "I011": "a file name can be used once on an index: bump the version and build again",
    "I013": "a release takes new files for 14 days only: bump the version",
    "I014": "send the sdist the release already has, or bump the version",
    "I100": "if this is a new release, bump the version; a new file (a wheel for another platform) may still join it",
}
# code -> (who refuses, level, what the rule asks): check registers them (toolkit/check/indexstate.py), publish
# and release act on the errors.
INDEX_RULES: dict[str, tuple[str, Literal["error", "warning"], str]] = {
    "I005": ("pypi", "error", "the project name is not too similar to another project's (index state)"),
    "I010": ("pypi", "error", "the project stays within its total size limit, 10 GiB unless raised (index state)"),
    "I011": ("pypi", "error", "no file of that name is on the index with other bytes (index state)"),
    "I013": ("pypi", "error", "the release is not older than 14 days when a new file joins it (index state)"),
    "I014": ("pypi", "error", "the release has no other sdist (index state)"),
    "I100": ("toolkit", "warning", "this version is not on the index yet (index state)"),
}


@dataclass(frozen=True)
class Verdict:
    code: str
    level: Literal["error", "warning"]
    message: str

    @property
    def is_error(self) -> bool:
        return self.level == "error"


@dataclass(frozen=True)
class RemoteFile:
    filename: str
    sha256: str | None
    size: int | None = None
    uploaded: datetime | None = None

    @property
    def version(self) -> Version | None:
        try:
            return parse_dist_filename(self.filename)[2]
        except ConfigError:
            return None

    def belongs_to(self, name: str, version: Version) -> bool:
        try:
            _, its_name, its_version, _ = parse_dist_filename(self.filename)
        except ConfigError:
            return False
        return its_name == canonicalize_name(name) and its_version == version


@dataclass(frozen=True)
class Project:
    """One project as the index shows it; `found` False: the index has no project of that name (a new name)."""

    asked: str
    found: bool
    source: str  # the URL that was read
    listed_name: str | None = None  # the name as the index spells it (JSON API)
    files: tuple[RemoteFile, ...] = ()
    dated: bool = False  # whether the index gives upload times (the JSON APIs do)

    def of_version(self, name: str, version: Version) -> list[RemoteFile]:
        return [f for f in self.files if f.belongs_to(name, version)]


@dataclass(frozen=True)
class Local:
    """A file about to be sent, as the index rules see it."""

    path: Path
    name: NormalizedName
    version: Version
    kind: str
    sha256: str
    size: int

    @classmethod
    def of(cls, path: Path, sha256: str | None = None, size: int | None = None) -> Local:
        kind, name, version, _ = parse_dist_filename(path.name)
        if sha256 is None or size is None:
            sha256, size = _fs.sha256_file(path)
        return cls(path, name, version, kind, sha256, size)


def ultranormalize(name: str) -> str:
    """PyPI's "too similar" key: case, '.', '_' and '-' dropped, l/L/i/I read as 1 and o/O as 0."""
    folded = "".join(c for c in name.lower() if c not in "._-")
    return folded.translate(str.maketrans("lio", "110"))


def similar_names(name: str, names: Iterable[str]) -> list[str]:
    """Projects whose names PyPI would call too similar to `name` (and that are not `name` itself)."""
    key, own = ultranormalize(name), canonicalize_name(name)
    return sorted({n for n in names if ultranormalize(n) == key and canonicalize_name(n) != own})


def twins(name: str, limit: int = 16) -> list[str]:
    """Spellings of `name` that PyPI folds to the same key and that a user may well have registered: the name
    without its separators, and each confusable letter (1/l/i, 0/o) swapped for one of its look-alikes."""
    base = canonicalize_name(name)
    found = ["".join(c for c in base if c not in "._-")]
    swaps = {"1": "li", "l": "1i", "i": "1l", "0": "o", "o": "0"}
    for at, c in enumerate(base):
        found += [base[:at] + other + base[at + 1:] for other in swaps.get(c, "")]
    unique = dict.fromkeys(n for n in found if canonicalize_name(n) != base)
    return list(unique)[:limit]


def verdicts(files: Sequence[Local], project: Project, names: Iterable[str] = (), now: datetime | None = None,
             ) -> dict[Path, list[Verdict]]:
    """Each file's findings. A file already there with the same bytes has none: it is not sent again."""
    found: dict[Path, list[Verdict]] = {f.path: [] for f in files}
    if not project.found:
        for other in similar_names(project.asked, names)[:1]:
            for f in files:
                found[f.path].append(_finding("I005", f"The name {project.asked!r} is too similar to an existing "
                                              f"project. {_NAME_HELP}", f" (it is close to {other!r})"))
        return found
    now = now or datetime.now().astimezone()
    theirs = {r.filename: r for r in project.files}
    total = sum(r.size or 0 for r in project.files)
    for f in files:
        there = theirs.get(f.path.name)
        if there is not None and there.sha256 == f.sha256:
            continue
        out = found[f.path]
        if there is not None:
            blake = _blake2_256(f.path)
            out.append(_finding("I011", f"File already exists ({f.path.name!r}, with blake2_256 hash {blake!r}). "
                                f"{_REUSE_HELP}", f" (sha256 {there.sha256 or 'not listed'} there, {f.sha256} here)"))
            continue
        release = project.of_version(f.name, f.version)
        if release:
            listed = ", ".join(sorted(r.filename for r in release))
            out.append(_finding("I100", f"{project.listed_name or f.name} {f.version} is already on the index ({listed})"))
            times = [r.uploaded for r in release if r.uploaded is not None]
            if times and now - min(times) > RELEASE_WINDOW:
                out.append(_finding("I013", "Uploading new files to releases older than 14 days is not allowed.",
                                    f" (the release's first file: {min(times):%Y-%m-%d})"))
            if f.kind == "sdist" and any(r.filename.endswith((".tar.gz", ".zip")) for r in release):
                out.append(_finding("I014", "Only one sdist may be uploaded per release."))
        total += f.size
        if total > PROJECT_LIMIT:
            out.append(_finding("I010", f"Project size too large. Limit for project {project.listed_name or f.name!r} "
                                f"total size is 10 GB. See {_SIZE_HELP}",
                                f" (the index holds {total - f.size:,} bytes; this file adds {f.size:,})"))
    return found


def _finding(code: str, message: str, detail: str = "") -> Verdict:
    return Verdict(code, INDEX_RULES[code][1], message + detail)


def _blake2_256(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

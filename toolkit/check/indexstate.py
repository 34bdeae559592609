"""What the index will say about each file, predicted from what it shows of the project before anything is sent:
the rules of shared/pypi-upload-rules.md that need the index's state (a file name used before, a release older than
14 days, one sdist per release, a name too similar to another project's, the project's total size), in PyPI's words.

Pure: `verdicts(files, project, names, now)` judges what publish/remote.py read; check, publish and release call it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from toolkit import _fs
from toolkit.check.report import Finding
from toolkit.check.rules import rule
from toolkit.dist import parse_dist_filename

if TYPE_CHECKING:
    from toolkit.check.view import DistView
    from toolkit.publish.remote import Project

RELEASE_WINDOW = timedelta(days=14)
PROJECT_LIMIT = 10 << 30  # 10 GiB, PyPI's default total per project
_NAME_HELP = "See https://pypi.org/help/#project-name for more information."
_REUSE_HELP = "See https://pypi.org/help/#file-name-reuse for more information."
_SIZE_HELP = "https://docs.pypi.org/project-management/storage-limits#requesting-a-project-size-limit-increase"


def _from_the_index(dist: DistView) -> Iterable[str]:
    return ()  # judged by `verdicts` from the index's state (toolkit check --index, publish, release), not the file


_HINTS = {
    "I005": "choose a name that no project comes close to (PyPI folds case, '-_.', 1/l/I and 0/O)",
    "I010": "delete old files on the index, or ask PyPI for a larger project limit before uploading",
    "I011": "a file name can be used once on an index: bump the version and build again",
    "I013": "a release takes new files for 14 days only: bump the version",
    "I014": "send the sdist the release already has, or bump the version",
    "I100": "if this is a new release, bump the version; a new file (a wheel for another platform) may still join it",
}
for _code, _by, _level, _summary in (
    ("I005", "pypi", "error", "the project name is not too similar to another project's (index state)"),
    ("I010", "pypi", "error", "the project stays within its total size limit, 10 GiB unless raised (index state)"),
    ("I011", "pypi", "error", "no file of that name is on the index with other bytes (index state)"),
    ("I013", "pypi", "error", "the release is not older than 14 days when a new file joins it (index state)"),
    ("I014", "pypi", "error", "the release has no other sdist (index state)"),
    ("I100", "toolkit", "warning", "this version is not on the index yet (index state)"),
):
    rule(_code, refused_by=_by, level=_level, summary=_summary, hint=_HINTS[_code],  # type: ignore[arg-type]
         needs_archive=False)(_from_the_index)


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
             ) -> dict[Path, list[Finding]]:
    """Each file's findings. A file already there with the same bytes has none: it is not sent again."""
    found: dict[Path, list[Finding]] = {f.path: [] for f in files}
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


def _finding(code: str, message: str, detail: str = "") -> Finding:
    from toolkit.check.rules import RULES

    r = RULES[code]
    return Finding(code, r.level, r.refused_by, message + detail, r.hint)


def _blake2_256(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

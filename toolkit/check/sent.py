"""Which archive member goes up as the metadata: the one twine 7 reads (its PackageFile builds
the upload form from it), and the one toolkit judges when twine reads none.

PyPI validates the form, never the file, so the metadata rules must judge what twine really
sends. twine picks it by its own search, which is not always the member the wheel's filename
names: its wheel reader (like pkginfo's) takes the first name containing "METADATA", shortest
path first, whose bytes contain "Metadata-Version"; its sdist reader takes `{commonpath}/PKG-INFO`
and refuses anything but a regular file. Written here because twine's readers open the file again
with zipfile/tarfile and raise on the first problem; this reads the archive index check already has.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toolkit.check.archive import Member
    from toolkit.check.view import DistView

MARKER = b"Metadata-Version"
_LINK_HOPS = 8


@dataclass(frozen=True)
class SentMetadata:
    expected: str | None  # the member the layout names: {name}-{version}.dist-info/METADATA, {top}/PKG-INFO
    sent: str | None  # the member twine reads and sends; None when twine refuses the file
    judged: str | None  # what the metadata rules judge: `sent`, else the expected member (links followed)
    refusal: str | None = None  # twine's reason when it reads no metadata
    others: tuple[str, ...] = ()  # wheel: other members twine could take for METADATA (not picked)


def sent_metadata(dist: DistView) -> SentMetadata:
    if dist.kind == "wheel":
        return _wheel(dist)
    if dist.kind == "sdist":
        return _sdist(dist)
    return SentMetadata(None, None, None)


def _wheel(dist: DistView) -> SentMetadata:
    expected = f"{dist.dist_info}/METADATA" if dist.dist_info else None
    if dist.archive.format != "zip":
        return SentMetadata(expected, None, None, "the file is not a readable zip")
    names = [m.name for m in dist.archive.members]  # every entry, as zipfile's namelist() gives them
    candidates = ["/".join(parts) for _, parts in sorted((len(p), p) for p in (n.split("/") for n in names
                                                                               if "METADATA" in n))]
    sent, searched, others = None, [], []
    for name in dict.fromkeys(candidates):
        data = dist.read(name, limit=16 << 20)
        if data is None:  # twine's zipfile raises on it: the upload stops there
            if sent is None:
                return SentMetadata(expected, None, _existing(dist, expected), f"cannot read {name} from the wheel")
            continue
        if MARKER in data:
            if sent is None:
                sent = name
            else:
                others.append(name)
        elif sent is None:
            searched.append(name)
    if not dist.filename.endswith(".whl"):  # twine matches the extension case-sensitively
        return SentMetadata(expected, None, _existing(dist, expected),
                            f"Unknown distribution format: '{dist.filename}'")
    if sent is None:
        why = ("No METADATA in archive or METADATA missing 'Metadata-Version': "
               f"{dist.filename} (searched {','.join(searched)})")
        return SentMetadata(expected, None, _existing(dist, expected), why)
    return SentMetadata(expected, sent, sent, None, tuple(o for o in others if o != expected or sent != expected))


def _sdist(dist: DistView) -> SentMetadata:
    members = dist.archive.members
    if dist.archive.format is None or not members:
        return SentMetadata(None, None, None, "the sdist cannot be read as an archive")
    try:
        root: str | None = posixpath.commonpath([m.name for m in members])
    except ValueError:  # absolute and relative names mixed: twine crashes on it
        root = None
    top = _normal_top(members)  # the layout's folder, even where twine's commonpath misses it
    expected = f"{top}/PKG-INFO" if top else None
    judged = _existing(dist, expected)
    if root is None or root in ("", ".", "/"):
        return SentMetadata(expected, None, judged, f"Too many top-level members in sdist archive: {dist.filename}")
    target = f"{root.rstrip('/')}/PKG-INFO"
    member = dist.archive.member(target)
    missing = f"No PKG-INFO in archive or PKG-INFO missing 'Metadata-Version': {dist.filename}"
    if member is None:
        return SentMetadata(expected, None, judged, missing)
    if dist.archive.format == "tar" and member.kind != "file":
        return SentMetadata(expected, None, judged, f"PKG-INFO is not a regular file: {dist.filename}")
    data = dist.read(target, limit=16 << 20)
    if data is None or MARKER not in data:
        return SentMetadata(expected, None, judged, missing)
    return SentMetadata(expected, target, target)


def _normal_top(members: list[Member]) -> str | None:
    """The single top folder once "./" prefixes are dropped (None: several, or none)."""
    tops = {posixpath.normpath(m.name).split("/", 1)[0] for m in members}
    tops.discard(".")
    return tops.pop() if len(tops) == 1 else None


def _existing(dist: DistView, name: str | None) -> str | None:
    """The regular-file member that `name` is, or leads to: spelt with "./", or through a link."""
    if name is None:
        return None
    by_normal = {posixpath.normpath(m.name): m for m in dist.archive.members}
    member = dist.archive.member(name) or by_normal.get(posixpath.normpath(name))
    for _ in range(_LINK_HOPS):
        if member is None or member.kind == "file":
            break
        if member.kind not in ("symlink", "hardlink") or not member.link_target:
            return None
        base = posixpath.dirname(posixpath.normpath(member.name)) if member.kind == "symlink" else ""
        member = by_normal.get(posixpath.normpath(posixpath.join(base, member.link_target)))
    return member.name if member is not None and member.kind == "file" else None

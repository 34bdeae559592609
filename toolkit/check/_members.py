"""toolkit's stricter checks on an archive's member list (Z101-Z106; part of check/archive.py).

PyPI checks none of these; each is something an installer or an unpacker gets wrong or
gets differently from another one.
"""

from __future__ import annotations

import posixpath
import re
import stat
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from toolkit.listing import capped

if TYPE_CHECKING:
    from toolkit.check.archive import Kind, Member

_DRIVE = re.compile(r"[A-Za-z]:")
_SPECIAL = {"device": "a device file", "fifo": "a FIFO (named pipe)", "other": "a special file of unknown type"}


def mode_kind(mode: int | None) -> Kind:
    """The member kind a unix mode (a zip entry's external attributes) says."""
    if mode is None or stat.S_IFMT(mode) in (0, stat.S_IFREG):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "fifo" if stat.S_ISFIFO(mode) else "other"


def problems(members: Sequence[Member], fmt: str | None, *, wheel: bool) -> Iterator[tuple[str, str]]:
    top = _top_folder(members)
    escaping = [m for m in members if m.kind in ("symlink", "hardlink") and (wheel or _link_escapes(m, top))]
    yield from _capped("Z101", (f"unsafe member name {m.name!r}: {why}" for m in members if (why := unsafe_name(m.name))))
    yield from _capped("Z102", (_link_message(m, top, wheel) for m in escaping))
    yield from _capped("Z103", (f"member {m.name!r} is {_SPECIAL[m.kind]}" for m in members if m.kind in _SPECIAL))
    yield from _capped("Z104", _case_clashes(members))
    if fmt == "zip":  # a zip symlink that Z102 did not report already
        reported = {id(m) for m in escaping}
        yield from _capped("Z105", (
            f"zip entry {m.name!r} has a symlink mode ({oct(m.mode or 0)}) with target {m.link_target!r}"
            for m in members if m.kind == "symlink" and id(m) not in reported
        ))
    if fmt == "tar":
        yield from _capped("Z106", _tar_duplicates(members))


def unsafe_name(name: str) -> str | None:
    """Why a member name could land outside the folder it is unpacked into (None: it cannot)."""
    if "\\" in name:
        return "it contains a backslash, a folder separator on Windows"
    if name.startswith("/"):
        return "it is an absolute path"
    if _DRIVE.match(name):
        return "it starts with a drive letter"
    if ".." in name.split("/"):
        return "it has a '..' component"
    return None


def _top_folder(members: Sequence[Member]) -> str | None:
    tops = {posixpath.normpath(m.name).split("/")[0] for m in members}
    return tops.pop() if len(tops) == 1 else None


def _link_escapes(m: Member, top: str | None) -> bool:
    target = m.link_target
    if target is None or target.startswith("/") or "\\" in target or _DRIVE.match(target):
        return True
    base = posixpath.dirname(posixpath.normpath(m.name)) if m.kind == "symlink" else ""  # hardlinks: from the root
    resolved = posixpath.normpath(posixpath.join(base, target))
    if resolved == ".." or resolved.startswith("../"):
        return True
    return top is not None and resolved.split("/")[0] != top


def _link_message(m: Member, top: str | None, wheel: bool) -> str:
    link = f"member {m.name!r} is a {m.kind} to {m.link_target!r}"
    if wheel:
        return f"{link}: installers do not create links from wheels"
    return f"{link}, outside the sdist's folder {top!r}" if top else f"{link}, outside the archive"


def _case_clashes(members: Iterable[Member]) -> Iterator[str]:
    """Names (or the folders they imply) equal once lowercased: one overwrites the other on
    Windows and macOS."""
    groups: defaultdict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()
    for m in members:
        parts = m.name.rstrip("/").split("/")
        for n in range(1, len(parts) + 1):
            name = "/".join(parts[:n])
            if name not in seen:
                seen.add(name)
                groups[name.lower()].append(name)
    for names in groups.values():
        if len(names) > 1:
            yield "members " + " and ".join(map(repr, names)) + " differ only by case"


def _tar_duplicates(members: Iterable[Member]) -> Iterator[str]:
    counts = Counter(m.name for m in members if m.kind != "dir")
    for name, n in counts.items():
        if n > 1:
            yield f"member {name!r} appears {n} times: the last copy wins when it is unpacked"


def _capped(code: str, messages: Iterable[str]) -> Iterator[tuple[str, str]]:
    return capped(((code, m) for m in messages), lambda line: (code, line))

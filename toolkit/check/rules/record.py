"""Check rules: a wheel's RECORD against the files it holds (R1xx errors; pypa/installer --validate-record
refuses R101, R102 and R106, the others are toolkit's own).

PyPI only e-mails the owners about a "RECORD mismatch" and never checks hashes;
installers rely on RECORD (uninstall, integrity), so toolkit refuses what is wrong.
Every member is inflated once, streamed through hashlib in chunks (memory stays
bounded); the digests are kept per file for contents.py (duplicate files).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import re
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from toolkit.check.archive import ArchiveReadError
from toolkit.check.rules import rule
from toolkit.listing import capped

if TYPE_CHECKING:
    from installer.records import RecordEntry

    from toolkit.check.view import DistView

_WHOLE_READ_MAX = 64 << 20  # larger members are streamed, not held
CHUNK = 1 << 20
SIGNATURES = ("RECORD.jws", "RECORD.p7s")  # never listed in RECORD (PyPI and installer exempt them)
WEAK_HASHES = {"md5", "sha1"}  # named by the wheel spec; any digest shorter than sha256 is weak too
# A zip that is not one, or a declared bomb: hashing it would only waste time (the Z-rules report it).
_UNSAFE_TO_INFLATE = {"Z001", "Z002", "Z003"}
_CACHE: weakref.WeakKeyDictionary[DistView, dict[str, object]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Row:
    """One RECORD row, read the way PyPI and pypa/installer read it."""

    number: int  # 1-based row number
    elements: tuple[str, ...]
    entry: RecordEntry | None = None  # None when installer refuses the row
    problem: str | None = None

    @property
    def path(self) -> str:
        # Both PyPI and installer read "\" as "/" in RECORD paths.
        return self.elements[0].replace("\\", "/") if self.elements else ""


@dataclass
class Digest:
    size: int
    sha256: str  # urlsafe base64, no padding: RECORD's own spelling
    others: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # the member could not be inflated


def _memo(dist: DistView, key: str, make):  # type: ignore[no-untyped-def]
    slot = _CACHE.setdefault(dist, {})
    if key not in slot:
        slot[key] = make()
    return slot[key]


def record_name(dist: DistView) -> str | None:
    return f"{dist.dist_info}/RECORD" if dist.dist_info else None


def load_record(dist: DistView) -> tuple[list[Row] | None, str | None]:
    """(rows, None), or (None, why PyPI cannot read RECORD): the W003 conditions."""
    return _memo(dist, "record", lambda: _load_record(dist))  # type: ignore[no-any-return]


def _load_record(dist: DistView) -> tuple[list[Row] | None, str | None]:
    name = record_name(dist)
    if name is None or dist.archive.format != "zip":
        return None, "no wheel layout"
    data = dist.read(name)
    if data is None:
        return None, f"{name} is missing"
    try:
        text = data.decode("utf-8")
        raw = list(csv.reader(text.splitlines()))  # as PyPI reads it
    except UnicodeDecodeError as exc:
        return None, f"{name} is not UTF-8 ({exc.reason} at byte {exc.start})"
    except csv.Error as exc:
        return None, f"{name} is not valid CSV ({exc})"
    return [_row(i, elements) for i, elements in enumerate(raw, 1)], None


def _row(number: int, elements: list[str]) -> Row:
    if len(elements) != 3:  # installer's parse_record_file refuses any other count
        return Row(number, tuple(elements), problem=f"has {len(elements)} fields, not 3 (path,hash,size)")
    elements[0] = elements[0].replace("\\", "/")
    # Imported here, not at the top: installer's package import pulls in its whole install machinery,
    # and only wheels with a RECORD need it.
    from installer.records import InvalidRecordEntry, RecordEntry

    try:
        entry = RecordEntry.from_elements(*elements)
    except InvalidRecordEntry as exc:
        return Row(number, tuple(elements), problem=", ".join(exc.issues))
    return Row(number, tuple(elements), entry)


def member_digests(dist: DistView) -> dict[str, Digest] | None:
    """sha256 and size of every file member, inflated once; None when the archive must not be inflated."""
    return _memo(dist, "digests", lambda: _digests(dist))  # type: ignore[no-any-return]


def _digests(dist: DistView) -> dict[str, Digest] | None:
    if dist.archive.format != "zip" or any(code in _UNSAFE_TO_INFLATE for code, _ in dist.archive.problems):
        return None
    rows, _ = load_record(dist)
    wanted = {r.path: r.entry.hash_.name for r in rows or () if r.entry and r.entry.hash_}
    found: dict[str, Digest] = {}
    if _is_bomb(dist):
        return None
    streamed = []
    for member in dist.archive.members:
        if member.kind != "file" or member.name in found:
            continue
        if member.size <= _WHOLE_READ_MAX and _read_by_others(member.name):
            # Through the view's cache: the binary and content-scan rules reuse these bytes,
            # so each member is inflated once in all.
            data = dist.read(member.name, limit=_WHOLE_READ_MAX)
            if data is not None:
                found[member.name] = _hash_bytes(data, wanted.get(member.name))
                continue
        streamed.append(member.name)
    # The rest is streamed in chunks: memory does not grow with a member's size.
    for name in streamed:
        found[name] = _hash_stream(dist, name, wanted.get(name))
    return found


def _read_by_others(name: str) -> bool:
    from toolkit.binaries import BINARY_SUFFIX

    return name.lower().endswith((".py", ".pye")) or ".dist-info/" in name or bool(BINARY_SUFFIX.search(name))


def _hashers(extra: str | None) -> dict[str, Any]:
    hashers = {"sha256": hashlib.sha256()}
    if extra and extra != "sha256" and not extra.startswith("shake"):  # shake digests need a length
        try:
            hashers[extra] = hashlib.new(extra)
        except ValueError:
            pass  # an unknown algorithm: R106 reports the row
    return hashers


def _finish(size: int, hashers: dict[str, Any]) -> Digest:
    b64 = {n: base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode() for n, h in hashers.items()}
    return Digest(size, b64.pop("sha256"), b64)


def _hash_bytes(data: bytes, extra: str | None) -> Digest:
    hashers = _hashers(extra)
    for h in hashers.values():
        h.update(data)
    return _finish(len(data), hashers)


def _is_bomb(dist: DistView) -> bool:
    # PyPI's limits (Z003), checked here too so that hashing never depends on the archive rules' order.
    total = sum(m.size for m in dist.archive.members)
    return total > 64 << 20 and total / max(dist.path.stat().st_size, 1) > 50


def _hash_stream(dist: DistView, name: str, extra: str | None) -> Digest:
    hashers = _hashers(extra)
    size = 0
    try:
        for chunk in dist.archive.stream(name, CHUNK):
            size += len(chunk)
            for h in hashers.values():
                h.update(chunk)
    except ArchiveReadError as exc:
        return Digest(size, "", error=str(exc).removeprefix(f"{name}: "))
    return _finish(size, hashers)


def _archive_files(dist: DistView) -> list[str]:
    # PyPI ignores names ending in "/" or "\" (directories); installer ignores names ending in "/".
    return [m.name for m in dist.archive.members if m.kind != "dir" and not m.name.endswith(("/", "\\"))]


def _is_signature(dist: DistView, path: str) -> bool:
    return path in {f"{dist.dist_info}/{s}" for s in SIGNATURES}


@rule("R101", refused_by="installer", applies="wheel", summary="RECORD hash or size does not match the file",
      hint="rebuild the wheel with its build backend; a wheel edited after the build needs its RECORD rewritten")
def record_hashes(dist: DistView) -> Iterator[str]:
    rows, _ = load_record(dist)
    digests = member_digests(dist)
    if rows is None or digests is None:
        return
    yield from capped(_hash_mismatches(dist, rows, digests), str)


def _hash_mismatches(dist: DistView, rows: list[Row], digests: dict[str, Digest]) -> Iterator[str]:
    seen: set[str] = set()
    for row in rows:
        digest, entry = digests.get(row.path), row.entry
        if entry is None or digest is None or row.path in seen or row.path == record_name(dist):
            continue
        seen.add(row.path)
        if digest.error:
            yield f"{row.path}: cannot be inflated to check it against RECORD ({digest.error})"
            continue
        if entry.hash_ is not None:
            actual = digest.sha256 if entry.hash_.name == "sha256" else digest.others.get(entry.hash_.name)
            if actual is not None and actual != entry.hash_.value:
                yield (f"{row.path}: RECORD says {entry.hash_.name}={entry.hash_.value}, "
                       f"the file has {entry.hash_.name}={actual}")
                continue
        if entry.size is not None and entry.size != digest.size:
            yield f"{row.path}: RECORD says {entry.size} bytes, the file has {digest.size}"


@rule("R102", refused_by="installer", applies="wheel", summary="files in the wheel that RECORD does not list",
      hint="PyPI e-mails the owners about a RECORD mismatch and installers cannot uninstall unlisted files; "
           "rebuild the wheel instead of adding files to it")
def record_missing_files(dist: DistView) -> Iterator[str]:
    rows, _ = load_record(dist)
    if rows is None:
        return
    listed = {r.path for r in rows}
    # RECORD itself must be listed too (with empty hash and size): PyPI's cross-check counts it.
    missing = (n for n in _archive_files(dist) if n not in listed and not _is_signature(dist, n))
    yield from capped((f"{n} is in the wheel but not in RECORD" for n in missing), str)


@rule("R103", applies="wheel", summary="RECORD lists files that are not in the wheel",
      hint="rebuild the wheel; a RECORD naming absent files breaks uninstall and makes PyPI e-mail a mismatch")
def record_extra_rows(dist: DistView) -> Iterator[str]:
    rows, _ = load_record(dist)
    if rows is None:
        return
    files = set(_archive_files(dist))
    dirs = {m.name.rstrip("/") for m in dist.archive.members if m.kind == "dir"}
    problems = []
    for row in rows:
        if not row.path or row.path in files and not _is_signature(dist, row.path):
            continue
        if _is_signature(dist, row.path):
            problems.append(f"RECORD lists the signature file {row.path}, which must not be listed")
        elif row.path.rstrip("/") in dirs or row.path.endswith("/"):
            # installers take such a row, but `pip uninstall` removes the whole folder it names
            problems.append(f"RECORD lists the directory {row.path}; it lists files only (uninstalling the wheel "
                            "would remove the whole folder)")
        else:
            problems.append(f"RECORD lists {row.path}, which is not in the wheel")
    yield from capped(problems, str)


_DRIVE = re.compile(r"^[A-Za-z]:")


@rule("R104", applies="wheel", summary="RECORD rows that escape the wheel, or hashes weaker than sha256",
      hint="RECORD paths are relative to the wheel's root; the wheel spec requires sha256 or a stronger hash")
def record_unsafe_rows(dist: DistView) -> Iterator[str]:
    rows, _ = load_record(dist)
    for row in rows or ():
        path = row.path
        if path.startswith("/") or _DRIVE.match(path) or ".." in path.split("/"):
            yield f"RECORD row {row.number} names {path!r}, a path outside the wheel"
        if row.entry is not None and row.entry.hash_ is not None and _is_weak(row.entry.hash_.name):
            yield (f"{path}: RECORD uses {row.entry.hash_.name}, which the wheel spec forbids "
                   "(it requires sha256 or stronger)")


def _is_weak(name: str) -> bool:
    return name.lower() in WEAK_HASHES or hashlib.new(name).digest_size < 32


@rule("R105", applies="wheel", summary="RECORD lists the same file more than once",
      hint="rebuild the wheel; each file must have one RECORD row")
def record_duplicate_rows(dist: DistView) -> Iterator[str]:
    rows, _ = load_record(dist)
    numbers: dict[str, list[int]] = {}
    for row in rows or ():
        if row.path:
            numbers.setdefault(row.path, []).append(row.number)
    dups = (f"RECORD lists {p} {len(n)} times (rows {', '.join(map(str, n))})" for p, n in numbers.items() if len(n) > 1)
    yield from capped(dups, str)


@rule("R106", refused_by="installer", applies="wheel", summary="RECORD rows that installers cannot read",
      hint="each row is path,hash,size: hash as sha256=<urlsafe base64>, size in bytes; only RECORD's own row "
           "leaves both empty")
def record_malformed_rows(dist: DistView) -> Iterator[str]:
    rows, _ = load_record(dist)
    if rows is None:
        return
    yield from capped(_malformed(dist, rows), str)


def _malformed(dist: DistView, rows: list[Row]) -> Iterator[str]:
    own = record_name(dist)
    files = set(_archive_files(dist))
    for row in rows:
        if not row.elements:
            # csv gives an empty row for a blank line: pip fails on it (IndexError), installer refuses it,
            # and warehouse's RECORD check (`for fn, *_ in csv.reader(...)`) crashes on it (HTTP 500).
            yield f"RECORD row {row.number} is an empty line: pip, installer and PyPI's upload check fail on it"
        elif row.problem:
            yield f"RECORD row {row.number} ({row.elements[0]!r}) {_phrase(row.problem)}"
        elif row.entry is not None and row.path == own:
            if row.entry.hash_ is not None or row.entry.size is not None:
                yield f"RECORD row {row.number}: RECORD's own row must leave hash and size empty"
        elif row.entry is not None and row.path in files and not _is_signature(dist, row.path):
            # installers ask a hash and size of the files they install only: a row naming a folder or an
            # absent file passes them (R103 and R104 judge those rows)
            if row.entry.hash_ is None or row.entry.size is None:
                yield f"RECORD row {row.number} ({row.path}) has no {'hash' if row.entry.hash_ is None else 'size'}"


def _phrase(problem: str) -> str:
    return problem if problem.startswith("has ") else f"is invalid: {problem}"

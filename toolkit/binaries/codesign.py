"""Apple code signatures embedded in Mach-O slices (LC_CODE_SIGNATURE), read and checked in pure Python:
each CodeDirectory's page hashes against the slice's bytes and its special slots against the blobs.

No library of the field reads these off macOS (macholib stops at the load command; codesign is
Apple's), so the SuperBlob / CodeDirectory layout of Apple's cs_blobs.h is parsed here by hand.
All fields are big-endian, offsets relative to the blob that holds them.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

LC_CODE_SIGNATURE = 0x1D
SUPERBLOB_MAGIC = 0xFADE0CC0
CODEDIRECTORY_MAGIC = 0xFADE0C02
BLOBWRAPPER_MAGIC = 0xFADE0B01  # the CMS signature slot; 8 bytes (empty) in an ad-hoc signature
CS_ADHOC = 0x2
_CD_SLOTS = {0} | set(range(0x1000, 0x1005))  # the CodeDirectory and its alternates (e.g. SHA-1 + SHA-256)
_CMS_SLOT = 0x10000
# hashType -> (hashlib name, bytes kept): cs_blobs.h's CS_HASHTYPE_SHA1, SHA256, SHA256_TRUNCATED, SHA384
_HASHES = {1: ("sha1", 20), 2: ("sha256", 32), 3: ("sha256", 20), 4: ("sha384", 48)}
_CD_HEAD = struct.Struct(">9I4BI")  # magic .. spare2: 44 bytes, in every version


@dataclass(frozen=True)
class CodeDirectory:
    offset: int  # in the slice
    flags: int
    hash_offset: int
    special_slots: int
    code_slots: int
    code_limit: int
    hash_size: int
    hash_type: int
    page_shift: int
    identifier: str

    def slot(self, index: int) -> int:
        """Where hash slot `index` is in the slice (negative: special slots, 0..: pages)."""
        return self.offset + self.hash_offset + index * self.hash_size


@dataclass(frozen=True)
class Signature:
    offset: int  # of the SuperBlob, in the slice
    size: int  # LC_CODE_SIGNATURE's datasize
    blobs: dict[int, tuple[int, int]]  # slot type -> (offset in the slice, length)
    directories: tuple[CodeDirectory, ...]


class SignatureError(ValueError):
    """The signature's structure cannot be read (truncated, wrong magic)."""


def slice_signature(header: Any, data: bytes | bytearray) -> Signature | None:
    """The signature of one macholib slice header of `data` (the whole file); None when unsigned."""
    found = [cmd for lc, cmd, _ in header.commands if lc.cmd == LC_CODE_SIGNATURE]
    if not found:
        return None
    start, size = found[0].dataoff, found[0].datasize
    view = memoryview(data)[header.offset:header.offset + header.size]
    if start + 12 > len(view):
        raise SignatureError("LC_CODE_SIGNATURE points past the end of the slice")
    magic, _length, count = struct.unpack_from(">3I", view, start)
    if magic != SUPERBLOB_MAGIC:
        raise SignatureError(f"the signature's magic is {magic:#x}, not an embedded SuperBlob")
    blobs = {}
    for i in range(count):
        kind, rel = struct.unpack_from(">2I", view, start + 12 + 8 * i)
        _magic, length = struct.unpack_from(">2I", view, start + rel)
        blobs[kind] = (start + rel, length)
    dirs = tuple(_directory(view, *blobs[k]) for k in sorted(blobs) if k in _CD_SLOTS)
    if not dirs:
        raise SignatureError("the signature holds no CodeDirectory")
    return Signature(start, size, blobs, dirs)


def _directory(view: memoryview, offset: int, length: int) -> CodeDirectory:
    (magic, _length, version, flags, hash_offset, ident, special, code, limit, hash_size, hash_type, _platform,
     page_shift, _spare) = _CD_HEAD.unpack_from(view, offset)
    if magic != CODEDIRECTORY_MAGIC or hash_type not in _HASHES:
        raise SignatureError(f"a CodeDirectory with magic {magic:#x} and hash type {hash_type}")
    if version >= 0x20300 and limit == 0:  # codeLimit64 (after scatter, team, spare3) for code past 4 GiB
        limit = struct.unpack_from(">Q", view, offset + 56)[0]
    name = bytes(view[offset + ident:offset + length]).split(b"\0", 1)[0].decode("utf-8", "replace")
    return CodeDirectory(offset, flags, hash_offset, special, code, limit, hash_size, hash_type, page_shift, name)


def hash_of(directory: CodeDirectory, data: bytes | memoryview) -> bytes:
    name, size = _HASHES[directory.hash_type]
    return hashlib.new(name, data).digest()[:size]


def expected_hashes(signature: Signature, directory: CodeDirectory,
                    view: memoryview) -> Iterator[tuple[int, bytes | None]]:
    """(slot index, the hash the bytes give) for every slot; None for a special slot whose blob is
    outside the file (Info.plist, resources: a bundle's, never a wheel's), which cannot be recomputed."""
    for slot in range(1, directory.special_slots + 1):
        blob = signature.blobs.get(slot)
        if blob is not None:
            yield -slot, hash_of(directory, view[blob[0]:blob[0] + blob[1]])
        else:
            stored = bytes(view[directory.slot(-slot):directory.slot(-slot) + directory.hash_size])
            yield -slot, (None if any(stored) else stored)  # an empty slot is zeros
    page = 1 << directory.page_shift if directory.page_shift else directory.code_limit
    for index in range(directory.code_slots):
        yield index, hash_of(directory, view[index * page:min((index + 1) * page, directory.code_limit)])


def signature_problems(data: bytes | bytearray, header: Any, where: str) -> list[str]:
    """What does not match in one slice's signature (empty: every hash matches its bytes)."""
    try:
        signature = slice_signature(header, data)
    except (SignatureError, struct.error, KeyError) as exc:
        return [f"{where}: unreadable code signature ({exc})"]
    if signature is None:
        return []
    view = memoryview(data)[header.offset:header.offset + header.size]
    problems = []
    for cd in signature.directories:
        page = 1 << cd.page_shift if cd.page_shift else max(cd.code_limit, 1)
        if cd.code_limit != signature.offset or cd.code_slots != -(-cd.code_limit // page):
            problems.append(f"{where}: the signature covers {cd.code_limit} bytes in {cd.code_slots} pages, "
                            f"the code is {signature.offset} bytes")
            continue
        bad = [slot for slot, want in expected_hashes(signature, cd, view)
               if want is not None and bytes(view[cd.slot(slot):cd.slot(slot) + cd.hash_size]) != want]
        if bad:
            pages = [s for s in bad if s >= 0]
            special = [-s for s in bad if s < 0]
            problems.append(f"{where}: {cd.identifier!r} signature does not match the bytes ("
                            + ", ".join(filter(None, [f"{len(pages)} of {cd.code_slots} pages" if pages else "",
                                                      f"special slots {special}" if special else ""])) + ")")
    return problems

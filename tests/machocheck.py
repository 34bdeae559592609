"""A reader of what a macOS loader checks, for tests on any host (there is no macOS here): where each load
command of a wheel's Mach-O files resolves, and whether each slice's code signature matches its bytes (the
page hashes of the CodeDirectory, as the kernel checks them for arm64). macholib finds the load commands;
the signature blobs are read by hand here, since no Python library verifies them."""

from __future__ import annotations

import hashlib
import posixpath
import struct
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

LC_RPATH = 0x8000001C
LC_CODE_SIGNATURE = 0x1D
CSMAGIC_EMBEDDED_SIGNATURE = 0xFADE0CC0
CSMAGIC_CODEDIRECTORY = 0xFADE0C02
CSSLOT_CODEDIRECTORY = 0
CS_HASHES = {1: "sha1", 2: "sha256"}
SYSTEM = ("/usr/lib/", "/System/")


def macho_members(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as zf:
        return {n: zf.read(n) for n in zf.namelist()
                if zf.read(n)[:4] in (b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe")}


def slices(data: bytes) -> Iterator[object]:
    from macholib.MachO import MachO

    with tempfile.NamedTemporaryFile(suffix=".so") as f:
        f.write(data)
        f.flush()
        yield from MachO(f.name).headers


def unresolved(wheel: Path) -> list[str]:
    """Every load command (in every slice) that names neither a system library nor a member of the wheel."""
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    found = []
    for member, data in macho_members(wheel).items():
        here = posixpath.dirname(member)
        for header in slices(data):
            rpaths = [d.rstrip(b"\0").decode() for lc, _c, d in header.commands if lc.cmd == LC_RPATH]
            for _i, kind, name in header.walkRelocatables():
                if kind == "LC_ID_DYLIB" or name.startswith(SYSTEM):
                    continue
                tries = [name] if not name.startswith("@rpath/") else [
                    posixpath.join(r, name[len("@rpath/"):]) for r in rpaths]
                resolved = [posixpath.normpath(t.replace("@loader_path", here, 1)) for t in tries]
                if not any(r in names for r in resolved):
                    found.append(f"{member}: {name}")
    return sorted(set(found))


def bad_signatures(wheel: Path) -> list[str]:
    """Every slice whose code signature is missing or whose page hashes do not match its bytes."""
    found = []
    for member, data in macho_members(wheel).items():
        for header in slices(data):
            why = signature_problem(data, header)
            if why:
                found.append(f"{member} ({header.header.cputype}): {why}")
    return found


def signature_problem(data: bytes, header: object) -> str | None:
    start = header.offset  # type: ignore[attr-defined]
    sig = [c for lc, c, _d in header.commands if lc.cmd == LC_CODE_SIGNATURE]  # type: ignore[attr-defined]
    if not sig:
        return "not signed"
    at = start + sig[0].dataoff
    magic, _length, count = struct.unpack(">III", data[at:at + 12])
    if magic != CSMAGIC_EMBEDDED_SIGNATURE:
        return "no embedded signature"
    slots = dict(struct.unpack(">II", data[at + 12 + 8 * i:at + 20 + 8 * i]) for i in range(count))
    if CSSLOT_CODEDIRECTORY not in slots:
        return "no CodeDirectory"
    cd = at + slots[CSSLOT_CODEDIRECTORY]
    (magic, _length, _version, _flags, hash_offset, _ident, _special, n_code, code_limit, hash_size, hash_type,
     _platform, page_log2) = struct.unpack(">IIIIIIIIIBBBB", data[cd:cd + 40])
    if magic != CSMAGIC_CODEDIRECTORY or hash_type not in CS_HASHES:
        return "unreadable CodeDirectory"
    if code_limit != sig[0].dataoff:
        return f"the signature covers {code_limit} bytes, the code ends at {sig[0].dataoff}"
    page = 1 << page_log2
    for i in range(n_code):
        chunk = data[start + i * page:start + min((i + 1) * page, code_limit)]
        stored = data[cd + hash_offset + i * hash_size:cd + hash_offset + (i + 1) * hash_size]
        if hashlib.new(CS_HASHES[hash_type], chunk).digest()[:hash_size] != stored:
            return f"page {i} does not match its hash"
    return None

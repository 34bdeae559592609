"""Write zip and tar archives byte by byte, for tests about archive structure.

zipfile and tarfile only write correct archives; these writers can also write every
defect PyPI refuses (APPNOTE.TXT for zip, POSIX ustar/pax and GNU tar for tar).
"""

from __future__ import annotations

import bz2
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

LOCAL, CENTRAL, EOCD = b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"
EOCD64, LOCATOR = b"PK\x06\x06", b"PK\x06\x07"
UTF8_FLAG = 0x800
FF32, FF16 = 0xFFFFFFFF, 0xFFFF


def extra(kind: int, body: bytes) -> bytes:
    return struct.pack("<HH", kind, len(body)) + body


def zip64_extra(*sizes: int) -> bytes:
    return extra(0x0001, b"".join(struct.pack("<Q", s) for s in sizes))


def unicode_path_extra(name: bytes, crc_of: bytes = b"") -> bytes:
    return extra(0x7075, b"\x01" + struct.pack("<L", zlib.crc32(crc_of)) + name)


def deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


@dataclass
class Entry:
    name: str | bytes
    data: bytes = b"x = 1\n"
    method: int = 0  # 0 stored, 8 deflated, 12 bzip2, or any number (then `payload` is written)
    flags: int | None = None  # default: the UTF-8 flag when the name is a non-ASCII str
    mode: int = 0o100644  # unix mode, in the central directory's external attributes
    local_extra: bytes = b""
    central_extra: bytes = b""
    comment: bytes = b""  # the entry's central-directory comment
    local_name: bytes | None = None  # a different name in the local header
    local_sizes: tuple[int, int] | None = None  # (compressed, uncompressed) written in the local header
    sizes: tuple[int, int] | None = None  # the same, in both headers (e.g. a bomb's declared size)
    descriptor: bool = False  # general-purpose bit 3: sizes zero locally, a data descriptor follows
    zip64: bool = False  # sizes as 0xFFFFFFFF with ZIP64 extras in both headers
    in_local: bool = True
    in_central: bool = True
    payload: bytes | None = None  # the compressed bytes to write instead of compressing `data`

    def raw_name(self) -> bytes:
        return self.name.encode() if isinstance(self.name, str) else self.name

    def packed(self) -> bytes:
        if self.payload is not None:
            return self.payload
        return {0: lambda d: d, 8: deflate, 12: bz2.compress}[self.method](self.data)

    def flag_bits(self) -> int:
        utf8 = isinstance(self.name, str) and not self.name.isascii()
        flags = self.flags if self.flags is not None else (UTF8_FLAG if utf8 else 0)
        return flags | (0x08 if self.descriptor else 0)


def local_header(e: Entry, packed: bytes) -> bytes:
    csize, usize = e.local_sizes or e.sizes or (len(packed), len(e.data))
    local_extra = e.local_extra
    if e.zip64:
        local_extra = zip64_extra(usize, csize) + local_extra
        csize = usize = FF32
    crc = zlib.crc32(e.data)
    if e.descriptor:
        crc = csize = usize = 0
    name = e.local_name if e.local_name is not None else e.raw_name()
    head = struct.pack("<4sHHHHHLLLHH", LOCAL, 45 if e.zip64 else 20, e.flag_bits(), e.method, 0, 0x21,
                       crc, csize, usize, len(name), len(local_extra))
    return head + name + local_extra


def central_header(e: Entry, packed: bytes, offset: int) -> bytes:
    csize, usize = e.sizes or (len(packed), len(e.data))
    central_extra = e.central_extra
    if e.zip64:
        central_extra = zip64_extra(usize, csize) + central_extra
        csize = usize = FF32
    name = e.raw_name()
    head = struct.pack("<4sHHHHHHLLLHHHHHLL", CENTRAL, 0x0314, 45 if e.zip64 else 20, e.flag_bits(), e.method,
                       0, 0x21, zlib.crc32(e.data), csize, usize, len(name), len(central_extra), len(e.comment),
                       0, 0, e.mode << 16, offset)
    return head + name + central_extra + e.comment


def build_zip(
    entries: Sequence[Entry],
    *,
    comment: bytes = b"",
    prepend: bytes = b"",
    before_cd: bytes = b"",
    append: bytes = b"",
    zip64_end: bool = False,
    count: int | None = None,
    count_on_disk: int | None = None,
    cd_offset: int | None = None,
    cd_size: int | None = None,
) -> bytes:
    """A zip of `entries`; offsets are written as if `prepend` were not there (a stub before a zip)."""
    body, offsets = bytearray(), []
    for e in entries:
        offsets.append(len(body))
        if not e.in_local:
            continue
        packed = e.packed()
        body += local_header(e, packed) + packed
        if e.descriptor:
            body += struct.pack("<4sLLL", b"PK\x07\x08", zlib.crc32(e.data), len(packed), len(e.data))
    body += before_cd
    start = len(body)
    for e, offset in zip(entries, offsets, strict=True):
        if e.in_central:
            body += central_header(e, e.packed(), offset)
    records = sum(e.in_central for e in entries)
    size, offset = len(body) - start, start
    end = b""
    if zip64_end:
        end += struct.pack("<4sQHHLLQQQQ", EOCD64, 44, 45, 45, 0, 0, records, records, size, offset)
        end += struct.pack("<4sLQL", LOCATOR, 0, len(body), 1)
        records16, size32, offset32 = FF16, FF32, FF32
    else:
        records16, size32, offset32 = records, size, offset
    total = records16 if count is None else count
    end += struct.pack("<4sHHHHLLH", EOCD, 0, 0, total if count_on_disk is None else count_on_disk, total,
                       size32 if cd_size is None else cd_size, offset32 if cd_offset is None else cd_offset,
                       len(comment)) + comment
    return prepend + bytes(body) + end + append


# -- tar ---------------------------------------------------------------------------------


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\x00" % (width - 1, value)


def tar_header(
    name: str,
    size: int = 0,
    *,
    type: bytes = b"0",
    mode: int = 0o644,
    linkname: str = "",
    devmajor: int = 0,
    sparse: Sequence[tuple[int, int]] | None = None,
    realsize: int = 0,
) -> bytes:
    """One 512-byte ustar header (GNU format when `sparse` is given: an old GNU 'S' member)."""
    h = bytearray(512)
    h[0:100] = name.encode().ljust(100, b"\x00")[:100]
    h[100:108] = _octal(mode, 8)
    h[108:116] = _octal(0, 8)
    h[116:124] = _octal(0, 8)
    h[124:136] = _octal(size, 12)
    h[136:148] = _octal(1700000000, 12)
    h[156:157] = type
    h[157:257] = linkname.encode().ljust(100, b"\x00")[:100]
    h[329:337] = _octal(devmajor, 8)
    h[337:345] = _octal(0, 8)
    if sparse is None:
        h[257:265] = b"ustar\x0000"
    else:
        h[257:265] = b"ustar  \x00"
        for i, (offset, numbytes) in enumerate(sparse[:4]):
            at = 386 + 24 * i
            h[at : at + 12] = _octal(offset, 12)
            h[at + 12 : at + 24] = _octal(numbytes, 12)
        h[483:495] = _octal(realsize, 12)
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\x00 " % sum(h)
    return bytes(h)


def _padded(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 512)


def tar_member(name: str, data: bytes = b"", **header: object) -> bytes:
    return tar_header(name, len(data), **header) + _padded(data)  # type: ignore[arg-type]


def pax_record(key: str, value: str) -> bytes:
    """One "<length> key=value\n" record; the length counts its own digits."""
    payload = f" {key}={value}\n".encode()
    n = len(payload) + 1
    while len(str(n)) + len(payload) != n:
        n = len(str(n)) + len(payload)
    return str(n).encode() + payload


def pax_member(records: dict[str, str], name: str, data: bytes = b"") -> bytes:
    """A PAX extended header ('x') with `records`, then the member it describes."""
    body = b"".join(pax_record(k, v) for k, v in records.items())
    return tar_header("././@PaxHeader", len(body), type=b"x") + _padded(body) + tar_member(name, data)


def build_tar(*members: bytes) -> bytes:
    """Members, then the two zero blocks that end a tar, padded to tar's 10 KiB record."""
    data = b"".join(members) + b"\x00" * 1024
    return data + b"\x00" * (-len(data) % 10240)

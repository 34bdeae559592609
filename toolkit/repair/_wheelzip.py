"""Rewriting a repaired wheel: its RECORD made anew, the SBOM added, members deflated on every core.

The repair tools each write a wheel of their own; toolkit then adds its SBOM and
a RECORD that covers it. zipfile cannot take members compressed elsewhere, so a
rewrite with it would deflate every member again, one after another, which is
most of the cost of a repair with large libraries. This writer copies members
that are already deflated as they are, and deflates the others in threads (zlib
releases the GIL), at zlib's default level with zlib-ng where it is installed.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import struct
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

_deflate_lib: ModuleType
try:
    # zlib-ng deflates about 3.5 times faster than zlib at the default level, output within 2% of zlib's size
    # (measured on shared libraries; benchmarks/repair.py): a repair's cost is mostly this deflate.
    from zlib_ng import zlib_ng as _deflate_lib
except ImportError:  # pragma: no cover - platforms without zlib-ng wheels
    _deflate_lib = zlib

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_ZIP64_LIMIT = 0xFFFFFFFF
_UTF8 = 0x800
_MADE_BY_UNIX = (3 << 8) | 20
_BLOCK = 1 << 20  # large members are deflated in blocks of this size, in parallel
_WINDOW = 1 << 15  # deflate's window: each block is primed with this much of what precedes it


@dataclass
class Member:
    name: str
    data: bytes | None  # uncompressed bytes (None when only the raw deflated bytes are kept)
    mode: int  # st_mode bits for the external attributes
    date_time: tuple[int, int, int, int, int, int]
    raw: bytes | None = None  # the deflated bytes, when copied as they are
    crc: int = 0
    size: int = 0


def read_members(path: Path) -> list[Member]:
    """Every file member of a wheel; deflated ones kept compressed, their hash taken from a read of them."""
    members = []
    with zipfile.ZipFile(path) as zf, open(path, "rb") as f:
        for info in zf.infolist():
            if info.is_dir():
                continue
            mode = (info.external_attr >> 16) or 0o100644
            # Copied as it is only when truly deflated: auditwheel is asked for level 0 (stored blocks inside
            # deflate), since toolkit writes the final wheel itself.
            if info.compress_type == zipfile.ZIP_DEFLATED and info.compress_size < min(info.file_size, _ZIP64_LIMIT):
                f.seek(info.header_offset)
                head = _LOCAL.unpack(f.read(_LOCAL.size))
                f.seek(info.header_offset + _LOCAL.size + head[9] + head[10])
                members.append(Member(info.filename, None, mode, info.date_time, f.read(info.compress_size),
                                      info.CRC, info.file_size))
            else:
                members.append(Member(info.filename, zf.read(info), mode, info.date_time))
    return members


def record_line_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def rewrite(src: Path, dst: Path, dist_info: str, add: Mapping[str, bytes]) -> None:
    """Write `src` to `dst` with the members `add` added (or replaced) and a new RECORD."""
    members = [m for m in read_members(src) if m.name not in add and m.name != f"{dist_info}/RECORD"]
    stamp = max((m.date_time for m in members), default=(1980, 1, 1, 0, 0, 0))
    members += [Member(name, data, 0o100644, stamp) for name, data in add.items()]
    old_record = _old_record(src, dist_info)
    rows = []
    for m in members:
        # The tool hashed what it wrote (the check stage verifies RECORD afterwards): hash only what it did not list.
        known = old_record.get(m.name) if m.name not in add else None
        if m.data is None and known is None:  # a deflated member without a RECORD line: read it to hash it
            m.data, m.raw = zlib.decompress(m.raw or b"", -15), None
        rows.append((m.name, *(known or (record_line_hash(m.data or b""), str(len(m.data or b""))))))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(rows)
    writer.writerow((f"{dist_info}/RECORD", "", ""))
    members.append(Member(f"{dist_info}/RECORD", out.getvalue().encode(), 0o100644, stamp))
    write_zip(dst, members)


def _old_record(src: Path, dist_info: str) -> dict[str, tuple[str, str]]:
    """The RECORD the repair tool wrote (it hashed what it wrote), for members copied as they are."""
    with zipfile.ZipFile(src) as zf:
        try:
            text = zf.read(f"{dist_info}/RECORD").decode("utf-8")
        except KeyError:
            return {}
    return {row[0]: (row[1], row[2]) for row in csv.reader(io.StringIO(text)) if len(row) == 3 and row[1]}


def write_zip(dst: Path, members: list[Member]) -> None:
    """A zip of `members` in their order; deflated in threads. Falls back to zipfile where zip64 is needed."""
    if len(members) >= 0xFFFF or sum(len(m.data or m.raw or b"") for m in members) >= _ZIP64_LIMIT:
        _write_with_zipfile(dst, members)
        return
    jobs = min(os.cpu_count() or 1, 4)
    todo = [m for m in members if m.raw is None]
    # Large members are cut into blocks deflated on every core, as pigz does: each block starts from
    # the previous block's last 32 KiB as its dictionary, so the output is as small as one stream's.
    blocks = [(i, start) for i, m in enumerate(todo) for start in range(0, max(len(m.data or b""), 1), _BLOCK)]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        parts = list(pool.map(lambda b: _deflate_block(todo[b[0]].data or b"", b[1]), blocks))
    for i, m in enumerate(todo):
        data = m.data or b""
        m.raw = b"".join(part for (j, _start), part in zip(blocks, parts, strict=True) if j == i)
        m.crc, m.size = zlib.crc32(data), len(data)
    _write_raw(dst, members)


def _deflate_block(data: bytes, start: int) -> bytes:
    """Raw deflate of data[start:start + _BLOCK]; a sync flush ends every block but the last."""
    end = min(start + _BLOCK, len(data))
    window = data[max(0, start - _WINDOW):start]
    lib = _deflate_lib
    compressor = (lib.compressobj(lib.Z_DEFAULT_COMPRESSION, lib.DEFLATED, -15, zdict=window) if window
                  else lib.compressobj(lib.Z_DEFAULT_COMPRESSION, lib.DEFLATED, -15))
    out = compressor.compress(data[start:end])
    return out + compressor.flush(lib.Z_FINISH if end >= len(data) else lib.Z_SYNC_FLUSH)


def _dos_time(date_time: tuple[int, ...]) -> tuple[int, int]:
    y, mo, d, h, mi, s = date_time
    y = min(max(y, 1980), 2107)
    return (h << 11) | (mi << 5) | (s // 2), ((y - 1980) << 9) | (mo << 5) | d


def _write_raw(dst: Path, members: Iterable[Member]) -> None:
    central = []
    with open(dst, "wb") as f:
        for m in members:
            name = m.name.encode("utf-8")
            flags = 0 if name.isascii() else _UTF8
            dos_time, dos_date = _dos_time(m.date_time)
            raw = m.raw or b""
            offset = f.tell()
            f.write(_LOCAL.pack(0x04034B50, 20, flags, 8, dos_time, dos_date, m.crc, len(raw), m.size, len(name), 0))
            f.write(name)
            f.write(raw)
            central.append(_CENTRAL.pack(0x02014B50, _MADE_BY_UNIX, 20, flags, 8, dos_time, dos_date, m.crc, len(raw),
                                         m.size, len(name), 0, 0, 0, 0, (m.mode & 0xFFFF) << 16, offset) + name)
        start = f.tell()
        for entry in central:
            f.write(entry)
        f.write(_END.pack(0x06054B50, 0, 0, len(central), len(central), f.tell() - start, start, 0))


def _write_with_zipfile(dst: Path, members: Iterable[Member]) -> None:
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for m in members:
            info = zipfile.ZipInfo(m.name, date_time=m.date_time)
            info.external_attr = (m.mode & 0xFFFF) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, m.data if m.data is not None else zlib.decompress(m.raw or b"", -15))

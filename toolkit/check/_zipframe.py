"""The ZIP record-by-record framing walk behind PyPI's Z005 (part of check/archive.py).

Walks a zip from byte 0 and returns PyPI's reason for refusing its framing, so
that a streaming reader and a central-directory reader cannot see different files.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from toolkit.targz import Bytes

# Hand-written: zipfile reads the central directory only and tolerates what PyPI
# refuses here (prepended data, data descriptors, local/central mismatches).
SIG_LOCAL = b"PK\x03\x04"
SIG_CENTRAL = b"PK\x01\x02"
SIG_EOCD = b"PK\x05\x06"
SIG_EOCD64 = b"PK\x06\x06"
SIG_LOCATOR = b"PK\x06\x07"
EXTRA_ZIP64 = 0x0001
EXTRA_UNICODE_PATH = 0x7075
_NO_REPEAT_EXTRAS = {EXTRA_ZIP64, EXTRA_UNICODE_PATH}
_FF32 = 0xFFFFFFFF


class Refused(Exception):
    """A framing problem: args[0] is PyPI's reason; `where` says which record, for the hint."""

    def __init__(self, reason: str, where: str | None = None) -> None:
        super().__init__(reason)
        self.where = where


@dataclass
class _Cursor:
    data: Bytes
    pos: int = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise Refused("Malformed zip file", f"a record is cut short at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def skip(self, n: int) -> None:
        # like a seek: may move past the end; the next take() then fails
        self.pos += n


@dataclass
class _State:
    local: set[bytes] = field(default_factory=set)
    central: set[bytes] = field(default_factory=set)
    cd_offset: int | None = None
    cd_records: int = 0
    cd_size: int = 0
    eocd64_at: int | None = None
    locator_seen: bool = False
    end: tuple[int, int, int] | None = None  # records, size, offset from EOCD64 or EOCD


def walk(data: Bytes, sizes: dict[str, tuple[int, int]]) -> Refused | None:
    """PyPI's framing verdict; `sizes` maps each central-directory name (as zipfile
    decodes it) to its (compressed, uncompressed) size."""
    cur, st = _Cursor(data), _State()
    try:
        while True:
            at = cur.pos
            sig = cur.take(4)
            if sig == SIG_EOCD and st.eocd64_at is not None and not st.locator_seen:
                raise Refused("Malformed zip file", "a ZIP64 end record without its locator")
            if sig == SIG_CENTRAL:
                _central(cur, st, at)
            elif sig == SIG_LOCAL:
                name = _local(cur, sizes)
                if name in st.local:
                    raise Refused("Duplicate filename in local headers", _show(name))
                st.local.add(name)
            elif sig == SIG_EOCD:
                _eocd(cur, st, at)
                break
            elif sig == SIG_EOCD64:
                st.eocd64_at = at
                st.end = _eocd64(cur)
            elif sig == SIG_LOCATOR:
                cur.take(16)
                st.locator_seen = True
            else:
                what = "data before the first record" if at == 0 else f"bytes {sig.hex()} at offset {at}"
                raise Refused("Unknown record signature", what)
    except Refused as refused:
        return refused
    if st.local != st.central:
        return Refused("Mis-matched local headers and central directory")
    if cur.pos != len(data):
        return Refused("Trailing data", f"{len(data) - cur.pos} byte(s) after the end record and its comment")
    return None


def _central(cur: _Cursor, st: _State, at: int) -> None:
    if st.cd_offset is None:
        st.cd_offset = at
    st.cd_records += 1
    name_len, extra_len, comment_len = struct.unpack("<HHH", cur.take(42)[24:30])
    if comment_len:
        raise Refused("Comment in central directory", _show(cur.data[cur.pos : cur.pos + name_len]))
    name = cur.take(name_len)
    extra = cur.take(extra_len)
    if _has_control(name):
        raise Refused("Invalid character in filename", _show(name))
    st.cd_size += 46 + len(name) + len(extra)
    if name in st.central:
        raise Refused("Duplicate filename in central directory", _show(name))
    if name not in st.local:
        raise Refused("Missing filename in local headers", _show(name))
    st.central.add(name)


def _local(cur: _Cursor, sizes: dict[str, tuple[int, int]]) -> bytes:
    flags, method, csize, usize, name_len, extra_len = struct.unpack("<xxHHxxxxxxxxLLHH", cur.take(26))
    name = cur.take(name_len)
    extra = cur.take(extra_len)
    if _has_control(name):
        raise Refused("Invalid character in filename", _show(name))
    csize, usize = _local_extras(extra, method, csize, usize, name)
    if flags & 0x08:
        raise Refused("ZIP contains a data descriptor", _show(name))
    try:
        text = name.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("Filename not unicode", _show(name)) from None
    if text not in sizes:
        raise Refused("Filename not in central directory", _show(name))
    if sizes[text][0] != csize:
        raise Refused("Mis-matched data size", _show(name))
    if sizes[text][1] != usize:
        raise Refused("Mis-matched file size", _show(name))
    cur.skip(csize)
    return name


def _local_extras(extra: bytes, method: int, csize: int, usize: int, name: bytes) -> tuple[int, int]:
    """The local sizes once the ZIP64 extra is applied, refusing malformed or repeated extras."""
    seen: set[int] = set()
    while extra:
        if len(extra) < 4:
            raise Refused("Malformed zip file", f"a cut extra field in {_show(name)}")
        kind, size = struct.unpack("<HH", extra[:4])
        if size + 4 > len(extra):
            raise Refused("Malformed zip file", f"a cut extra field in {_show(name)}")
        if kind in seen and kind in _NO_REPEAT_EXTRAS:
            raise Refused("Invalid duplicate extra in local file", _show(name))
        seen.add(kind)
        body = extra[4 : 4 + size]
        if kind == EXTRA_ZIP64:
            csize, usize = _zip64_sizes(body, method, csize, usize, name)
        elif kind == EXTRA_UNICODE_PATH:
            unicode_name = body[5:]  # version (1 byte) and name CRC (4 bytes) come first
            if _has_control(unicode_name):
                raise Refused("Invalid character in filename", _show(name))
            try:
                unicode_name.decode("utf-8")
            except UnicodeDecodeError:
                raise Refused("Filename not valid UTF-8", _show(name)) from None
        extra = extra[4 + size :]
    return csize, usize


def _zip64_sizes(body: bytes, method: int, csize: int, usize: int, name: bytes) -> tuple[int, int]:
    bad = Refused("Malformed zip file", f"a malformed ZIP64 extra in {_show(name)}")
    if len(body) not in (0, 8, 16, 24, 28):
        raise bad
    if not body:
        if _FF32 in (csize, usize):
            raise bad
        return csize, usize
    if len(body) == 8:  # only one size: the entry must be stored, so both sizes are equal
        if method != 0:
            raise bad
        (size,) = struct.unpack("<Q", body)
        return size, size if usize == _FF32 else usize
    first, second = struct.unpack("<QQ", body[:16])
    return second, first if usize == _FF32 else usize


def _eocd(cur: _Cursor, st: _State, at: int) -> None:
    if st.cd_offset is None:  # an empty archive: the directory starts (and ends) here
        st.cd_offset = at
    on_disk, records, size, offset, comment_len = struct.unpack("<xxxxHHLLH", cur.take(18))
    if on_disk != records:
        raise Refused("Malformed zip file", "the end record's disk counts differ")
    cur.skip(comment_len)
    if not (st.locator_seen and st.end is not None):
        st.end = (records, size, offset)
    records, size, offset = st.end
    if records != st.cd_records:
        raise Refused("Mismatched central directory records", f"{records} declared, {st.cd_records} found")
    if offset != st.cd_offset:
        raise Refused("Mismatched central directory offset", f"{offset} declared, found at {st.cd_offset}")
    if size != st.cd_size:
        raise Refused("Mismatched central directory size", f"{size} declared, {st.cd_size} found")


def _eocd64(cur: _Cursor) -> tuple[int, int, int]:
    length, on_disk, records, size, offset = struct.unpack("<QxxxxxxxxxxxxQQQQ", cur.take(52))
    if on_disk != records:
        raise Refused("Malformed zip file", "the ZIP64 end record's disk counts differ")
    if length != 44:
        raise Refused("ZIP64 extensible data not allowed")
    return records, size, offset


def oversized_directory(data: Bytes, limit: int) -> str | None:
    """Why the central directory the end records declare is too large to read (a ZIP64 end record
    can declare the whole file as one), or None. Finding the end records reads at most the last
    64 KiB (zipfile's own search, on the same bytes zipfile will see)."""
    import io
    import zipfile

    find_end = getattr(zipfile, "_EndRecData", None)
    if find_end is None:  # pragma: no cover - a Python without it: zipfile alone decides
        return None
    tail_start = max(0, len(data) - (1 << 16) - 22 - 20 - 56)

    class _Tail(io.RawIOBase):  # the file's tail, seen at its real offsets (zipfile seeks from the end)
        def __init__(self) -> None:
            self.pos = 0

        def seek(self, offset: int, whence: int = 0) -> int:
            self.pos = {0: 0, 1: self.pos, 2: len(data)}[whence] + offset
            return self.pos

        def tell(self) -> int:
            return self.pos

        def read(self, n: int = -1) -> bytes:
            end = len(data) if n is None or n < 0 else self.pos + n
            out = data[max(self.pos, tail_start) : min(end, len(data))] if end > tail_start else b""
            self.pos += len(out)
            return out

    try:
        end = find_end(_Tail())
    except Exception:  # zipfile's own error comes later, from ZipFile
        return None
    if not end:
        return None
    size = end[5]  # _ECD_SIZE: the central directory's size, from the ZIP64 end record when there is one
    if size > limit:
        return f"its end record declares a central directory of {size:,} bytes, over the {limit:,} toolkit reads"
    return None


_CONTROL_RE = re.compile(rb"[\x00-\x1f\x7f]")


def _has_control(name: bytes) -> bool:
    return _CONTROL_RE.search(name) is not None


def _show(name: bytes) -> str:
    return f"member {name.decode('utf-8', 'backslashreplace')!r}"

"""Stage 3, check: the archive walk. One read-only view of a wheel or sdist gives the
index of its members (nothing is extracted) and the container problems found on the way:
PyPI's refusals (Z001-Z007, with PyPI's text) and toolkit's stricter ones (Z101-Z107).
"""

from __future__ import annotations

import bz2
import dataclasses
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

from toolkit import targz
from toolkit.check import _members, _targz, _zipframe
from toolkit.targz import Bytes

Kind = Literal["file", "dir", "symlink", "hardlink", "device", "fifo", "other"]
Data = Bytes

REFUSED = "Invalid distribution file. "
_SEE = "See https://docs.pypi.org/archives for more information"
POLYGLOT = REFUSED + "File is both a zip and a tar file"
NOT_ZIP = REFUSED + "File is not a zipfile"
NOT_TAR = REFUSED + "File is not a tarfile"
BROKEN = REFUSED + "None"  # PyPI's text when zipfile/tarfile fail part-way (the reason is None)
BOMB = REFUSED + "File exceeds compression ratio of 50"
METHOD = REFUSED + "File does not use a supported compression type"
SPARSE = REFUSED + "tar archive not accepted: Sparse members are not allowed. " + _SEE
BOMB_MIN_SIZE = 64 << 20  # PyPI: refused when the declared total is above this...
BOMB_RATIO = 50  # ...and more than this many times the file's size

# A tar.gz can only be read forward, so the walk keeps what rules will likely read: an sdist
# is mostly small text (PKG-INFO, the .py files X001 scans). Members up to this size...
_CACHE_MEMBER = 1 << 20
_CACHE_TOTAL = 64 << 20  # ...within this budget are kept; any other read costs one more pass
_CHUNK = 1 << 20
# The central directory zipfile may read (it reads it whole, then makes an object per record):
# 32 MiB is some 300,000 members, ten times the largest wheels on PyPI.
CENTRAL_DIRECTORY_MAX = 32 << 20

_inflate_lib = targz.INFLATE_LIB
_INFLATE_ERRORS = targz.INFLATE_ERRORS
_READ_ERRORS: tuple[type[Exception], ...] = (*_INFLATE_ERRORS, OSError, EOFError, ValueError)
_METHODS = {9: "deflate64", 12: "bzip2", 14: "lzma", 93: "zstandard", 95: "xz", 98: "PPMd"}


def zip_refused(reason: str) -> str:
    return f"{REFUSED}ZIP archive not accepted: {reason}. {_SEE}"


@dataclass(frozen=True)
class Member:
    name: str  # as stored: utf-8, or cp437 for zip names without the UTF-8 flag
    kind: Kind
    size: int  # declared uncompressed size
    compressed_size: int  # zip: compressed size; tar: size
    method: int | None  # zip compression method; None for tar
    mode: int | None  # unix mode bits when known
    link_target: str | None  # for symlinks/hardlinks


class ArchiveReadError(Exception):
    pass


@dataclass
class Archive:
    """What open_archive found: the members and the problems; read() inflates one member."""

    path: Path
    format: Literal["zip", "tar"] | None  # None: could not be opened as either
    members: list[Member] = field(default_factory=list)  # archive order
    problems: list[tuple[str, str]] = field(default_factory=list)  # (code, message)
    details: dict[tuple[str, str], str] = field(default_factory=dict)  # problem -> what and where, for hints
    _data: Data = field(default=b"", repr=False)
    _zinfos: list[zipfile.ZipInfo] = field(default_factory=list, repr=False)
    _cache: dict[int, bytes] = field(default_factory=dict, repr=False)
    _index: dict[str, int] = field(default_factory=dict, repr=False)
    _closed: bool = field(default=False, repr=False)

    def add(self, code: str, message: str, detail: str | None = None) -> None:
        self.problems.append((code, message))
        if detail:
            self.details[(code, message)] = detail

    def member(self, name: str) -> Member | None:
        """The member of that name; of duplicates the last, as zipfile and tarfile pick."""
        i = self._index.get(name)
        return None if i is None else self.members[i]

    def read(self, name: str, limit: int = 64 << 20) -> bytes:
        """A member's bytes, refused before inflating when its declared size is over `limit`."""
        i = self._index.get(name)
        if i is None or self._closed:
            raise ArchiveReadError(f"{name}: no such member" if i is None else f"{name}: the archive is closed")
        m = self.members[i]
        if m.size > limit:
            raise ArchiveReadError(f"{name}: {m.size} bytes declared, over the {limit}-byte limit")
        if self.format == "zip":
            return self._read_zip(i)
        if i in self._cache:
            return self._cache[i]
        if m.kind != "file":
            raise ArchiveReadError(f"{name}: a {m.kind}, not a file")
        try:
            out = _targz.reread(self._data, i)
        except Exception as exc:  # the file changed since it was indexed
            raise ArchiveReadError(f"{name}: {exc}") from None
        if out is None:
            raise ArchiveReadError(f"{name}: not found on a second pass")
        return out

    def stream(self, name: str, chunk: int = _CHUNK) -> Iterator[bytes]:
        """A member's bytes in chunks of at most `chunk`, inflated as they are read; memory stays
        at a chunk whatever the member's size. Raises ArchiveReadError as read() does (the CRC
        and the declared size are checked at the end)."""
        i = self._index.get(name)
        if self.format != "zip" or i is None or self._closed:
            yield self.read(name, limit=1 << 62)
            return
        info = self._zinfos[i]
        if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            yield self._read_zip(i)
            return
        start = _data_start(self._data, info.header_offset, name)
        end = start + info.compress_size
        if end > len(self._data):
            raise ArchiveReadError(f"{name}: its data runs past the end of the file")
        crc, total = 0, 0
        for out in _chunks(self._data, start, end, info, chunk, name):
            total += len(out)
            if total > info.file_size:
                raise ArchiveReadError(f"{name}: inflates to more than its declared {info.file_size} bytes")
            crc = zlib.crc32(out, crc)
            yield out
        if total < info.file_size:
            raise ArchiveReadError(f"{name}: its compressed data ends early")
        if crc != info.CRC:
            raise ArchiveReadError(f"{name}: CRC-32 mismatch")

    def close(self) -> None:
        self._closed = True
        self._cache.clear()
        if isinstance(self._data, FileView):
            self._data.close()
        self._data = b""

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_zip(self, i: int) -> bytes:
        info, name = self._zinfos[i], self.members[i].name
        if info.flag_bits & 0x1:
            raise ArchiveReadError(f"{name}: encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2):
            method = _METHODS.get(info.compress_type, str(info.compress_type))
            raise ArchiveReadError(f"{name}: compressed with {method}, which toolkit does not read")
        start = _data_start(self._data, info.header_offset, name)
        end = start + info.compress_size
        if end > len(self._data):
            raise ArchiveReadError(f"{name}: its data runs past the end of the file")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.compress_size != info.file_size:
                raise ArchiveReadError(f"{name}: stored, yet its two sizes differ")
            out = self._data[start:end]
        else:
            out = _inflate(self._data, start, end, info.file_size, info.compress_type, name)
        if zlib.crc32(out) != info.CRC:
            raise ArchiveReadError(f"{name}: CRC-32 mismatch")
        return out


def open_archive(path: Path) -> Archive:
    """Index a wheel or sdist and list its container problems; never raises on malformed input
    (OSError when the file itself cannot be read)."""
    data = FileView(path)
    arch = Archive(path, None, _data=data)
    is_zip, is_tar = _sniff(zipfile.is_zipfile, data), _sniff(_targz.is_tar, data)
    polyglot = bool(is_zip and is_tar)
    if polyglot:  # PyPI stops here; the framing errors the second format causes are the same defect
        arch.add("Z001", POLYGLOT)
    lower = path.name.lower()
    if lower.endswith((".whl", ".zip")):
        if is_zip is False:
            arch.add("Z002", NOT_ZIP)
        else:
            _open_zip(arch, frame=not polyglot)
    elif lower.endswith(".tar.gz"):
        if is_tar is False:
            arch.add("Z006", NOT_TAR)
        else:
            _open_tar(arch, report=not polyglot)
    else:  # not a file PyPI takes (the filename rules say why): index it, judge nothing
        if is_zip:
            _open_zip(arch, frame=False)
        elif is_tar:
            _open_tar(arch, report=False)
        arch.problems.clear()
        arch.details.clear()
        arch._index = {m.name: i for i, m in enumerate(arch.members)}
        return arch
    arch._index = {m.name: i for i, m in enumerate(arch.members)}
    for code, message in _members.problems(arch.members, arch.format, wheel=lower.endswith(".whl")):
        arch.add(code, message)
    return arch


# -- zip -----------------------------------------------------------------------------------


def _open_zip(arch: Archive, frame: bool) -> None:
    too_big = _zipframe.oversized_directory(arch._data, CENTRAL_DIRECTORY_MAX)
    if too_big:  # zipfile would read all it declares into memory first
        arch.add("Z002", BROKEN, too_big)
        return
    try:
        with zipfile.ZipFile(_Reader(arch._data)) as zf:
            infos = zf.infolist()
    except Exception as exc:  # BadZipFile; also NotImplementedError, UnicodeDecodeError on odd directories
        arch.add("Z002", BROKEN, f"Python's zipfile cannot read its central directory: {exc}")
        return
    arch.format, arch._zinfos = "zip", infos
    arch.members = [_zip_member(info) for info in infos]
    for i, m in enumerate(arch.members):
        if m.kind == "symlink" and m.size <= 4096:  # a zip symlink's target is its data (PATH_MAX at most)
            try:
                target = arch._read_zip(i)[:4096].decode("utf-8", "surrogateescape")
            except ArchiveReadError:
                continue
            arch.members[i] = dataclasses.replace(m, link_target=target)
    declared = sum(info.file_size for info in infos)
    if declared > BOMB_MIN_SIZE and declared / max(1, len(arch._data)) > BOMB_RATIO:
        arch.add("Z003", BOMB, f"{declared} bytes declared in a file of {len(arch._data)} bytes")
    odd = [info for info in infos if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)]
    if odd:
        method = _METHODS.get(odd[0].compress_type, f"method {odd[0].compress_type}")
        arch.add("Z004", METHOD, f"{len(odd)} member(s), first {odd[0].orig_filename!r}, use {method}")
    if frame:
        sizes = {info.orig_filename: (info.compress_size, info.file_size) for info in infos}
        refused = _zipframe.walk(arch._data, sizes)
        if refused is not None:
            arch.add("Z005", zip_refused(refused.args[0]), refused.where)


def _zip_member(info: zipfile.ZipInfo) -> Member:
    mode = (info.external_attr >> 16) or None
    kind = "dir" if info.orig_filename.endswith("/") else _members.mode_kind(mode)
    return Member(info.orig_filename, kind, info.file_size, info.compress_size, info.compress_type, mode, None)


def _data_start(data: Data, at: int, name: str) -> int:
    head = data[at : at + 30]
    if len(head) != 30 or head[:4] != _zipframe.SIG_LOCAL:
        raise ArchiveReadError(f"{name}: no local header where the central directory points")
    name_len, extra_len = struct.unpack("<HH", head[26:30])
    return at + 30 + name_len + extra_len


def _inflate(data: Data, start: int, end: int, size: int, method: int, name: str) -> bytes:
    """Inflate data[start:end], stopping one byte past the declared size: a member that
    inflates to more than it declares is refused without inflating the rest."""
    inflater = _Zlib() if method == zipfile.ZIP_DEFLATED else bz2.BZ2Decompressor()
    out, pos = bytearray(), start
    try:
        while len(out) <= size and not inflater.eof:
            src = b""
            if inflater.needs_input:
                src = data[pos : min(end, pos + _CHUNK)]
                pos += len(src)
            chunk = inflater.decompress(src, size + 1 - len(out))  # >= 1: zlib takes 0 as "no limit"
            if not chunk and not src and inflater.needs_input:
                break  # no input left (or the file shrank) and nothing more comes out
            out += chunk
    except _READ_ERRORS as exc:
        raise ArchiveReadError(f"{name}: corrupt compressed data ({exc})") from None
    if len(out) > size:
        raise ArchiveReadError(f"{name}: inflates to more than its declared {size} bytes")
    if len(out) < size or not inflater.eof:
        raise ArchiveReadError(f"{name}: its compressed data ends early")
    return bytes(out)


def _chunks(data: Data, start: int, end: int, info: zipfile.ZipInfo, chunk: int, name: str) -> Iterator[bytes]:
    """The stored or inflated bytes of data[start:end], `chunk` at most at a time."""
    if info.compress_type == zipfile.ZIP_STORED:
        if info.compress_size != info.file_size:
            raise ArchiveReadError(f"{name}: stored, yet its two sizes differ")
        for at in range(start, end, chunk):
            yield data[at:min(end, at + chunk)]
        return
    inflater, pos = _inflate_lib.decompressobj(-15), start
    try:
        while not inflater.eof:
            src = inflater.unconsumed_tail
            if not src:
                src = data[pos:min(end, pos + _CHUNK)]
                pos += len(src)
                if not src:
                    raise ArchiveReadError(f"{name}: its compressed data ends early")
            out = inflater.decompress(src, chunk)
            if out:
                yield out
    except _INFLATE_ERRORS as exc:
        raise ArchiveReadError(f"{name}: corrupt compressed data ({exc})") from None


class _Zlib:
    """Raw deflate behind the BZ2Decompressor interface (eof, needs_input, decompress)."""

    def __init__(self) -> None:
        self._d = _inflate_lib.decompressobj(-15)

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def needs_input(self) -> bool:
        return not self._d.unconsumed_tail

    def decompress(self, src: bytes, max_length: int) -> bytes:
        return self._d.decompress(src or self._d.unconsumed_tail, max_length)


# -- tar -----------------------------------------------------------------------------------


def _open_tar(arch: Archive, report: bool) -> None:
    if arch._data[:2] != targz.GZIP_MAGIC:
        if report:
            what = _targz.compression(arch._data[:6])
            arch.add("Z006", BROKEN, f"it is a tar {what}; PyPI takes gzip-compressed tar only")
        return
    try:
        with targz.open_stream(arch._data) as (tar, stream):
            sparse = _walk_tar(arch, tar)
    except Exception as exc:  # tarfile.ReadError, EOFError and zlib errors from a broken stream
        if report:
            arch.add("Z006", BROKEN, f"its gzip or tar stream is broken: {exc}")
        arch.members, arch._cache = [], {}
        return
    arch.format = "tar"
    if report and sparse:
        arch.add("Z007", SPARSE, f"first sparse member: {sparse!r}")
    broken_end = stream.finish()
    if report and broken_end:  # PyPI stops reading at the end-of-archive marker: toolkit's own refusal
        arch.add("Z107", f"the gzip stream is broken after the tar's end-of-archive marker: {broken_end}")


def _walk_tar(arch: Archive, tar: tarfile.TarFile) -> str | None:
    """Index every member, keep small files' bytes; the first sparse member's name, if any."""
    sparse: str | None = None
    cached = 0
    for info in tar:
        is_sparse = _targz.is_sparse(info)
        sparse = sparse or (info.name if is_sparse else None)
        kind = cast(Kind, _targz.kind(info))
        arch.members.append(Member(info.name, kind, info.size, info.size, None, info.mode, info.linkname or None))
        if info.isreg() and not is_sparse and info.size <= _CACHE_MEMBER and cached + info.size <= _CACHE_TOTAL:
            f = tar.extractfile(info)
            if f is not None:
                arch._cache[len(arch.members) - 1] = f.read()
                cached += info.size
    return sparse


# -- the file --------------------------------------------------------------------------------


WHOLE_FILE_MAX = 256 << 20


class FileView:
    """A file's bytes: read whole when of usual size (the walk then slices memory, not the disk), else read by
    slices as asked (targz.FileSlices)."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        self._slices = targz.FileSlices(self._file)
        self._size = len(self._slices)
        self._data: bytes | None = None
        if self._size <= WHOLE_FILE_MAX:
            self._data = self._file.read(self._size)
            self._size = len(self._data)

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, key: slice) -> bytes:
        return self._data[key] if self._data is not None else self._slices[key]

    def close(self) -> None:
        self._file.close()


def _sniff(test: object, data: Data) -> bool | None:
    """zipfile.is_zipfile / tarfile.is_tarfile as PyPI calls them; None when they raise
    (PyPI's server fails there with HTTP 500)."""
    try:
        return bool(test(data if test is _targz.is_tar else _Reader(data)))  # type: ignore[operator]
    except Exception:
        return None


class _Reader:
    """A seekable binary file over the view, for zipfile and tarfile."""

    def __init__(self, data: Data) -> None:
        self._data, self._pos = data, 0

    def read(self, n: int | None = -1) -> bytes:
        end = len(self._data) if n is None or n < 0 else self._pos + n
        chunk = self._data[self._pos : end]
        self._pos += len(chunk)
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: len(self._data)}[whence]
        if base + offset < 0:
            raise OSError("seek before the start of the file")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        pass

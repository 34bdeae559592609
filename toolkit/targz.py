"""Reading a .tar.gz forward in bounded steps: the gzip layer (ISA-L where it has a wheel), and a
tarfile over it that refuses absurd extended headers. check walks every member with it; publish
reads an sdist's PKG-INFO with it (tarfile's own "r:gz" mode inflates with zlib and seeks through
gzip.GzipFile: twice the cost).
"""

from __future__ import annotations

import os
import tarfile
import types
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Protocol, cast


class Bytes(Protocol):
    """The whole file: bytes, or a view that reads the slices asked for."""

    def __len__(self) -> int: ...

    def __getitem__(self, key: slice, /) -> bytes: ...


GZIP_MAGIC = b"\x1f\x8b"
INFLATE_LIB: types.ModuleType = zlib
try:  # ISA-L inflates about twice as fast as zlib, with zlib's API; zlib where it has no wheel
    from isal import isal_zlib

    INFLATE_LIB = isal_zlib
except ImportError:  # pragma: no cover - platforms without isal wheels
    pass
INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error, INFLATE_LIB.error)
_CHUNK = 1 << 20
# Compressed bytes fed to the inflater at a time. Small: each call that stops at its output limit (tarfile asks for
# 10 KiB) copies the input left over, and 1 MiB fed at a time made that copying most of the cost of a walk.
_FEED = 32 << 10
_MAX_EXT_HEADER = 16 << 20


class Gunzip:
    """The inflated bytes of a gzip file (its members in sequence), read forward in bounded
    steps; tarfile reads it as a plain tar stream. Hand-written because gzip.GzipFile says
    neither that a stream is truncated (until its very end is read) nor where it broke."""

    def __init__(self, data: Bytes) -> None:
        self._data, self._pos, self._done = data, 0, False
        self._z = INFLATE_LIB.decompressobj(31)  # 31: gzip header and trailer (CRC, length) checked

    def read(self, n: int = _CHUNK) -> bytes:
        n = n if n and n > 0 else _CHUNK  # never unbounded
        out = bytearray()
        while len(out) < n and not self._done:
            if self._z.eof:
                self._next_member()
                continue
            src = self._z.unconsumed_tail or self._take()
            try:
                out += self._z.decompress(src, n - len(out))
            except INFLATE_ERRORS as exc:
                raise tarfile.ReadError(f"corrupt gzip data ({exc})") from None
        return bytes(out)

    def finish(self) -> str | None:
        """Inflate what tarfile left unread (it stops at the end-of-archive blocks): the error
        found there, if any."""
        try:
            while not self._done:
                self.read(_CHUNK)
        except tarfile.ReadError as exc:
            return str(exc)
        return None

    def close(self) -> None:
        pass

    def _take(self) -> bytes:
        src = self._data[self._pos : self._pos + _FEED]
        if not src:
            raise tarfile.ReadError("the gzip stream is truncated")
        self._pos += len(src)
        return src

    def _next_member(self) -> None:
        at, size = self._pos - len(self._z.unused_data), len(self._data)
        while at < size:  # zero padding after a member is allowed (gzip.GzipFile skips it too)
            chunk = self._data[at : at + _CHUNK]
            zeros = len(chunk) - len(chunk.lstrip(b"\x00"))
            at += zeros
            if zeros < len(chunk) or not chunk:
                break
        if at >= size:
            self._done = True
        elif self._data[at : at + 2] == GZIP_MAGIC:
            self._pos, self._z = at, INFLATE_LIB.decompressobj(31)
        else:
            raise tarfile.ReadError(f"{size - at} byte(s) of non-gzip data after the gzip stream")


class BoundedTarInfo(tarfile.TarInfo):
    """tarfile reads a PAX or GNU long-name header whole: refuse absurd ones before it does."""

    _EXTENDED = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
                 tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in self._EXTENDED and self.size > _MAX_EXT_HEADER:
            raise tarfile.SubsequentHeaderError(f"an extended header of {self.size} bytes")  # type: ignore[attr-defined]
        return super()._proc_member(tarfile_)  # type: ignore[misc, no-any-return]


@contextmanager
def open_stream(data: Bytes) -> Iterator[tuple[tarfile.TarFile, Gunzip]]:
    """tarfile over the inflated stream, read once forward (tarfile's streaming mode)."""
    stream = Gunzip(data)
    with tarfile.open(fileobj=cast(IO[bytes], stream), mode="r|", tarinfo=BoundedTarInfo) as tar:
        yield tar, stream


class FileSlices:
    """A file's bytes read by slices as the reader asks (seek and read: os.pread is POSIX only), never mapped
    (a mapped file that shrinks while it is read kills the process with SIGBUS). A reader that stops early (at
    PKG-INFO) reads only what it went through. Closed with the file it was given."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file, self._size = file, os.fstat(file.fileno()).st_size

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, key: slice, /) -> bytes:
        start, stop, _ = key.indices(self._size)
        if stop <= start or self._file.closed:
            return b""
        self._file.seek(start)
        out = bytearray()
        while len(out) < stop - start:  # a short read only at the end of a file that shrank
            chunk = self._file.read(stop - start - len(out))
            if not chunk:
                break
            out += chunk
        return bytes(out)

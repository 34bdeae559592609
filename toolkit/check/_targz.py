"""check's side of reading a .tar.gz (the gzip layer and the bounded tarfile are toolkit/targz.py,
which publish reads PKG-INFO with too): re-reading a member, what tarfile.is_tarfile answers, and
what a TarInfo is.
"""

from __future__ import annotations

import bz2
import lzma
import tarfile

from toolkit.targz import GZIP_MAGIC, INFLATE_ERRORS, Bytes, Gunzip, open_stream

_PROBE_ERRORS: tuple[type[Exception], ...] = (tarfile.TarError, OSError, EOFError, lzma.LZMAError, ValueError, *INFLATE_ERRORS)


def reread(data: Bytes, index: int) -> bytes | None:
    """The bytes of the index-th member, by a fresh pass over the stream (None: not a file)."""
    with open_stream(data) as (tar, _):
        for i, info in enumerate(tar):
            if i == index:
                f = tar.extractfile(info)
                return None if f is None else f.read()
    return None


def kind(info: tarfile.TarInfo) -> str:
    if info.isreg():
        return "file"
    if info.isdir():
        return "dir"
    if info.issym() or info.islnk():
        return "symlink" if info.issym() else "hardlink"
    if info.isfifo():
        return "fifo"
    return "device" if info.isdev() else "other"


def is_sparse(info: tarfile.TarInfo) -> bool:
    return (info.issparse() or info.type == tarfile.GNUTYPE_SPARSE
            or any(key.startswith("GNU.sparse.") for key in info.pax_headers))


_PROBE = 64 << 10  # compressed bytes a probe may read: what it takes to find the first tar header


def is_tar(data: Bytes) -> bool:
    """What tarfile.is_tarfile answers (PyPI calls it), decided from the first bytes.

    is_tarfile opens the file with every compression tarfile knows and reads one header; its xz
    probe, given anything else, decodes the whole file (3 GB of zeros: minutes). Here the magic
    bytes pick the one decompressor, which inflates at most the first header's 512 bytes.
    """
    head = data[:_PROBE]
    try:
        if head.startswith(GZIP_MAGIC):
            return _is_header(Gunzip(data).read(tarfile.BLOCKSIZE))
        if head.startswith(b"BZh"):
            return _is_header(bz2.BZ2Decompressor().decompress(head, tarfile.BLOCKSIZE))
        if head.startswith(b"\xfd7zXZ\x00"):
            return _is_header(lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(head, tarfile.BLOCKSIZE))
        if _is_header(head[: tarfile.BLOCKSIZE]):
            return True
        # The legacy .lzma format has no magic; tarfile's xz probe takes it too.
        return _is_header(lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(head, tarfile.BLOCKSIZE))
    except _PROBE_ERRORS:
        return False


def _is_header(block: bytes) -> bool:
    try:
        tarfile.TarInfo.frombuf(block, tarfile.ENCODING, "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def compression(head: bytes) -> str:
    """What a tar that is not gzip-compressed is, from its first bytes."""
    if head.startswith(b"BZh"):
        return "compressed with bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "compressed with xz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "compressed with zstandard"
    return "without gzip compression"

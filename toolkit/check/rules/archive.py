"""Check rules: the archive container (Z). archive.py finds the problems while it walks the
file; each rule here hands on the problems of its code, with the hint. They run even when
the archive could not be opened: that is what they report.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from toolkit.check.rules import Problem, rule

if TYPE_CHECKING:
    from toolkit.check.view import DistView

_REBUILD = "rebuild it with a standard build backend (`toolkit build`)"


def _found(dist: DistView, code: str, hint: str) -> Iterator[Problem]:
    archive = dist.archive
    for found, message in archive.problems:
        if found == code:
            detail = archive.details.get((found, message))
            yield (message, f"{detail}; {hint}") if detail else (message, hint)


_Z001 = "the file reads both as a zip and as a tar, so tools may disagree on what it holds; " + _REBUILD


@rule("Z001", pypi_rejects=True, needs_archive=False, summary="the file is both a zip and a tar (polyglot)",
      hint=_Z001)
def polyglot(dist: DistView) -> Iterator[Problem]:
    return _found(dist, "Z001", _Z001)


_Z002 = "a .whl or .zip must be a ZIP archive that Python's zipfile reads; " + _REBUILD


@rule("Z002", pypi_rejects=True, needs_archive=False, summary="a .whl or .zip that is not a readable zip",
      hint=_Z002)
def not_a_zip(dist: DistView) -> Iterator[Problem]:
    return _found(dist, "Z002", _Z002)


_Z003 = ("PyPI refuses a zip whose members total over 64 MiB and over 50 times the file's size; "
         "drop large generated or padding files")


@rule("Z003", pypi_rejects=True, needs_archive=False, summary="zip bomb: > 64 MiB uncompressed and ratio > 50",
      hint=_Z003)
def zip_bomb(dist: DistView) -> Iterator[Problem]:
    return _found(dist, "Z003", _Z003)


_Z004 = "write the members with ZIP_DEFLATED or ZIP_STORED; bzip2, lzma and zstandard are refused"


@rule("Z004", pypi_rejects=True, needs_archive=False, summary="a zip member compressed other than stored/deflated",
      hint=_Z004)
def compression_method(dist: DistView) -> Iterator[Problem]:
    return _found(dist, "Z004", _Z004)


_Z005 = ("the zip's records must be plain: no prepended stub, no data descriptors (streamed zips), no "
         "per-entry comments, nothing after the end record; write it to a regular file with zipfile or a "
         "build backend (https://docs.pypi.org/archives)")


@rule("Z005", pypi_rejects=True, needs_archive=False, summary="zip framing that a streaming reader would read "
      "differently (PyPI's record-by-record walk)", hint=_Z005)
def zip_framing(dist: DistView) -> Iterator[Problem]:
    return _found(dist, "Z005", _Z005)


_Z006 = "an sdist must be a gzip-compressed tar, complete and uncorrupted; rebuild it with `toolkit build --sdist`"


@rule("Z006", pypi_rejects=True, needs_archive=False, summary="a .tar.gz that is not a whole gzip-compressed tar",
      hint=_Z006)
def not_a_gzip_tar(dist: DistView) -> Iterator[Problem]:
    return _found(dist, "Z006", _Z006)


_Z007 = "make the sdist without sparse members (GNU tar --sparse, PAX GNU.sparse.* headers)"


@rule("Z007", pypi_rejects=True, needs_archive=False, summary="sparse members in a tar", hint=_Z007)
def sparse_members(dist: DistView) -> Iterator[Problem]:
    return _found(dist, "Z007", _Z007)


_Z101 = "use relative member names with forward slashes that stay inside the archive's folder"


@rule("Z101", needs_archive=False, summary="member names with '..', an absolute path, a drive or a backslash",
      hint=_Z101)
def unsafe_names(dist: DistView) -> Iterator[Problem]:
    return _found(dist, "Z101", _Z101)


_Z102 = "put a copy of the file in place of the link"


@rule("Z102", needs_archive=False, summary="links in a wheel; links leaving an sdist's folder", hint=_Z102)
def links(dist: DistView) -> Iterator[Problem]:
    return _found(dist, "Z102", _Z102)


_Z103 = "keep device files, FIFOs and other special files out of the build tree"


@rule("Z103", needs_archive=False, summary="device, FIFO and other special members", hint=_Z103)
def special_members(dist: DistView) -> Iterator[Problem]:
    return _found(dist, "Z103", _Z103)


_Z104 = "on Windows and macOS one overwrites the other when unpacked; rename one of them"


@rule("Z104", needs_archive=False, summary="member names that differ only by case", hint=_Z104)
def case_clashes(dist: DistView) -> Iterator[Problem]:
    return _found(dist, "Z104", _Z104)


_Z105 = ("unzippers disagree on zip symlinks: some create the link, Python's zipfile writes a small file "
         "holding the target; store a copy of the file instead")


@rule("Z105", needs_archive=False, summary="zip entries whose unix mode marks a symlink", hint=_Z105)
def zip_symlinks(dist: DistView) -> Iterator[Problem]:
    return _found(dist, "Z105", _Z105)


_Z106 = "the later copy silently replaces the earlier one; remove the duplicate from the build"


@rule("Z106", level="warning", needs_archive=False, summary="a name that appears more than once in a tar",
      hint=_Z106)
def tar_duplicates(dist: DistView) -> Iterator[Problem]:
    return _found(dist, "Z106", _Z106)

"""Check rules: the archive container (Z). archive.py finds the problems while it walks the
file; each rule here hands on the problems of its code, with the hint. They run even when
the archive could not be opened: that is what they report.

The rules differ only in their code, level, summary and hint, so they are registered from
one table instead of one function each.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

from toolkit.check.report import Level
from toolkit.check.rules import Problem, RuleFunc, rule

if TYPE_CHECKING:
    from toolkit.check.view import DistView

_REBUILD = "rebuild it with a standard build backend (`toolkit build`)"


class _Z(NamedTuple):
    code: str
    summary: str
    hint: str
    level: Level = "error"


ARCHIVE_RULES = (
    _Z("Z001", "the file is both a zip and a tar (polyglot)",
       "the file reads both as a zip and as a tar, so tools may disagree on what it holds; " + _REBUILD),
    _Z("Z002", "a .whl or .zip that is not a readable zip",
       "a .whl or .zip must be a ZIP archive that Python's zipfile reads; " + _REBUILD),
    _Z("Z003", "zip bomb: > 64 MiB uncompressed and ratio > 50",
       "PyPI refuses a zip whose members total over 64 MiB and over 50 times the file's size; "
       "drop large generated or padding files"),
    _Z("Z004", "a zip member compressed other than stored/deflated",
       "write the members with ZIP_DEFLATED or ZIP_STORED; bzip2, lzma and zstandard are refused"),
    _Z("Z005", "zip framing that a streaming reader would read differently (PyPI's record-by-record walk)",
       "the zip's records must be plain: no prepended stub, no data descriptors (streamed zips), no "
       "per-entry comments, nothing after the end record; write it to a regular file with zipfile or a "
       "build backend (https://docs.pypi.org/archives)"),
    _Z("Z006", "a .tar.gz that is not a whole gzip-compressed tar",
       "an sdist must be a gzip-compressed tar, complete and uncorrupted; rebuild it with `toolkit build --sdist`"),
    _Z("Z007", "sparse members in a tar",
       "make the sdist without sparse members (GNU tar --sparse, PAX GNU.sparse.* headers)"),
    _Z("Z101", "member names with '..', an absolute path, a drive or a backslash",
       "use relative member names with forward slashes that stay inside the archive's folder"),
    _Z("Z102", "links in a wheel; links leaving an sdist's folder", "put a copy of the file in place of the link"),
    _Z("Z103", "device, FIFO and other special members",
       "keep device files, FIFOs and other special files out of the build tree"),
    _Z("Z104", "member names that differ only by case",
       "on Windows and macOS one overwrites the other when unpacked; rename one of them"),
    _Z("Z105", "zip entries whose unix mode marks a symlink",
       "unzippers disagree on zip symlinks: some create the link, Python's zipfile writes a small file "
       "holding the target; store a copy of the file instead"),
    _Z("Z107", "a .tar.gz whose gzip stream is corrupt or followed by other bytes after the tar's end",
       "GNU tar and gzip refuse the file (bad CRC, truncated trailer, or bytes after the gzip stream); PyPI, "
       "which stops reading at the tar's end-of-archive marker, takes it: rebuild it with `toolkit build --sdist`"),
    _Z("Z106", "a name that appears more than once in a tar",
       "the later copy silently replaces the earlier one; remove the duplicate from the build", "warning"),
)


def _handing_on(code: str, hint: str) -> RuleFunc:
    def found(dist: DistView) -> Iterator[Problem]:
        archive = dist.archive
        for got, message in archive.problems:
            if got == code:
                detail = archive.details.get((got, message))
                yield (message, f"{detail}; {hint}") if detail else (message, hint)

    found.__name__ = f"archive_{code.lower()}"
    return found


for _rule in ARCHIVE_RULES:
    # Codes below 100 mirror PyPI's rejections (the specification's ids); from 100, toolkit's own.
    rule(_rule.code, level=_rule.level, pypi_rejects=int(_rule.code[1:]) < 100, needs_archive=False,
         summary=_rule.summary, hint=_rule.hint)(_handing_on(_rule.code, _rule.hint))

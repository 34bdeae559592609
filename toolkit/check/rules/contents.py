"""Check rules: what a wheel (or sdist) should not carry (C1xx warnings, never PyPI rejections).

The family of check-wheel-contents, with toolkit's own codes: duplicate files,
bytecode, top-level tests/ or src/, an empty library, editor and VCS leftovers.
"""

from __future__ import annotations

import base64
import hashlib
import posixpath
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from toolkit.check.rules import rule
from toolkit.check.rules.record import member_digests
from toolkit.listing import capped, few

if TYPE_CHECKING:
    from toolkit.check.view import DistView

MODULE_SUFFIXES = (".py", ".pyi", ".pyc", ".so", ".pyd", ".pth")
JUNK_NAMES = {".DS_Store", "Thumbs.db"}
JUNK_SUFFIXES = (".orig", ".rej", ".swp", "~")
VCS_DIRS = {".git", ".hg", ".svn"}
# Files that are the same everywhere by nature: never reported as duplicates.
ALLOWED_DUPLICATE_NAMES = {"__init__.py", "py.typed"}
_TRIVIAL = {b"", b"\n", b"\r\n", b"# -*- coding: utf-8 -*-\n", b"# -*- coding: utf-8 -*-"}
_TRIVIAL_DIGESTS = {base64.urlsafe_b64encode(hashlib.sha256(t).digest()).rstrip(b"=").decode() for t in _TRIVIAL}
_DATA_LIB = re.compile(r"^[^/]+\.data/(purelib|platlib)/")


def _files(dist: DistView) -> list[str]:
    return [m.name for m in dist.archive.members if m.kind == "file"]


def _library(dist: DistView) -> list[str]:
    """The wheel's files as installed into site-packages: its root and .data/purelib|platlib, relative."""
    lib = []
    for name in _files(dist):
        first = name.split("/", 1)[0]
        if first.endswith(".dist-info"):
            continue
        if first.endswith(".data"):
            m = _DATA_LIB.match(name)
            if m:
                lib.append(name[m.end():])
            continue
        lib.append(name)
    return lib


@rule("C101", level="warning", applies="wheel", summary="the same file under several names",
      hint="a file included twice (e.g. a package listed under two names, or data copied into the package); "
           "check the build backend's include settings")
def duplicate_files(dist: DistView) -> Iterator[str]:
    digests = member_digests(dist)
    if digests is None:
        return
    groups: dict[tuple[str, int], list[str]] = {}
    for name, d in digests.items():
        if (d.error or d.size == 0 or d.sha256 in _TRIVIAL_DIGESTS or ".dist-info/" in name
                or posixpath.basename(name) in ALLOWED_DUPLICATE_NAMES):
            continue
        groups.setdefault((d.sha256, d.size), []).append(name)
    dups = (f"the same {size}-byte file is in the wheel {len(names)} times: {few(names)}"
            for (_, size), names in groups.items() if len(names) > 1)
    yield from capped(dups, str)


@rule("C102", level="warning", summary="compiled bytecode (.pyc, .pyo, __pycache__)",
      hint="installers compile on install; exclude __pycache__/ and *.pyc from the build (they are tied to one "
           "Python version)")
def bytecode(dist: DistView) -> Iterator[str]:
    found = [n for n in _files(dist) if n.endswith((".pyc", ".pyo")) or "__pycache__" in n.split("/")]
    if found:
        yield f"{len(found)} compiled bytecode file(s): {few(found)}"


def _top_packages(dist: DistView) -> set[str]:
    return {name.split("/", 1)[0] for name in _library(dist) if "/" in name}


@rule("C103", level="warning", applies="wheel", summary="a top-level tests or test package",
      hint="a top-level `tests` package collides with every other project that ships one (and `test` with the "
           "standard library's); keep tests out of the wheel or inside your package")
def top_level_tests(dist: DistView) -> Iterator[str]:
    for name in sorted(_top_packages(dist) & {"tests", "test"}):
        yield f"the wheel installs a top-level {name!r} package"


@rule("C104", level="warning", applies="wheel", summary="a top-level src/ folder in a wheel",
      hint="with a src layout, tell the build backend where the packages are (e.g. "
           "[tool.hatch.build.targets.wheel] packages = [\"src/pkg\"], or setuptools' package-dir)")
def top_level_src(dist: DistView) -> Iterator[str]:
    if "src" in _top_packages(dist):
        yield "the wheel installs a top-level 'src' folder: its packages import as src.<name>"


@rule("C105", level="warning", applies="wheel", summary="a wheel with no Python modules or packages",
      hint="the build backend found no package to include; check its package discovery settings")
def empty_library(dist: DistView) -> Iterator[str]:
    if dist.archive.format == "zip" and not any(n.endswith(MODULE_SUFFIXES) for n in _library(dist)):
        yield "the wheel holds no Python module or package outside .dist-info"


@rule("C106", level="warning", summary="editor, OS and version-control leftovers",
      hint="exclude these files from the build (or clean the tree before building)")
def junk_files(dist: DistView) -> Iterator[str]:
    found = [n for n in _files(dist) if _is_junk(n)]
    if found:
        yield f"{len(found)} leftover file(s): {few(found)}"


def _is_junk(name: str) -> bool:
    parts = name.split("/")
    return parts[-1] in JUNK_NAMES or parts[-1].endswith(JUNK_SUFFIXES) or any(p in VCS_DIRS for p in parts)

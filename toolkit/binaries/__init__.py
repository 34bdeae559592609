"""What the binaries of a wheel are: each ELF, Mach-O and PE member parsed once
from its bytes into a small record that the B-rules (rules/binaries.py) judge.

Only members that look binary are read (by suffix, or by magic under scripts
and bin folders), only formats of the wheel's own platform tags are parsed,
and the parsers (pyelftools, macholib, pefile) are imported only then: a pure
wheel never pays for them.
"""

from __future__ import annotations

import re
import weakref
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from toolkit.tags import platform_family

if TYPE_CHECKING:
    from toolkit.binaries.elf import ElfInfo
    from toolkit.binaries.macho import MachOInfo
    from toolkit.binaries.pe import PeInfo

Format = Literal["elf", "macho", "pe"]

BINARY_SUFFIX = re.compile(r"\.(so(\.\d+)*|pyd|dylib|dll|exe)$", re.IGNORECASE)
# A binary is read whole into memory; a larger one (a CUDA library...) is left unjudged.
READ_LIMIT = 256 << 20
_MACHO_MAGICS = {0xFEEDFACE, 0xFEEDFACF, 0xCEFAEDFE, 0xCFFAEDFE}
_FAT_MAGICS = {0xCAFEBABE, 0xCAFEBABF}
_JAVA_CLASS_MIN_VERSION = 45  # a Java class file shares the fat magic; its next field is >= 45
# Not a zip, or a declared zip bomb: inflating members would only waste time (the Z-rules report it).
_UNSAFE_TO_INFLATE = {"Z001", "Z002", "Z003"}
_SCANS: weakref.WeakKeyDictionary[WheelView, Scan] = weakref.WeakKeyDictionary()


class Member(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...  # "file" for a regular file
    @property
    def size(self) -> int: ...


class Archive(Protocol):
    @property
    def members(self) -> Sequence[Member]: ...
    @property
    def problems(self) -> Sequence[tuple[str, str]]: ...


class WheelView(Protocol):
    """What a scan reads of a wheel: the check stage's DistView, or a WheelZip."""

    filename: str

    @property
    def archive(self) -> Archive: ...
    def read(self, name: str, limit: int = ...) -> bytes | None: ...


@dataclass(frozen=True)
class ZipMember:
    name: str
    kind: str
    size: int


class WheelZip:
    """A wheel read with zipfile, for the repair stage (the check stage reads archives with its own reader,
    which also judges them)."""

    def __init__(self, path: Path) -> None:
        self.filename = path.name
        self.path = path
        with zipfile.ZipFile(path) as zf:
            self.members = [ZipMember(i.filename, "dir" if i.is_dir() else "file", i.file_size) for i in zf.infolist()]
        self.problems: list[tuple[str, str]] = []

    @property
    def archive(self) -> WheelZip:
        return self

    def read(self, name: str, limit: int = READ_LIMIT) -> bytes | None:
        with zipfile.ZipFile(self.path) as zf:
            if zf.getinfo(name).file_size > limit:
                return None
            return zf.read(name)


@dataclass(frozen=True)
class Broken:
    member: str
    reason: str


@dataclass
class Scan:
    tags: frozenset[Tag]
    basenames: frozenset[str]  # the file names of all members, to tell vendored libraries
    elf: list[ElfInfo] = field(default_factory=list)
    macho: list[MachOInfo] = field(default_factory=list)
    pe: list[PeInfo] = field(default_factory=list)
    broken: list[Broken] = field(default_factory=list)


def wheel_tags(filename: str) -> frozenset[Tag]:
    """The tags of a wheel's file name; empty when the name is invalid (the N-rules report it)."""
    try:
        return parse_wheel_filename(filename)[3]
    except InvalidWheelFilename:
        return frozenset()


def formats_for(tags: frozenset[Tag]) -> set[Format]:
    """The binary formats the wheel's platform tags run."""
    found: set[Format] = set()
    for tag in tags:
        # iOS and Android binaries are Mach-O and ELF too, but no rule here judges them yet.
        family = platform_family(tag.platform)
        if family in ("linux", "manylinux", "musllinux"):
            found.add("elf")
        elif family == "macos":
            found.add("macho")
        elif family == "windows":
            found.add("pe")
    return found


def sniff(head: bytes) -> Format | None:
    if head[:4] == b"\x7fELF":
        return "elf"
    if head[:2] == b"MZ":
        return "pe"
    magic = int.from_bytes(head[:4], "big") if len(head) >= 4 else 0
    if magic in _MACHO_MAGICS:
        return "macho"
    if magic in _FAT_MAGICS and 0 < int.from_bytes(head[4:8], "big") < _JAVA_CLASS_MIN_VERSION:
        return "macho"
    return None


def looks_binary(name: str) -> bool:
    """By suffix, or a file in a bin folder or a wheel's .data/scripts (executables, sniffed by magic)."""
    if BINARY_SUFFIX.search(name):
        return True
    parts = name.split("/")
    return "bin" in parts[:-1] or (len(parts) > 2 and parts[0].endswith(".data") and parts[1] == "scripts")


def scan(dist: WheelView) -> Scan:
    """The binaries of one wheel, parsed once however many rules ask."""
    found = _SCANS.get(dist)
    if found is None:
        found = _SCANS[dist] = _scan(dist)
    return found


def _scan(dist: WheelView) -> Scan:
    tags = wheel_tags(dist.filename)
    members = [m for m in dist.archive.members if m.kind == "file"]
    result = Scan(tags, frozenset(m.name.rsplit("/", 1)[-1] for m in members))
    wanted = formats_for(tags)
    if not wanted or any(code in _UNSAFE_TO_INFLATE for code, _ in dist.archive.problems):
        return result
    symbols = any(t.abi in ("abi3", "abi3t") for t in tags)
    for m in members:
        if not looks_binary(m.name) or m.size > READ_LIMIT:
            continue
        data = dist.read(m.name, limit=READ_LIMIT)
        if data is None:
            continue  # unreadable: the archive rules report it
        fmt = sniff(data[:8])
        if fmt is None and BINARY_SUFFIX.search(m.name):
            result.broken.append(Broken(m.name, "not an ELF, Mach-O or PE file"))
        elif fmt in wanted:
            _parse_into(result, fmt, m.name, data, symbols)
    return result


def _parse_errors(fmt: Format) -> tuple[type[BaseException], ...]:
    """What the parsers raise on malformed bytes: a finding (B100). Anything else is a bug (K000)."""
    import struct

    found: tuple[type[BaseException], ...] = (ValueError, LookupError, ArithmeticError, struct.error, EOFError,
                                              OSError, AssertionError, MemoryError, RecursionError)
    if fmt == "elf":
        from elftools.common.exceptions import DWARFError, ELFError
        from elftools.construct.core import ConstructError

        found += (ELFError, DWARFError, ConstructError)
    elif fmt == "pe":
        import pefile

        found += (pefile.PEFormatError,)
    return found


def _parse_into(result: Scan, fmt: Format, name: str, data: bytes, symbols: bool) -> None:
    try:
        if fmt == "elf":
            from toolkit.binaries.elf import parse_elf

            result.elf.append(parse_elf(name, data, python_imports=symbols))
        elif fmt == "macho":
            from toolkit.binaries.macho import parse_macho

            result.macho.append(parse_macho(name, data, python_imports=symbols))
        else:
            from toolkit.binaries.pe import parse_pe

            result.pe.append(parse_pe(name, data, imports=symbols))
    except _parse_errors(fmt) as exc:  # malformed bytes: a finding, not a crash
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        result.broken.append(Broken(name, f"cannot parse as {fmt.upper() if fmt != 'macho' else 'Mach-O'}: {reason}"))

"""Mach-O members (macOS): the architectures of a thin or fat binary and the
minimum macOS of each slice, read from its bytes with macholib; and the macOS tags."""

from __future__ import annotations

import functools
import io
import struct
from dataclasses import dataclass
from typing import Any

from toolkit.tags import macos_version

# The architectures a macOS tag's binary format promises (PEP 425 / packaging's
# mac_binary_formats, read the other way round: packaging maps a CPU to formats).
FORMAT_ARCHES: dict[str, frozenset[str]] = {
    "x86_64": frozenset({"x86_64"}),
    "arm64": frozenset({"arm64"}),
    "i386": frozenset({"i386"}),
    "ppc": frozenset({"ppc"}),
    "ppc64": frozenset({"ppc64"}),
    "universal2": frozenset({"x86_64", "arm64"}),
    "intel": frozenset({"i386", "x86_64"}),
    "fat": frozenset({"i386", "ppc"}),
    "fat32": frozenset({"i386", "ppc"}),
    "fat3": frozenset({"i386", "ppc", "x86_64"}),
    "fat64": frozenset({"x86_64", "ppc64"}),
    "universal": frozenset({"i386", "x86_64", "ppc", "ppc64"}),
}
_CPU_NAMES = {"i386": "i386", "x86_64": "x86_64", "ARM64": "arm64", "ARM": "arm", "PowerPC": "ppc",
              "PowerPC64": "ppc64"}
_CPU_SUBTYPE_ARM64E = 2
ARM64_FIRST_MACOS = (11, 0)  # every arm64 Mac runs macOS 11 or later


@dataclass(frozen=True)
class Slice:
    arch: str  # x86_64, arm64, arm64e, i386, ppc, ppc64...
    minos: tuple[int, int] | None  # LC_BUILD_VERSION minos or LC_VERSION_MIN_MACOSX; None if absent
    python_imports: tuple[str, ...]  # undefined Py* / _Py* symbols (only collected for abi3 wheels)


@dataclass(frozen=True)
class MachOInfo:
    member: str
    slices: tuple[Slice, ...]

    @property
    def arches(self) -> frozenset[str]:
        return frozenset(s.arch for s in self.slices)


@dataclass(frozen=True)
class MacTag:
    text: str
    version: tuple[int, int]
    arches: frozenset[str]  # empty for a binary format toolkit does not know


def mac_tag(platform: str) -> MacTag | None:
    version = macos_version(platform)
    if version is None:
        return None
    return MacTag(platform, version, FORMAT_ARCHES.get(platform.split("_", 3)[3], frozenset()))


def too_new(minos: tuple[int, int], tag_version: tuple[int, int], arch: str) -> bool:
    """Does a slice built for `minos` break the tag's promise to run on `tag_version`?

    arm64 slices are held to macOS 11 at least (no arm64 Mac is older, so a
    universal2 wheel tagged 10.9 is right). From macOS 11 on, tags carry the major
    version only (macosx_11_0; delocate tags a binary built for 11.3 so), so only
    the major is compared there.
    """
    if arch.startswith("arm64"):
        tag_version = max(tag_version, ARM64_FIRST_MACOS)
    if tag_version[0] >= 11:
        return minos[0] > tag_version[0]
    return minos > tag_version


def parse_macho(member: str, data: bytes, *, python_imports: bool) -> MachOInfo:
    """Raises macholib's (or struct's) errors on a malformed file: the caller reports them."""
    from macholib.mach_o import CPU_TYPE_NAMES

    macho = read_macho(data)
    slices = []
    for header in macho.headers:
        name = CPU_TYPE_NAMES.get(header.header.cputype, f"cputype {header.header.cputype:#x}")
        arch = _CPU_NAMES.get(name, name)
        if arch == "arm64" and header.header.cpusubtype & 0xFFFFFF == _CPU_SUBTYPE_ARM64E:
            arch = "arm64e"
        imports = _python_imports(header, data) if python_imports else ()
        slices.append(Slice(arch, _minos(header), imports))
    return MachOInfo(member, tuple(slices))


def _minos(header: Any) -> tuple[int, int] | None:
    from macholib.mach_o import LC_BUILD_VERSION, LC_VERSION_MIN_MACOSX

    for load, command, _ in header.commands:
        if load.cmd == LC_BUILD_VERSION:
            packed = command.minos
        elif load.cmd == LC_VERSION_MIN_MACOSX:
            packed = command.version
        else:
            continue
        return (packed >> 16, (packed >> 8) & 0xFF)  # xxxx.yy.zz nibbles
    return None


def _python_imports(header: Any, data: bytes) -> tuple[str, ...]:
    """The undefined Py* symbols of one slice.

    macholib finds the symbol tables; the undefined range is unpacked here with
    struct, because macholib's SymbolTable parses every symbol of the file one by
    one (seconds for a large Rust extension) when only the undefined ones matter.
    """
    from macholib.mach_o import MH_CIGAM_64, MH_MAGIC_64

    symtab = header.getSymbolTableCommand()
    dysymtab = header.getDynamicSymbolTableCommand()
    if symtab is None or dysymtab is None:
        return ()
    base = header.offset
    # nlist_64: strx, type, sect, desc, value(8); nlist: the same with a 4-byte value
    layout = header.endian + ("IBBHQ" if header.MH_MAGIC in (MH_MAGIC_64, MH_CIGAM_64) else "IBBHI")
    size = struct.calcsize(layout)
    start = base + symtab.symoff + dysymtab.iundefsym * size
    strings = data[base + symtab.stroff: base + symtab.stroff + symtab.strsize]
    names = set()
    for strx, *_ in struct.iter_unpack(layout, data[start: start + dysymtab.nundefsym * size]):
        raw = strings[strx: strings.find(b"\0", strx)]
        names.add(raw.decode("utf-8", "replace")[1:])  # C names start with "_"
    return tuple(sorted(n for n in names if n.startswith(("Py", "_Py")) and not n.startswith("PyInit_")))


def read_macho(data: bytes) -> Any:
    """macholib's MachO of these bytes (every slice in .headers, each with its .offset and .size)."""
    return machobytes_class()(data)


@functools.cache
def machobytes_class() -> type:
    from macholib.MachO import MachO

    class MachOBytes(MachO):  # type: ignore[misc]
        """macholib's MachO reads a file by name; this one reads bytes (MachO.load takes a file object)."""

        def __init__(self, data: bytes) -> None:
            self.graphident = self.filename = "<member>"
            self.loader_path = ""
            self.fat = None
            self.headers: list[Any] = []
            self.allow_unknown_load_commands = True  # a newer load command is no defect
            self.load(io.BytesIO(data))

    return MachOBytes

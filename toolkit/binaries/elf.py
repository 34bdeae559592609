"""ELF members (Linux): the machine, DT_NEEDED, symbol-version needs and Python
imports of one binary, read from its bytes with pyelftools (the Linux tags are parsed in toolkit/tags.py)."""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import Section

# (e_machine, ELF class, little-endian) -> the arch a Linux platform tag names.
# auditwheel holds the same table in a private function (lddtree._get_platform),
# which is not an API we can rely on across its releases.
_ARCHES = {
    ("EM_X86_64", 64, True): "x86_64",
    ("EM_386", 32, True): "i686",
    ("EM_AARCH64", 64, True): "aarch64",
    ("EM_ARM", 32, True): "armv7l",
    ("EM_PPC64", 64, True): "ppc64le",
    ("EM_PPC64", 64, False): "ppc64",
    ("EM_S390", 64, False): "s390x",
    ("EM_RISCV", 64, True): "riscv64",
    ("EM_LOONGARCH", 64, True): "loongarch64",
}
# The dynamic loader: never a dependency to vendor nor a symbol version to judge (as auditwheel).
_LOADER = re.compile(r"^(ld-linux.*|ld64\.so\.[12])$")
_HOOKS = ("PyInit_", "PyModExport_")  # an extension module's entry points: PEP 489, and PEP 793 (3.15)


@dataclass(frozen=True)
class VersionNeed:
    library: str  # the DT_NEEDED library that provides it, e.g. libc.so.6
    version: str  # e.g. GLIBC_2.34
    symbols: tuple[str, ...]  # the undefined symbols bound to that version


@dataclass(frozen=True)
class ElfInfo:
    member: str
    machine: str  # pyelftools' e_machine name, e.g. EM_X86_64
    arch: str | None  # the Linux tag arch it runs on; None for a machine no tag names
    needed: tuple[str, ...]
    interpreter: str | None
    version_needs: tuple[VersionNeed, ...]
    python_imports: tuple[str, ...]  # undefined Py* / _Py* symbols (only collected for abi3/abi3t wheels)
    python_exports: tuple[str, ...] = ()  # defined PyInit_* / PyModExport_* (PEP 793) hooks, collected with them

    @property
    def needs_glibc(self) -> bool:
        return ("libc.so.6" in self.needed or any(n.version.startswith("GLIBC_") for n in self.version_needs)
                or bool(self.interpreter and "/ld-linux" in self.interpreter))

    @property
    def needs_musl(self) -> bool:
        return (any(n.startswith("libc.musl-") for n in self.needed)
                or bool(self.interpreter and "/ld-musl-" in self.interpreter))


def parse_elf(member: str, data: bytes, *, python_imports: bool) -> ElfInfo:
    """Raises pyelftools' (or struct's) errors on a malformed file: the caller reports them."""
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(io.BytesIO(data))
    machine = elf["e_machine"]
    # pyelftools builds a section object on every lookup: list them once for all the passes below.
    sections = list(elf.iter_sections())
    needed, interpreter = _dynamic(elf, sections)
    undefined, defined = _dynamic_symbols(elf, sections)
    py = tuple(sorted({name for name, _ in undefined if name.startswith(("Py", "_Py"))
                       and not name.startswith("PyInit_")})) if python_imports else ()
    hooks = tuple(sorted(n for n in defined if n.startswith(_HOOKS))) if python_imports else ()
    return ElfInfo(
        member=member,
        machine=str(machine),
        arch=_ARCHES.get((machine, elf.elfclass, elf.little_endian)),
        needed=needed,
        interpreter=interpreter,
        version_needs=_version_needs(sections, undefined),
        python_imports=py,
        python_exports=hooks,
    )


def _dynamic(elf: ELFFile, sections: list[Section]) -> tuple[tuple[str, ...], str | None]:
    """DT_NEEDED entries and the program interpreter.

    pyelftools finds the sections; the dynamic entries are unpacked here with struct
    (as the symbols below), and the interpreter is read from the .interp section: its
    tag and segment objects cost more than the rest of the scan of a small library.
    """
    from elftools.elf.dynamic import DynamicSection

    needed: list[str] = []
    order = "<" if elf.little_endian else ">"
    entry = f"{order}{'qQ' if elf.elfclass == 64 else 'iI'}"
    size = struct.calcsize(entry)
    for section in sections:
        if not isinstance(section, DynamicSection):
            continue
        link = section["sh_link"]
        if not 0 <= link < len(sections):
            continue
        strings = sections[link].data()
        data = section.data()
        for tag, value in struct.iter_unpack(entry, data[: len(data) // size * size]):
            if tag == 0:  # DT_NULL ends the table
                break
            if tag == 1:  # DT_NEEDED: an offset into the dynamic string table
                needed.append(strings[value: strings.find(b"\0", value)].decode("utf-8", "replace"))
    interp = next((s for s in sections if s.name == ".interp"), None)
    interpreter = interp.data().split(b"\0", 1)[0].decode("utf-8", "replace") if interp is not None else None
    return tuple(needed), interpreter or None


def _dynamic_symbols(elf: ELFFile, sections: list[Section]) -> tuple[list[tuple[str, int | None]], list[str]]:
    """(name, version index) of each symbol the dynamic linker must find elsewhere, and the global symbols
    this binary defines.

    pyelftools finds the sections; the entries are unpacked here with struct,
    because pyelftools parses each symbol through `construct` (about 0.1 ms
    each): seconds for one large library such as OpenBLAS.
    """
    from elftools.elf.gnuversions import GNUVerSymSection
    from elftools.elf.sections import SymbolTableSection

    dynsym = next((s for s in sections if s.name == ".dynsym"), None)
    if not isinstance(dynsym, SymbolTableSection):
        return [], []
    link = dynsym["sh_link"]
    strings = (sections[link] if 0 <= link < len(sections) else elf.get_section(link)).data()
    versym = next((s for s in sections if isinstance(s, GNUVerSymSection)), None)
    order = "<" if elf.little_endian else ">"
    versions = versym.data() if versym is not None else b""
    indexes = struct.unpack(f"{order}{len(versions) // 2}H", versions[: len(versions) // 2 * 2])
    # Elf64_Sym: name, info, other, shndx, value, size; Elf32_Sym: name, value, size, info, other, shndx
    layout, (name_at, info_at, shndx_at) = ("IBBHQQ", (0, 1, 3)) if elf.elfclass == 64 else ("IIIBBH", (0, 3, 5))
    size = struct.calcsize(order + layout)
    data = dynsym.data()
    found, defined = [], []
    for i, entry in enumerate(struct.iter_unpack(order + layout, data[: len(data) // size * size])):
        if i == 0 or entry[info_at] >> 4 == 0:  # STB_LOCAL
            continue
        start = entry[name_at]
        name = strings[start: strings.find(b"\0", start)].decode("utf-8", "replace")
        if entry[shndx_at] != 0:  # defined here
            defined.append(name)
            continue
        index = indexes[i] & 0x7FFF if i < len(indexes) else None  # 0x8000: the "hidden" bit
        found.append((name, index if index and index > 1 else None))  # 0, 1: local / global, no version
    return found, defined


def _version_needs(sections: list[Section], undefined: list[tuple[str, int | None]]) -> tuple[VersionNeed, ...]:
    """.gnu.version_r, with the symbols bound to each version.

    auditwheel.elfutils.elf_find_versioned_symbols lists the versions only; the
    symbols are what a user needs to find the call that raised the requirement.
    """
    from elftools.elf.gnuversions import GNUVerNeedSection

    section = next((s for s in sections if isinstance(s, GNUVerNeedSection)), None)
    if section is None:
        return ()
    by_index: dict[int, tuple[str, str]] = {}
    for verneed, auxes in section.iter_versions():
        library = verneed.name or ""
        if _LOADER.match(library):
            continue
        for aux in auxes:
            by_index[aux["vna_other"]] = (library, aux.name or "")
    symbols: dict[int, list[str]] = {i: [] for i in by_index}
    for name, ndx in undefined:
        if ndx in symbols:
            symbols[ndx].append(name)
    return tuple(VersionNeed(lib, version, tuple(sorted(symbols[i]))) for i, (lib, version) in by_index.items())


def is_loader(soname: str) -> bool:
    return bool(_LOADER.match(soname))

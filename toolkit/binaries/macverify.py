"""A wheel's Mach-O files checked as macOS's loader would, from their bytes on any host: every library
they load that is not the system's resolves inside the wheel (@loader_path, @rpath with the file's
LC_RPATHs), and every slice's code signature matches its bytes (codesign.py)."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from typing import Any

from toolkit.binaries.codesign import signature_problems
from toolkit.binaries.macho import read_macho

SYSTEM_PREFIXES = ("/usr/lib/", "/System/")  # the dyld shared cache: on every Mac, never in a wheel
LC_RPATH = 0x8000001C
_CHECKED_LOADS = ("load_dylib", "load_weak_dylib", "reexport_dylib")
MACHO_MAGICS = (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe")


def is_macho(data: bytes) -> bool:
    # 0xcafebabe is also a Java class file: a fat Mach-O has few architectures, a class file a version >= 45
    return data[:4] in MACHO_MAGICS and not (data[:4] == b"\xca\xfe\xba\xbe" and int.from_bytes(data[4:8], "big") >= 45)


def is_system(name: str) -> bool:
    return name.startswith(SYSTEM_PREFIXES)


def rpaths(header: Any) -> list[str]:
    from macholib.MachO import lc_str_value

    return [lc_str_value(cmd.path, (lc, cmd, data)).decode("utf-8", "replace")
            for lc, cmd, data in header.commands if lc.cmd == LC_RPATH]


def loads(header: Any) -> Iterator[tuple[str, str]]:
    """(kind, install name) of each library one slice loads."""
    for _index, kind, name in header.walkRelocatables():
        yield kind, name


def resolve(name: str, member: str, slice_rpaths: list[str], members: set[str] | Mapping[str, Any]) -> str | None:
    """The wheel member that install name `name`, loaded by `member`, resolves to; None if none does.

    @executable_path is the Python interpreter's folder, never inside a wheel; absolute names are
    outside it. An rpath is tried as dyld does, in order, @loader_path in it resolved too.
    """
    here = posixpath.dirname(member)
    if name.startswith("@loader_path/"):
        candidates = [posixpath.join(here, name[len("@loader_path/"):])]
    elif name.startswith("@rpath/"):
        rest = name[len("@rpath/"):]
        candidates = [posixpath.join(here, rp[len("@loader_path"):].lstrip("/"), rest)
                      for rp in slice_rpaths if rp == "@loader_path" or rp.startswith("@loader_path/")]
    else:
        return None
    for candidate in candidates:
        path = posixpath.normpath(candidate)
        if not path.startswith("../") and path in members:
            return path
    return None


def link_problems(member: str, header: Any, members: set[str] | Mapping[str, Any]) -> list[str]:
    found = rpaths(header)
    return [f"{member}: loads {name}, which is not in the wheel" for kind, name in loads(header)
            if kind in _CHECKED_LOADS and not is_system(name) and resolve(name, member, found, members) is None]


def macho_problems(members: Mapping[str, bytes]) -> list[str]:
    """Every unresolved load and every signature mismatch of the Mach-O members of a wheel (member -> bytes)."""
    problems: list[str] = []
    for member, data in sorted(members.items()):
        if not is_macho(data):
            continue
        try:
            macho = read_macho(data)
        except (ValueError, KeyError, IndexError) as exc:
            problems.append(f"{member}: unreadable Mach-O ({exc})")
            continue
        arches = len(macho.headers) > 1
        for header in macho.headers:
            where = f"{member} [{_arch(header)}]" if arches else member
            problems += link_problems(member, header, members)  # slices name the same libs: deduplicated below
            problems += signature_problems(data, header, where)
    return list(dict.fromkeys(problems))


def wheel_problems(wheel: Any) -> list[str]:
    """macho_problems over a wheel file (a path)."""
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}
    return macho_problems(members)


def _arch(header: Any) -> str:
    from macholib.mach_o import CPU_TYPE_NAMES

    return str(CPU_TYPE_NAMES.get(header.header.cputype, header.header.cputype)).replace("ARM64", "arm64")

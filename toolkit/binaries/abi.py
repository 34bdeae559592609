"""The Python side of binaries: which stable-ABI version a symbol needs (abi3info's
copy of CPython's stable_abi.toml), and what an extension module's file name says."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from packaging.tags import Tag

_CP_ABI = re.compile(r"^cp(\d)(\d+)([a-z]*)$")
_CP_INTERPRETER = re.compile(r"^(?:cp|py)(\d)(\d+)$")
# python312.dll, python313t.dll, python312_d.dll: a version-specific interpreter DLL (python3.dll is the stable one,
# python3t.dll the free-threaded stable one, shipped by both 3.15 builds)
VERSIONED_PYTHON_DLL = re.compile(r"^python3\d+t?(_d)?\.dll$")
STABLE_PYTHON_DLLS = ("python3.dll", "python3t.dll")

_POSIX_NAME = re.compile(r"\.cpython-(\d)(\d+)([a-z]*)-([\w-]+)\.so$")
_WINDOWS_NAME = re.compile(r"\.cp(\d)(\d+)([a-z]*)-(win32|win_\w+)\.pyd$", re.IGNORECASE)
# .abi3.so, and .abi3t.so (PEP 803): a free-threaded 3.15 imports only the latter, a GIL-enabled 3.15+ both.
_STABLE_NAME = re.compile(r"\.(abi3t?)\.so$")


@functools.cache
def _stable_abi() -> dict[str, tuple[int, int]]:
    from abi3info import DATAS, FUNCTIONS

    return {sym.name: (item.added.major, item.added.minor) for sym, item in [*FUNCTIONS.items(), *DATAS.items()]}


def stable_abi_since(symbol: str) -> tuple[int, int] | None:
    """The Python version whose stable ABI added `symbol`; None when it is not in the stable ABI."""
    return _stable_abi().get(symbol)


def abi3_floor(tags: frozenset[Tag]) -> tuple[int, int] | None:
    """The oldest CPython an abi3 wheel claims (cp39-abi3 -> (3, 9)); None when not abi3."""
    from toolkit.tags import stable_abi_floor

    return stable_abi_floor(tags, "abi3")


@dataclass(frozen=True)
class ExtensionName:
    """What an extension module's file name says (PEP 3149 / importlib.machinery.EXTENSION_SUFFIXES)."""

    member: str
    version: tuple[int, int] | None  # None for .abi3.so and .abi3t.so
    free_threaded: bool
    platform: str  # x86_64-linux-gnu, darwin, win_amd64...; "" for .abi3.so
    stable: str | None = None  # "abi3" or "abi3t" for a stable-ABI name

    @property
    def label(self) -> str:
        if self.version is None:
            return self.stable or "abi3"
        return f"CPython {self.version[0]}.{self.version[1]}{'t' if self.free_threaded else ''}"


def extension_name(member: str) -> ExtensionName | None:
    """None for a name that carries no tag (`mod.so`, `mod.pyd`, a library)."""
    if m := _POSIX_NAME.search(member) or _WINDOWS_NAME.search(member):
        return ExtensionName(member, (int(m[1]), int(m[2])), "t" in m[3], m[4].lower())
    if m := _STABLE_NAME.search(member):
        return ExtensionName(member, None, m[1] == "abi3t", "", m[1])
    return None


def tag_loads_version(tag: Tag) -> tuple[tuple[int, int], bool] | None:
    """The one CPython (version, free-threaded) a tag's interpreter+abi pins; None when it pins none."""
    if m := _CP_ABI.match(tag.abi):
        return (int(m[1]), int(m[2])), "t" in m[3]
    if tag.abi == "none" and (m := _CP_INTERPRETER.match(tag.interpreter)):
        return (int(m[1]), int(m[2])), False
    return None


def tag_is_free_threaded(tag: Tag) -> bool | None:
    """True for cp313t and abi3t, False for cp313 and abi3; None for tags that say nothing of it (none, pypy)."""
    if m := _CP_ABI.match(tag.abi):
        return "t" in m[3]
    return {"abi3": False, "abi3t": True}.get(tag.abi)


# The first field of a CPython multiarch triple -> the Linux platform tag arch (as ElfInfo.arch).
_TRIPLE_ARCHES = {"x86_64": "x86_64", "i386": "i686", "i686": "i686", "aarch64": "aarch64", "arm": "armv7l",
                  "powerpc64le": "ppc64le", "powerpc64": "ppc64", "s390x": "s390x", "riscv64": "riscv64",
                  "loongarch64": "loongarch64"}


def platform_agrees(name_platform: str, tag_platform: str) -> bool:
    """Can a module whose name says `name_platform` load where `tag_platform` installs it?

    True when toolkit cannot tell (a pure tag, an OS it does not know).
    """
    from toolkit.tags import linux_tag

    if tag_platform == "any" or not name_platform:
        return True
    if name_platform == "darwin":
        return tag_platform.startswith("macosx_")
    if name_platform.startswith("win"):
        return tag_platform == name_platform
    parts = name_platform.split("-")
    if "linux" not in parts or not parts[-1].startswith(("gnu", "musl")):
        return True
    tag = linux_tag(tag_platform)
    if tag is None:
        return False
    arch = _TRIPLE_ARCHES.get(parts[0])
    if arch is not None and tag.elf_arch is not None and arch != tag.elf_arch:
        return False
    libc = "musl" if parts[-1].startswith("musl") else "glibc"
    return not ((tag.family == "manylinux" and libc == "musl") or (tag.family == "musllinux" and libc == "glibc"))

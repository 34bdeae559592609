"""Wheel platform tags: which family a tag belongs to, what it says, and which repair tool serves it.

Every stage asks this module: check (which binary format a tag runs, which policy
judges it), repair (which tool), ci (the matrix). packaging parses the tags; what
it does not model (families, glibc/macOS versions inside a tag, the tool that
repairs a family) is here, once. PyPI's own allowlist of platform tags stays with
the check rule that applies it (check/rules/filename.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from packaging.tags import Tag

Family = Literal["any", "manylinux", "musllinux", "linux", "macos", "ios", "android", "windows", "emscripten", "other"]
RepairTool = Literal["auditwheel", "delocate", "delvewheel"]

_PEP600 = re.compile(r"^(manylinux|musllinux)_(\d+)_(\d+)_(.+)$")
_LEGACY_MANYLINUX = re.compile(r"^manylinux(1|2010|2014)_(.+)$")
_LEGACY_GLIBC = {"1": (2, 5), "2010": (2, 12), "2014": (2, 17)}
_MACOS = re.compile(r"^macosx_(\d+)_(\d+)_(\w+)$")
_IOS = re.compile(r"^ios_(\d+)_(\d+)_(.+)_(iphoneos|iphonesimulator)$")
_ANDROID = re.compile(r"^android_(\d+)_(.+)$")
# The Windows platform tags and the PE machine each one runs.
WINDOWS_MACHINES = {"win32": "I386", "win_amd64": "AMD64", "win_arm64": "ARM64", "win_ia64": "IA64"}
# uname -m spellings of tag arches, where they differ.
_ARCH_ALIASES = {"amd64": "x86_64", "win32": "x86", "i386": "i686", "arm64_v8a": "aarch64", "armeabi_v7a": "armv7l"}
# The arches a Linux tag can name that an ELF machine runs (binaries/elf.py maps e_machine to these),
# and tag arches that run the same ELF machine as one of them.
ELF_ARCHES = frozenset({"x86_64", "i686", "aarch64", "armv7l", "ppc64le", "ppc64", "s390x", "riscv64", "loongarch64"})
_ELF_ARCH_ALIASES = {"i386": "i686", "i586": "i686", "armv6l": "armv7l", "armv8l": "armv7l"}

_TOOLS: dict[Family, RepairTool] = {
    "linux": "auditwheel", "manylinux": "auditwheel", "musllinux": "auditwheel",
    "macos": "delocate", "windows": "delvewheel",
}


# Platform tag prefixes and the family each starts; the first that matches wins.
_FAMILY_PREFIXES: tuple[tuple[str, Family], ...] = (
    ("manylinux", "manylinux"), ("musllinux", "musllinux"), ("linux_", "linux"), ("macosx_", "macos"),
    ("ios_", "ios"), ("android_", "android"), ("win", "windows"),
    ("emscripten_", "emscripten"), ("pyemscripten_", "emscripten"), ("pyodide_", "emscripten"),
)


# The stable ABIs and the first CPython each one can be built for: abi3 (PEP 384) and abi3t, the stable ABI
# for free-threaded builds (PEP 803, CPython 3.15; `cp314-abi3t` is reserved: installers accept it, nothing
# builds it). A wheel for both carries the compressed tag set `abi3.abi3t`.
StableAbi = Literal["abi3", "abi3t"]
STABLE_ABI_FIRST: dict[StableAbi, tuple[int, int]] = {"abi3": (3, 2), "abi3t": (3, 15)}
_CP_VERSION = re.compile(r"^cp(\d)(\d+)$")


def stable_abi_floor(tags: Iterable[Tag], abi: StableAbi) -> tuple[int, int] | None:
    """The oldest CPython a stable-ABI wheel claims for `abi` (cp39-abi3 -> (3, 9)); None when no tag has it."""
    versions = [(int(m[1]), int(m[2])) for t in tags if t.abi == abi and (m := _CP_VERSION.match(t.interpreter))]
    return min(versions) if versions else None


def stable_abis(tags: Iterable[Tag]) -> frozenset[StableAbi]:
    """Which stable ABIs a wheel's tags name (`cp315-abi3.abi3t` -> both)."""
    return frozenset(t.abi for t in tags if t.abi in STABLE_ABI_FIRST)  # type: ignore[misc]


def platform_family(platform: str) -> Family:
    """The family of one platform tag (`manylinux_2_17_x86_64` -> "manylinux")."""
    if platform == "any":
        return "any"
    return next((family for prefix, family in _FAMILY_PREFIXES if platform.startswith(prefix)), "other")


def wheel_platforms(tags: Iterable[Tag]) -> frozenset[str]:
    return frozenset(t.platform for t in tags)


def families(tags: Iterable[Tag]) -> frozenset[Family]:
    return frozenset(platform_family(t.platform) for t in tags)


def is_pure(tags: Iterable[Tag]) -> bool:
    """A wheel that runs anywhere: every tag's platform is `any` (and none is an empty set)."""
    platforms = wheel_platforms(tags)
    return bool(platforms) and platforms == {"any"}


def repair_tool(tags: Iterable[Tag]) -> RepairTool | None:
    """The tool that vendors libraries into a wheel of these tags; None for a pure wheel or an unknown family.

    A wheel whose tags mix families (a hand-made `linux_x86_64.macosx_11_0_arm64`) has no single tool: None.
    """
    tools = {_TOOLS.get(f) for f in families(tags)}
    return tools.pop() if len(tools) == 1 else None


def binary_format(platform: str) -> Literal["elf", "macho", "pe"] | None:
    """The executable format binaries of this platform are in."""
    family = platform_family(platform)
    if family in ("linux", "manylinux", "musllinux", "android"):
        return "elf"
    if family in ("macos", "ios"):
        return "macho"
    if family == "windows":
        return "pe"
    return None


@dataclass(frozen=True)
class LinuxTag:
    text: str  # the platform tag as written, e.g. manylinux2014_x86_64
    family: Literal["manylinux", "musllinux", "linux"]
    version: tuple[int, int] | None  # glibc or musl version; None for linux_*
    arch: str  # as written: x86_64, i686, armv7l...

    @property
    def elf_arch(self) -> str | None:
        """The ELF arch (binaries/elf.py's names) this tag runs; None when toolkit does not know it."""
        arch = "x86_64" if self.arch.startswith("x86_64") else _ELF_ARCH_ALIASES.get(self.arch, self.arch)
        return arch if arch in ELF_ARCHES else None


def linux_tag(platform: str) -> LinuxTag | None:
    """A manylinux (PEP 600 or legacy), musllinux or linux_* tag, parsed; None for any other tag."""
    if m := _PEP600.match(platform):
        family: Literal["manylinux", "musllinux"] = "manylinux" if m[1] == "manylinux" else "musllinux"
        return LinuxTag(platform, family, (int(m[2]), int(m[3])), m[4])
    if m := _LEGACY_MANYLINUX.match(platform):
        return LinuxTag(platform, "manylinux", _LEGACY_GLIBC[m[1]], m[2])
    if platform.startswith("linux_"):
        return LinuxTag(platform, "linux", None, platform[len("linux_"):])
    return None


def manylinux_glibc(platform: str) -> tuple[int, int] | None:
    """The glibc version a manylinux tag promises (legacy aliases included)."""
    tag = linux_tag(platform)
    return tag.version if tag is not None and tag.family == "manylinux" else None


def macos_version(platform: str) -> tuple[int, int] | None:
    """The minimum macOS of a `macosx_X_Y_arch` tag."""
    m = _MACOS.match(platform)
    return (int(m[1]), int(m[2])) if m else None


def platform_arch(platform: str) -> str | None:
    """The machine of a tag, as `uname -m` spells it (x86_64, aarch64, arm64, universal2...); None for `any`."""
    if platform in WINDOWS_MACHINES:
        return {"win32": "x86", "win_amd64": "x86_64", "win_arm64": "arm64", "win_ia64": "ia64"}[platform]
    if (tag := linux_tag(platform)) is not None:
        return _ARCH_ALIASES.get(tag.arch, tag.arch)
    for pattern, group in ((_MACOS, 3), (_IOS, 3), (_ANDROID, 2)):
        if m := pattern.match(platform):
            return _ARCH_ALIASES.get(m[group], m[group])
    return None

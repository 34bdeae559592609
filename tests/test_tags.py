"""toolkit/tags.py: what a platform tag says, and which repair tool a wheel's tags need (pure functions)."""

from __future__ import annotations

import pytest
from packaging.tags import parse_tag

from toolkit import tags


@pytest.mark.parametrize(("platform", "family", "arch", "fmt"), [
    ("any", "any", None, None),
    ("manylinux2014_x86_64", "manylinux", "x86_64", "elf"),
    ("manylinux_2_28_aarch64", "manylinux", "aarch64", "elf"),
    ("musllinux_1_2_armv7l", "musllinux", "armv7l", "elf"),
    ("linux_i686", "linux", "i686", "elf"),
    ("macosx_11_0_arm64", "macos", "arm64", "macho"),
    ("macosx_10_9_universal2", "macos", "universal2", "macho"),
    ("ios_13_0_arm64_iphonesimulator", "ios", "arm64", "macho"),
    ("android_21_arm64_v8a", "android", "aarch64", "elf"),
    ("win_amd64", "windows", "x86_64", "pe"),
    ("win32", "windows", "x86", "pe"),
    ("win_arm64", "windows", "arm64", "pe"),
    ("pyemscripten_2025_0_wasm32", "emscripten", None, None),
    ("solaris_2_11_sparc", "other", None, None),
])
def test_family_arch_and_binary_format(platform: str, family: str, arch: str | None, fmt: str | None) -> None:
    assert tags.platform_family(platform) == family
    assert tags.platform_arch(platform) == arch
    assert tags.binary_format(platform) == fmt


@pytest.mark.parametrize(("platform", "glibc"), [
    ("manylinux1_x86_64", (2, 5)), ("manylinux2010_i686", (2, 12)), ("manylinux2014_aarch64", (2, 17)),
    ("manylinux_2_34_x86_64", (2, 34)), ("musllinux_1_2_x86_64", None), ("linux_x86_64", None), ("win32", None),
])
def test_the_glibc_a_manylinux_tag_promises(platform: str, glibc: tuple[int, int] | None) -> None:
    assert tags.manylinux_glibc(platform) == glibc


def test_macos_version_and_elf_arch_aliases() -> None:
    assert tags.macos_version("macosx_10_13_x86_64") == (10, 13)
    assert tags.macos_version("manylinux2014_x86_64") is None
    assert tags.linux_tag("linux_armv6l").elf_arch == "armv7l"  # type: ignore[union-attr]
    assert tags.linux_tag("manylinux2014_sparc64").elf_arch is None  # type: ignore[union-attr]


@pytest.mark.parametrize(("tag", "tool", "pure"), [
    ("py3-none-any", None, True),
    ("cp311-cp311-linux_x86_64", "auditwheel", False),
    ("cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64", "auditwheel", False),
    ("cp312-cp312-musllinux_1_2_x86_64", "auditwheel", False),
    ("cp312-cp312-macosx_11_0_arm64", "delocate", False),
    ("cp313-cp313-win_amd64", "delvewheel", False),
    ("cp313-cp313-linux_x86_64.macosx_11_0_arm64", None, False),  # mixed families: no single tool
    ("cp313-cp313-ios_13_0_arm64_iphoneos", None, False),
])
def test_repair_tool_from_a_wheels_tags(tag: str, tool: str | None, pure: bool) -> None:
    parsed = parse_tag(tag)
    assert tags.repair_tool(parsed) == tool
    assert tags.is_pure(parsed) is pure

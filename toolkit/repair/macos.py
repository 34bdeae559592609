"""Repair for macOS wheels (macosx_*): with delocate on a macOS host, from any other host with
macholib and an ad-hoc re-signing of its own (macos_anyhost.py), in delocate's layout either way.

On macOS delocate edits load commands with Apple's install_name_tool and re-signs with codesign;
elsewhere those tools do not exist, so macos_anyhost.py rewrites the install names with macholib
and recomputes each edited slice's ad-hoc signature, as install_name_tool does for linker-signed
files. Either way, every load command of the result must resolve inside the wheel and every
signature must match its bytes (check/binaries/macverify.py): no import test can run off macOS.
`--show` works everywhere: it reads the Mach-O records with macholib, as the check stage does.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit._fs import sha256_file
from toolkit.errors import RepairError
from toolkit.repair.base import BinaryNeeds, Repaired, Shown, environ_set, search_path, tool_version
from toolkit.repair.sbom import Vendored

if TYPE_CHECKING:
    from toolkit._proc import Logger
    from toolkit.config import RepairOptions

TOOL = "delocate" if sys.platform == "darwin" else "macholib"
LIB_SDIR = ".dylibs"
_SYSTEM = ("/usr/lib/", "/System/")


def unavailable() -> str | None:
    return None  # every host: delocate on macOS, macholib and toolkit's ad-hoc signer elsewhere


def show(wheel: Path, options: RepairOptions) -> Shown:
    from toolkit.binaries import WheelZip, scan
    from toolkit.binaries.macho import ARM64_FIRST_MACOS

    view = WheelZip(wheel)
    found = scan(view)
    binaries = []
    inside = set(found.basenames)
    vendor: dict[str, str | None] = {}
    dirs = search_path(options, "DYLD_LIBRARY_PATH")
    queue: list[str] = []
    for macho in found.macho:
        needs = tuple(load_dylibs(view.read(macho.member) or b""))
        binaries.append(BinaryNeeds(macho.member, needs))
        queue += needs
    while queue:  # what the wheel's binaries load, then what the libraries found load in turn
        name = queue.pop(0)
        base = name.rsplit("/", 1)[-1]
        if name in vendor or name.startswith(_SYSTEM) or base in inside or excluded(base, options):
            continue
        vendor[name] = locate(name, dirs)
        if vendor[name] is not None:
            queue += load_dylibs(Path(vendor[name] or "").read_bytes())
    # arm64 exists from macOS 11 on: a universal2 wheel's tag follows its x86_64 slices unless arm64 asks more.
    minos = [s.minos for m in found.macho for s in m.slices
             if s.minos is not None and not (s.arch.startswith("arm64") and s.minos <= ARM64_FIRST_MACOS)]
    minos = minos or [ARM64_FIRST_MACOS]
    arches = sorted({s.arch for m in found.macho for s in m.slices})
    best = None
    if found.macho:
        top = max(minos)
        version = f"{top[0]}_0" if top[0] >= 11 else f"{top[0]}_{top[1]}"
        arch = "universal2" if set(arches) >= {"x86_64", "arm64"} else (arches[0] if arches else "")
        best = f"macosx_{version}_{arch}"
    notes = (unavailable(),) if unavailable() else ()
    return Shown(wheel.name, tool_version(TOOL), tuple(binaries), tuple(sorted(vendor.items())), best,
                 tuple(n for n in notes if n))


def load_dylibs(data: bytes) -> Iterator[str]:
    """The install names a Mach-O file loads (LC_LOAD_DYLIB and kin), every slice, each once.

    The check stage's Mach-O record holds arches and versions but not these; its macholib
    reader (from bytes) is reused here rather than a second parser.
    """
    from toolkit.binaries.macho import read_macho

    seen: set[str] = set()
    for header in read_macho(data).headers:
        for _index, kind, name in header.walkRelocatables():
            if kind != "LC_ID_DYLIB" and name not in seen:
                seen.add(name)
                yield name


def excluded(name: str, options: RepairOptions) -> bool:
    from fnmatch import fnmatch

    return any(fnmatch(name, pattern) for pattern in options.exclude)


def locate(name: str, dirs: list[str]) -> str | None:
    """As dyld with DYLD_LIBRARY_PATH set: the folders by the name's last part first, then an absolute name."""
    base = name.rsplit("/", 1)[-1]
    found = next((str(Path(d) / base) for d in dirs if (Path(d) / base).is_file()), None)
    if found is None and name.startswith("/") and Path(name).is_file():
        return name
    return found


def repair(wheel: Path, workdir: Path, options: RepairOptions, logger: Logger) -> Repaired | None:
    """delocate on macOS, macos_anyhost elsewhere; the result's loads and signatures verified either way."""
    from toolkit.repair import macos_anyhost

    repaired = _delocate(wheel, workdir, options) if sys.platform == "darwin" else _anyhost(wheel, workdir, options)
    if repaired is not None:
        macos_anyhost.verify(repaired.wheel)
    return repaired


def _anyhost(wheel: Path, workdir: Path, options: RepairOptions) -> Repaired | None:
    from toolkit.repair import macos_anyhost

    done = macos_anyhost.repair(wheel, workdir, search_path(options, "DYLD_LIBRARY_PATH"), options)
    if done is None:
        return None
    out, copied = done
    vendored = tuple(Vendored(Path(src).name, src, member, sha256_file(Path(src))[0])
                     for member, src in sorted(copied.items()))
    return Repaired(out, vendored, tool_version(TOOL))


def _delocate(wheel: Path, workdir: Path, options: RepairOptions) -> Repaired | None:
    """delocate's library API, on macOS."""
    import os

    from delocate import delocate_wheel
    from delocate.libsana import DelocationError

    out = workdir / wheel.name
    env_dirs = search_path(options, "DYLD_LIBRARY_PATH")
    try:  # delocate searches where the loader would
        with environ_set("DYLD_LIBRARY_PATH", os.pathsep.join(env_dirs)):
            copied = delocate_wheel(str(wheel), str(out), lib_sdir=LIB_SDIR, require_archs=(),
                                    copy_filt_func=lambda name: not name.startswith(_SYSTEM) and not excluded(
                                        Path(name).name, options))
    except (DelocationError, OSError, ValueError) as exc:
        raise RepairError(f"{wheel.name}: delocate could not repair it: {str(exc).strip().splitlines()[0]}",
                          hint="pass the folder that holds a missing library with -L/--lib-dir") from None
    produced = [p for p in workdir.glob("*.whl")]
    if not copied and (not produced or produced[0].name == wheel.name):
        return None
    vendored = tuple(Vendored(Path(src).name, src, _member_of(produced[0], Path(src).name), sha256_file(Path(src))[0])
                     for src in sorted(copied))
    return Repaired(produced[0], vendored, tool_version(TOOL))


def _member_of(wheel: Path, base: str) -> str:
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        return next((n for n in zf.namelist() if n.endswith(f"{LIB_SDIR}/{base}")), base)

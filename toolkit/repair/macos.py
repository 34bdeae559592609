"""Repair for macOS wheels (macosx_*): delocate on macOS, repairwheel on any other host.

delocate reads and rewrites load commands with Apple's otool and install_name_tool and re-signs
what it edits with codesign (ad hoc): an arm64 binary whose signature no longer matches its bytes
is killed at load. Off macOS, repairwheel runs delocate's own logic with those three tools replaced
by pure Python (macholib edits the load commands; it writes the ad-hoc signature itself), so a Linux
CI job can repair a macOS wheel. Its command line is its documented interface: it runs as a subprocess.
`--show` works everywhere: it reads the Mach-O records with macholib, as the check stage does.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit._fs import sha256_file
from toolkit.errors import RepairError
from toolkit.repair.base import BinaryNeeds, Repaired, Shown, search_path, tool_version
from toolkit.repair.sbom import Vendored

if TYPE_CHECKING:
    from toolkit._proc import Logger
    from toolkit.config import RepairOptions

TOOL = "delocate"
LIB_SDIR = ".dylibs"
_SYSTEM = ("/usr/lib/", "/System/")


def unavailable() -> str | None:
    if sys.platform != "darwin" and importlib.util.find_spec("repairwheel") is None:
        return ("macOS wheels are repaired off macOS with repairwheel, which is not installed "
                "(pip install repairwheel), or on macOS with delocate")
    return None


def show(wheel: Path, options: RepairOptions) -> Shown:
    from toolkit.check.binaries import scan
    from toolkit.check.binaries.macho import ARM64_FIRST_MACOS
    from toolkit.check.view import DistView

    view = DistView(wheel)
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
        if name in vendor or name.startswith(_SYSTEM) or base in inside or _excluded(base, options):
            continue
        vendor[name] = _locate(name, dirs)
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
    from toolkit.check.binaries.macho import _machobytes_class

    seen: set[str] = set()
    for header in _machobytes_class()(data).headers:
        for _index, kind, name in header.walkRelocatables():
            if kind != "LC_ID_DYLIB" and name not in seen:
                seen.add(name)
                yield name


def _excluded(name: str, options: RepairOptions) -> bool:
    from fnmatch import fnmatch

    return any(fnmatch(name, pattern) for pattern in options.exclude)


def _locate(name: str, dirs: list[str]) -> str | None:
    if name.startswith("/"):
        return name if Path(name).is_file() else None
    base = name.rsplit("/", 1)[-1]
    return next((str(Path(d) / base) for d in dirs if (Path(d) / base).is_file()), None)


def repair(wheel: Path, workdir: Path, options: RepairOptions, logger: Logger) -> Repaired | None:
    """delocate's library API on macOS; repairwheel elsewhere."""
    import os

    if sys.platform != "darwin":
        return _repair_elsewhere(wheel, workdir, options, logger)

    from delocate import delocate_wheel
    from delocate.libsana import DelocationError

    out = workdir / wheel.name
    env_dirs = search_path(options, "DYLD_LIBRARY_PATH")
    old = os.environ.get("DYLD_LIBRARY_PATH")
    os.environ["DYLD_LIBRARY_PATH"] = os.pathsep.join(env_dirs)  # delocate searches where the loader would
    try:
        copied = delocate_wheel(str(wheel), str(out), lib_sdir=LIB_SDIR, require_archs=(),
                                copy_filt_func=lambda name: not name.startswith(_SYSTEM) and not _excluded(
                                    Path(name).name, options))
    except (DelocationError, OSError, ValueError) as exc:
        raise RepairError(f"{wheel.name}: delocate could not repair it: {str(exc).strip().splitlines()[0]}",
                          hint="pass the folder that holds a missing library with -L/--lib-dir") from None
    finally:
        if old is None:
            os.environ.pop("DYLD_LIBRARY_PATH", None)
        else:
            os.environ["DYLD_LIBRARY_PATH"] = old
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


def _repair_elsewhere(wheel: Path, workdir: Path, options: RepairOptions, logger: Logger) -> Repaired | None:
    """repairwheel's command line (delocate's logic, the Mach-O edits and ad-hoc signatures in Python)."""
    from toolkit._proc import ProcessFailed

    cmd: list[str | Path] = [sys.executable, "-m", "repairwheel", "-o", workdir]
    for d in search_path(options, "DYLD_LIBRARY_PATH"):
        cmd += ["-l", d]
    for pattern in options.exclude:
        cmd += ["-e", pattern]
    try:
        logger.run([*cmd, wheel])
    except ProcessFailed as exc:
        log = logger.path.read_text(encoding="utf-8", errors="replace")
        # delocate's own account: "<install name> not found, requested by <binary in its temporary folder>"
        missing = re.findall(r"^(\S+) not found, requested by \S+?/wheel/(\S+)$", log, re.MULTILINE)
        if missing:
            where = ", ".join(search_path(options, "DYLD_LIBRARY_PATH")) or "(no folder)"
            raise RepairError(f"{missing[-1][0]} is not found: {missing[-1][1]} needs it; searched {where}",
                              hint="pass the folder that holds it with -L/--lib-dir, or --exclude it") from None
        raise RepairError(f"{wheel.name}: repairwheel could not repair it: {exc.tail[-1] if exc.tail else 'no output'}",
                          hint=f"repairwheel's output is kept in {logger.path}") from None
    produced = sorted(workdir.glob("*.whl"))
    if not produced:
        return None
    import zipfile

    with zipfile.ZipFile(wheel) as zin, zipfile.ZipFile(produced[0]) as zout:
        new = sorted(n for n in set(zout.namelist()) - set(zin.namelist()) if f"{LIB_SDIR}/" in n and not n.endswith("/"))
    if not new and produced[0].name == wheel.name:
        return None
    dirs = search_path(options, "DYLD_LIBRARY_PATH")
    vendored = []
    for member in new:
        base = member.rsplit("/", 1)[-1]
        source = _locate(base, dirs)
        vendored.append(Vendored(base, source or base, member, sha256_file(Path(source))[0] if source else ""))
    return Repaired(produced[0], tuple(vendored), tool_version("repairwheel"))

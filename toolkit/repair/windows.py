"""Repair for Windows wheels (win32, win_amd64, win_arm64) with delvewheel, on any host.

delvewheel reads and patches PE files with pefile (pure Python), so a Linux CI job can
repair a wheel cross-compiled with mingw-w64. Its command line is its documented
interface (its Python modules are private), so toolkit runs it as a subprocess.
Vendored DLLs get a hashed ("mangled") name so that two wheels' copies never clash.
"""

from __future__ import annotations

import os
import re
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit._fs import sha256_file
from toolkit._proc import ProcessFailed, without_secrets
from toolkit.errors import RepairError
from toolkit.repair.base import BinaryNeeds, Repaired, Shown, search_path, tool_version
from toolkit.repair.sbom import Vendored

if TYPE_CHECKING:
    from toolkit._proc import Logger
    from toolkit.config import RepairOptions

TOOL = "delvewheel"
_COPIED = re.compile(r"^\s{4}(\S+) \((.*)\)$")
_MISSING = re.compile(r"Unable to find library: (\S+)")
_MANGLED = re.compile(r"^(.+)-[0-9a-f]{32}(\.dll)$", re.IGNORECASE)


def unavailable() -> str | None:
    return None


def _args(options: RepairOptions) -> list[str]:
    args = []
    # delvewheel searches PATH itself; -L folders go first. On Windows, PATH is named too, so that the
    # folders listed in an error are the ones searched.
    dirs = search_path(options, "PATH" if sys.platform == "win32" else None)
    if dirs:
        args += ["--add-path", os.pathsep.join(dirs)]
    if options.exclude:
        args += ["--exclude", os.pathsep.join(options.exclude)]
    return args


def show(wheel: Path, options: RepairOptions) -> Shown:
    import subprocess

    cmd = [sys.executable, "-m", "delvewheel", "show", *_args(options), str(wheel)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=without_secrets())
    if proc.returncode:
        raise RepairError(f"{wheel.name}: delvewheel cannot read it: {_last_line(proc.stderr)}", hint="rebuild the wheel")
    vendor = []
    copying = False
    for line in proc.stdout.splitlines():
        if line.startswith("The following DLLs"):
            copying = "will be copied" in line
        elif copying and (m := _COPIED.match(line)):
            vendor.append((m[1], None if m[2].startswith("Error") else m[2]))
    notes = tuple(line.strip() for line in proc.stdout.splitlines() if "already repaired" in line)
    tags = wheel.name[:-4].split("-")[-1]
    return Shown(wheel.name, tool_version(TOOL), tuple(_imports(wheel)), tuple(vendor), tags, notes)


def _imports(wheel: Path) -> list[BinaryNeeds]:
    """Each PE member's DLL imports, from the check stage's PE reader."""
    from toolkit.binaries import BINARY_SUFFIX, sniff
    from toolkit.binaries.pe import parse_pe

    found = []
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if BINARY_SUFFIX.search(name):
                data = zf.read(name)
                if sniff(data[:8]) == "pe":
                    found.append(BinaryNeeds(name, tuple(sorted(parse_pe(name, data, imports=True).imports))))
    return found


def repair(wheel: Path, workdir: Path, options: RepairOptions, logger: Logger) -> Repaired | None:
    cmd: list[str | Path] = [sys.executable, "-m", "delvewheel", "repair", *_args(options), "-w", workdir]
    try:
        logger.run([*cmd, wheel])
    except ProcessFailed:
        log = logger.path.read_text(encoding="utf-8", errors="replace")
        missing = _MISSING.findall(log)
        if missing:
            raise RepairError(_missing_message(wheel, missing[-1], options),
                              hint="pass the folder that holds it with -L/--lib-dir, or --exclude it") from None
        raise RepairError(f"{wheel.name}: delvewheel could not repair it: {_last_line(log)}",
                          hint=f"delvewheel's output is kept in {logger.path}") from None
    produced = sorted(workdir.glob("*.whl"))
    vendored = tuple(_vendored(wheel, produced[0], options)) if produced else ()
    # No wheel ("delvewheel has already repaired this wheel"), or a copy with no DLL added: delvewheel keeps
    # the tag, so a wheel it vendored nothing into needs nothing.
    if not vendored:
        return None
    return Repaired(produced[0], vendored, tool_version(TOOL))


def _vendored(wheel: Path, out: Path, options: RepairOptions) -> list[Vendored]:
    with zipfile.ZipFile(wheel) as zin, zipfile.ZipFile(out) as zout:
        new = sorted(set(zout.namelist()) - set(zin.namelist()))
    dirs = search_path(options, "PATH")
    found = []
    for member in new:
        base = member.rsplit("/", 1)[-1]
        if not base.lower().endswith(".dll"):
            continue
        m = _MANGLED.match(base)
        original = f"{m[1]}{m[2]}" if m else base
        source = next((Path(d) / original for d in dirs if (Path(d) / original).is_file()), None)
        digest = sha256_file(source)[0] if source else ""
        found.append(Vendored(original, str(source or original), member, digest))
    return found


def _missing_message(wheel: Path, dll: str, options: RepairOptions) -> str:
    needers = [b.member for b in _imports(wheel) if dll.lower() in b.needs]
    where = ", ".join(search_path(options, "PATH")) or "(no folder)"
    return f"{dll} is not found: {', '.join(needers) or 'a binary'} needs it; searched {where}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("[toolkit")]
    return lines[-1] if lines else "no output"

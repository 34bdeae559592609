"""Repair's look at an input wheel before any tool touches it: what the tools would crash on or change
silently (a member name that leaves the wheel, a symlink, a RECORD naming a folder, a binary that does not
parse, binaries of another architecture than the tag) is refused here, in one line, for repair and --show.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.dist import Dist
from toolkit.errors import RepairError
from toolkit.tags import binary_format, platform_arch, wheel_platforms

if TYPE_CHECKING:
    from toolkit.check.binaries.elf import ElfInfo
    from toolkit.check.view import DistView

_REBUILD = "build the wheel again with a current build backend; no repair tool can take it as it is"


def read_input(wheel: Path) -> Dist:
    """The input's identity, once it is known to be a wheel every repair tool can read safely."""
    try:
        dist = Dist.from_path(wheel)
    except OSError as exc:
        raise RepairError(f"{wheel}: cannot be read ({exc.strerror})", hint="check the file's permissions") from None
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise RepairError(f"{wheel.name}: damaged wheel ({exc})", hint="build it again") from None
    if not any(n.split("/", 1)[0].endswith(".dist-info") for n in names):
        raise RepairError(f"{wheel.name}: damaged wheel (no .dist-info folder)", hint="build it again")
    if wheel_platforms(dist.tags) != {"any"}:
        _preflight(wheel, dist)
    return dist


def _preflight(wheel: Path, dist: Dist) -> None:
    # The check stage's reader: it indexes the archive without extracting it and never raises on bad input.
    from toolkit.check.view import DistView

    view = DistView(wheel)
    with view.archive:
        _judge(wheel, dist, view)


def _judge(wheel: Path, dist: Dist, view: DistView) -> None:
    from toolkit.check.binaries import scan

    archive = view.archive
    for code, message in archive.problems:
        if code == "Z101":  # a tool extracting the wheel would write outside its folder, or drop the '..'
            raise RepairError(f"{wheel.name}: {message}", hint=_REBUILD)
    for m in archive.members:
        if m.kind in ("symlink", "hardlink"):
            raise RepairError(f"{wheel.name}: {m.name} is a {m.kind} (to {m.link_target}), not a file: installers "
                              "write it as a file holding the target's name", hint="put the file itself in the wheel")
    _record_folders(wheel, view, {m.name for m in archive.members})
    found = scan(view)
    if found.broken:
        b = found.broken[0]
        raise RepairError(f"{wheel.name}: {b.member} is damaged ({b.reason})", hint=_REBUILD)
    _same_arch(wheel, dist, found.elf)


def _record_folders(wheel: Path, view: DistView, names: set[str]) -> None:
    """A RECORD line that names a folder (the tools open every path it lists as a file)."""
    data = view.read(f"{view.dist_info}/RECORD") if view.dist_info else None
    folders = {n.rsplit("/", i)[0] for n in names for i in range(1, n.count("/") + 1)}
    for row in csv.reader(io.StringIO((data or b"").decode("utf-8", "replace"))):
        if row and (row[0].endswith("/") or row[0] in folders):
            raise RepairError(f"{wheel.name}: its RECORD lists {row[0]!r}, a folder", hint=_REBUILD)


def _same_arch(wheel: Path, dist: Dist, elves: list[ElfInfo]) -> None:
    """Every ELF binary runs on the arch the tag names, as auditwheel requires."""
    tagged = {platform_arch(p) for p in wheel_platforms(dist.tags) if binary_format(p) == "elf"} - {None}
    for elf in elves:
        if tagged and elf.arch is not None and elf.arch not in tagged:
            raise RepairError(f"{wheel.name}: {elf.member} is built for {elf.arch}, but the wheel is tagged for "
                              f"{', '.join(sorted(a for a in tagged if a))}",
                              hint=f"build every extension for the tag's arch, or tag the wheel {elf.arch}")

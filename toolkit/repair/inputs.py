"""Repair's look at an input wheel before any tool touches it: what the tools would crash on or change
silently (a member name that leaves the wheel, a symlink, a RECORD naming a folder, a binary that does not
parse, binaries of another architecture than the tag) is refused here, in one line, for repair and --show.
"""

from __future__ import annotations

import csv
import io
import stat
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.dist import Dist
from toolkit.errors import RepairError
from toolkit.tags import binary_format, platform_arch, wheel_platforms

if TYPE_CHECKING:
    from toolkit.binaries.elf import ElfInfo

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
    # zipfile's own listing: the repair tools read the wheel with zipfile too, so what it shows is what they would do.
    from toolkit.binaries import WheelZip, scan

    with zipfile.ZipFile(wheel) as zf:
        infos = zf.infolist()
        names = {i.filename for i in infos}
        dist_info = next((n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")), "")
        record = zf.read(f"{dist_info}/RECORD") if f"{dist_info}/RECORD" in names else b""
        for info in infos:
            _judge_member(wheel, info, zf)
    _record_folders(wheel, record, names)
    found = scan(WheelZip(wheel))
    if found.broken:
        b = found.broken[0]
        raise RepairError(f"{wheel.name}: {b.member} is damaged ({b.reason})", hint=_REBUILD)
    _same_arch(wheel, dist, found.elf)


def _judge_member(wheel: Path, info: zipfile.ZipInfo, zf: zipfile.ZipFile) -> None:
    """A member a tool extracting the wheel would write outside its folder (or drop), or a symlink it would follow."""
    name = info.filename
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise RepairError(f"{wheel.name}: unsafe member name {name!r}: it is an absolute path", hint=_REBUILD)
    if ".." in parts:
        raise RepairError(f"{wheel.name}: unsafe member name {name!r}: it has a '..' component", hint=_REBUILD)
    if stat.S_ISLNK(info.external_attr >> 16):
        target = zf.read(info).decode("utf-8", "replace")
        raise RepairError(f"{wheel.name}: {name} is a symlink (to {target}), not a file: installers write it as a "
                          "file holding the target's name", hint="put the file itself in the wheel")


def _record_folders(wheel: Path, record: bytes, names: set[str]) -> None:
    """A RECORD line that names a folder (the tools open every path it lists as a file)."""
    folders = {n.rsplit("/", i)[0] for n in names for i in range(1, n.count("/") + 1)}
    for row in csv.reader(io.StringIO(record.decode("utf-8", "replace"))):
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

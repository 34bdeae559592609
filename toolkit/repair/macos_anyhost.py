"""macOS wheels repaired off macOS: delocate's layout and install names, written with macholib
instead of install_name_tool, and each edited slice re-signed ad hoc in place (machosign.py).

The dylibs the wheel's binaries load from outside it (found in -L/--lib-dir or DYLD_LIBRARY_PATH)
go to <package>/.dylibs/, each load command points at them by @loader_path, each copy's id
becomes /DLC/<package>/.dylibs/<name> and the tag rises to what a copy needs (as delocate does);
verify() then reads the result back.
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.binaries.macho import read_macho
from toolkit.binaries.macverify import is_macho, is_system, loads, macho_problems, resolve, rpaths
from toolkit.errors import RepairError
from toolkit.repair.machosign import resign_adhoc

if TYPE_CHECKING:
    from toolkit.config import RepairOptions

LIB_SDIR = ".dylibs"
DLC_PREFIX = "/DLC/"  # delocate's prefix for the ids of the libraries it copies in


@dataclass
class Plan:
    members: dict[str, bytes]  # the wheel's files, then the copies to add
    libdir: str  # where copies go, e.g. "zmq/.dylibs"
    copied: dict[str, str] = field(default_factory=dict)  # member of a copy -> the file it comes from
    renames: dict[str, dict[str, str]] = field(default_factory=dict)  # member -> old install name -> new one
    rewritten: set[str] = field(default_factory=set)  # other members changed (WHEEL, when the tag rises)


def plan(wheel: Path, members: dict[str, bytes], dirs: list[str], skip: Callable[[str], bool]) -> Plan:
    """What to copy in and which install names to change; the libraries the copies load are followed too."""
    from toolkit.repair.macos import locate

    todo = Plan(dict(members), bundle_dir(members, wheel))
    queue = [m for m, data in members.items() if is_macho(data)]
    while queue:
        member = queue.pop(0)
        for header in read_macho(todo.members[member]).headers:
            found = rpaths(header)
            for _kind, name in loads(header):
                base = posixpath.basename(name)
                if is_system(name) or resolve(name, member, found, todo.members) or skip(base):
                    continue
                target = f"{todo.libdir}/{base}"
                if target not in todo.members:
                    source = locate(name, dirs)
                    if source is None:
                        raise RepairError(f"{wheel.name}: {member} loads {name}, which is neither in the wheel nor "
                                          "in the library folders",
                                          hint="pass the folder that holds it with -L/--lib-dir")
                    todo.members[target], todo.copied[target] = Path(source).read_bytes(), source
                    queue.append(target)
                new = "@loader_path/" + posixpath.relpath(target, posixpath.dirname(member))
                if new != name:
                    todo.renames.setdefault(member, {})[name] = new
    return todo


def bundle_dir(members: dict[str, bytes], wheel: Path) -> str:
    """delocate's choice: the package named as the project, else the first package, else <name>.dylibs."""
    packages = sorted({m.split("/")[0] for m in members if m.count("/") == 1 and m.endswith("/__init__.py")})
    project = wheel.name.split("-")[0]
    if project in packages:
        return f"{project}/{LIB_SDIR}"
    return f"{packages[0]}/{LIB_SDIR}" if packages else f"{project}{LIB_SDIR}"


def edit(member: str, data: bytes, renames: dict[str, str], new_id: str | None) -> bytes:
    """The file with its install names (and id) changed by macholib, every slice re-signed."""
    macho = read_macho(data)
    for header in macho.headers:
        with contextlib.redirect_stdout(io.StringIO()):  # macholib prints its header-overflow warning
            header.rewriteLoadCommands(renames.get)
            if new_id is not None:
                header.rewriteInstallNameCommand(new_id.encode())
        if header.total_size + header.sizediff > header.low_offset:
            raise RepairError(f"{member}: its load commands have no room for the new install names",
                              hint="link it with -headerpad_max_install_names and build the wheel again")
    out = io.BytesIO(data)
    for header in macho.headers:
        header.write(out)
    if out.getvalue() == data:  # the names were already right (a copy's id): its signature stays as it is
        return data
    edited = bytearray(out.getvalue())
    for header in read_macho(bytes(edited)).headers:
        resign_adhoc(edited, header, member)
    return bytes(edited)


def write_wheel(wheel: Path, out: Path, todo: Plan) -> None:
    """The wheel with its edited and added members; RECORD keeps only lines of unchanged members (the
    stage's finish() hashes the others)."""
    changed = set(todo.copied) | set(todo.renames) | todo.rewritten
    with zipfile.ZipFile(wheel) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        record_name = next(n for n in zin.namelist() if n.endswith(".dist-info/RECORD"))
        for info in zin.infolist():
            if info.is_dir():
                continue
            data = todo.members[info.filename]
            if info.filename == record_name:
                data = b"".join(line + b"\n" for line in data.splitlines()
                                if line.split(b",", 1)[0].decode() not in changed)
            zout.writestr(info, data)
        for member, source in todo.copied.items():
            info = zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (Path(source).stat().st_mode & 0o777 | 0o100000) << 16
            zout.writestr(info, todo.members[member], zipfile.ZIP_DEFLATED)


def raised_platform(wheel: Path, todo: Plan) -> str | None:
    """delocate's rule: a copied dylib built for a newer macOS than the tag allows raises the tag to it."""
    from packaging.utils import parse_wheel_filename

    from toolkit.binaries.macho import parse_macho, too_new
    from toolkit.tags import macos_version

    platforms = {t.platform for t in parse_wheel_filename(wheel.name)[3]}
    platform = platforms.pop() if len(platforms) == 1 else ""
    version = macos_version(platform)
    if version is None:
        return None
    needs = [s.minos for m in todo.copied for s in parse_macho(m, todo.members[m], python_imports=False).slices
             if s.minos is not None and too_new(s.minos, version, s.arch)]
    if not needs:
        return None
    top = max(needs)
    return f"macosx_{top[0]}_{0 if top[0] >= 11 else top[1]}_{platform.split('_', 3)[3]}"


def retag(wheel: Path, todo: Plan, platform: str) -> str:
    """The new file name; the WHEEL file's Tag lines say the new platform too."""
    stem, old = wheel.name[:-len(".whl")].rsplit("-", 1)
    meta = next(m for m in todo.members if m.count("/") == 1 and m.endswith(".dist-info/WHEEL"))
    lines = todo.members[meta].decode().splitlines(keepends=True)
    todo.members[meta] = "".join(line.replace(f"-{old}", f"-{platform}") if line.startswith("Tag:") else line
                                 for line in lines).encode()
    todo.rewritten.add(meta)
    return f"{stem}-{platform}.whl"


def repair(wheel: Path, workdir: Path, dirs: list[str], options: RepairOptions) -> tuple[Path, dict[str, str]] | None:
    """The repaired wheel, written in `workdir`, and the copies made (member -> source); None when nothing changes."""
    from toolkit.repair.macos import excluded

    with zipfile.ZipFile(wheel) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}
    todo = plan(wheel, members, dirs, lambda base: excluded(base, options))
    if not todo.copied and not todo.renames:
        return None
    for member in sorted(set(todo.copied) | set(todo.renames)):
        new_id = DLC_PREFIX + member if member in todo.copied else None
        todo.members[member] = edit(f"{wheel.name}: {member}", todo.members[member], todo.renames.get(member, {}),
                                    new_id)
    platform = raised_platform(wheel, todo)
    out = workdir / (retag(wheel, todo, platform) if platform else wheel.name)
    write_wheel(wheel, out, todo)
    return out, todo.copied


def verify(wheel: Path) -> None:
    """The repair's own check for macOS wheels (no import test runs off macOS): loads and signatures."""
    with zipfile.ZipFile(wheel) as zf:
        problems = macho_problems({i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()})
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise RepairError(f"the repaired {wheel.name} would not load on macOS: {problems[0]}{more}",
                          hint="please report this to toolkit's developers with the input wheel")

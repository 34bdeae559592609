"""Repair stage, macOS: fuse an x86_64 and an arm64 wheel of one release into one universal2 wheel, as
`delocate-merge` does, on any host.

delocate's fuse_trees runs Apple's `lipo` (and `codesign`), which exist on macOS only. The fat Mach-O that lipo
writes is a small big-endian header (magic, count, then cputype, cpusubtype, offset, size, alignment per slice)
followed by each thin file, unchanged, at an aligned offset; so it is written here by hand. The slices keep their
bytes, hence their own code signatures: nothing needs signing again.
"""

from __future__ import annotations

import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.tags import Tag
from packaging.utils import parse_wheel_filename

from toolkit.errors import RepairError
from toolkit.repair._wheelzip import Member, record_line_hash, write_zip
from toolkit.tags import macos_version, platform_arch

FAT_MAGIC = 0xCAFEBABE
MH_MAGIC_64 = 0xFEEDFACF  # a thin 64-bit Mach-O, read little-endian (both arches are little-endian)
CPU_TYPES = {0x01000007: "x86_64", 0x0100000C: "arm64"}
# lipo's order (x86_64, then arm64) and alignment: today's lipo starts both slices on a 16 KiB boundary (2**14),
# as the fat files of real universal2 wheels show (tests/test_repair_fuse.py re-fuses one byte for byte).
ALIGN = {"x86_64": 14, "arm64": 14}
ARCHS = ("x86_64", "arm64")


@dataclass(frozen=True)
class Fused:
    path: Path
    fat: tuple[str, ...]  # members written as fat Mach-O files
    differing: tuple[str, ...]  # other members that differ: the arm64 wheel's copy is kept, as delocate-merge does


def thin_arch(data: bytes) -> str | None:
    """x86_64 or arm64 for a thin 64-bit Mach-O file, else None."""
    if len(data) < 28:
        return None
    magic, cputype = struct.unpack_from("<II", data)
    return CPU_TYPES.get(cputype) if magic == MH_MAGIC_64 else None


def fat_macho(slices: dict[str, bytes]) -> bytes:
    """One fat Mach-O file of the thin ones (by arch), each slice byte for byte."""
    order = [arch for arch in ARCHS if arch in slices]
    offset, entries, body = 8 + 20 * len(order), [], bytearray()
    start = offset
    for arch in order:
        data = slices[arch]
        cputype, cpusubtype = struct.unpack_from("<II", data, 4)
        offset = -(-offset // (1 << ALIGN[arch])) * (1 << ALIGN[arch])
        body += bytes(offset - start - len(body)) + data
        entries.append(struct.pack(">IIIII", cputype, cpusubtype, offset, len(data), ALIGN[arch]))
        offset += len(data)
    return struct.pack(">II", FAT_MAGIC, len(order)) + b"".join(entries) + bytes(body)


def _arch_and_tags(wheel: Path) -> tuple[str, frozenset[Tag], tuple[str, str, object]]:
    try:
        name, version, build, tags = parse_wheel_filename(wheel.name)
    except ValueError as exc:
        raise RepairError(f"{wheel.name}: not a wheel's name ({exc})", hint="give two macOS wheels to --fuse") from None
    archs = {platform_arch(t.platform) for t in tags}
    if len(archs) != 1 or not all(macos_version(t.platform) for t in tags) or archs - set(ARCHS):
        raise RepairError(f"{wheel.name}: not a thin x86_64 or arm64 macOS wheel",
                          hint="--fuse joins one macosx_*_x86_64 wheel and one macosx_*_arm64 wheel of a release")
    return archs.pop() or "", tags, (str(name), str(version), build)


def fused_tags(intel: frozenset[Tag], arm: frozenset[Tag]) -> list[Tag]:
    """The fused wheel's tags, by delocate's rule: universal2 at the x86_64 wheel's macOS version when the arm64
    one needs 11.0 (the first arm64 macOS: pip takes a universal2 wheel of 10.x there) or the same version; else
    both thin tags side by side (macosx_10_13_x86_64.macosx_14_0_arm64), so neither arch's minimum is lost."""
    pairs = {(t.interpreter, t.abi) for t in intel}
    if pairs != {(t.interpreter, t.abi) for t in arm}:
        raise RepairError("the two wheels are for different Pythons or ABIs",
                          hint="fuse the x86_64 and arm64 wheels of one build identifier (e.g. cp313)")
    x86 = min(macos_version(t.platform) or (0, 0) for t in intel)
    arm64 = min(macos_version(t.platform) or (0, 0) for t in arm)
    if arm64 in ((11, 0), x86):
        platforms = [f"macosx_{x86[0]}_{x86[1]}_universal2"]
    else:
        platforms = [f"macosx_{x86[0]}_{x86[1]}_x86_64", f"macosx_{arm64[0]}_{arm64[1]}_arm64"]
    return [Tag(i, a, p) for i, a in sorted(pairs) for p in platforms]


def _read(wheel: Path) -> dict[str, tuple[zipfile.ZipInfo, bytes]]:
    try:
        with zipfile.ZipFile(wheel) as zf:
            return {i.filename: (i, zf.read(i)) for i in zf.infolist() if not i.is_dir()}
    except (OSError, zipfile.BadZipFile) as exc:
        raise RepairError(f"{wheel}: cannot read it: {exc}", hint="give two macOS wheels to --fuse") from None


def _wheel_file(text: str, tags: list[Tag]) -> bytes:
    # WHEEL is an email-header file; only its Tag lines change, so they are swapped line by line (order kept).
    lines = [line for line in text.splitlines() if not line.startswith("Tag:")]
    return ("\n".join(lines).rstrip("\n") + "\n" + "".join(f"Tag: {t}\n" for t in tags)).encode()


def fuse(first: Path, second: Path, outdir: Path) -> Fused:
    """Join the x86_64 and the arm64 wheel (either order) into OUTDIR/<name>-macosx_X_Y_universal2.whl."""
    (arch1, tags1, id1), (arch2, tags2, id2) = _arch_and_tags(first), _arch_and_tags(second)
    if {arch1, arch2} != set(ARCHS) or id1 != id2:
        raise RepairError(f"{first.name} and {second.name} are not the x86_64 and arm64 wheels of one release",
                          hint="give one macosx_*_x86_64 and one macosx_*_arm64 wheel of the same name and version")
    intel, arm = (first, second) if arch1 == "x86_64" else (second, first)
    tags = fused_tags(tags1 if arch1 == "x86_64" else tags2, tags2 if arch1 == "x86_64" else tags1)
    a, b = _read(intel), _read(arm)
    dist_info = next((n.split("/")[0] for n in a if n.count("/") == 1 and n.endswith(".dist-info/WHEEL")), None)
    if dist_info is None:
        raise RepairError(f"{intel.name}: no .dist-info/WHEEL", hint="give wheels built by a PEP 517 backend")
    members, fat, differing = [], [], []
    for name in [*a, *(n for n in b if n not in a)]:
        info, data = a.get(name) or b[name]
        if name == f"{dist_info}/RECORD":
            continue
        if name == f"{dist_info}/WHEEL":
            data = _wheel_file(data.decode("utf-8"), tags)
        elif name in a and name in b and data != b[name][1]:
            slices = {thin_arch(data): data, thin_arch(b[name][1]): b[name][1]}
            if set(slices) == set(ARCHS):
                data = fat_macho(slices)  # type: ignore[arg-type]
                fat.append(name)
            else:
                data = b[name][1]
                differing.append(name)
        members.append(Member(name, data, (info.external_attr >> 16) or 0o100644, info.date_time))
    record = "".join(f"{m.name},{record_line_hash(m.data or b'')},{len(m.data or b'')}\n" for m in members)
    members.append(Member(f"{dist_info}/RECORD", f"{record}{dist_info}/RECORD,,\n".encode(), 0o100644,
                          max(m.date_time for m in members)))
    # the input's name, version and build parts as spelt, then the new tags
    prefix = "-".join(intel.name[:-len(".whl")].split("-")[:-3])
    parts = ({t.interpreter for t in tags}, {t.abi for t in tags}, dict.fromkeys(t.platform for t in tags))
    out = outdir / f"{prefix}-{'-'.join('.'.join(sorted(p) if isinstance(p, set) else p) for p in parts)}.whl"
    _write(out, members)
    return Fused(out, tuple(fat), tuple(differing))


def _write(out: Path, members: list[Member]) -> None:
    """Written under a temporary name, then renamed: a failure leaves no half wheel."""
    part = out.with_name(f".{out.name}.part")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_zip(part, members)
        os.replace(part, out)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise RepairError(f"cannot write {out}: {exc.strerror or exc}", hint="check the output folder") from None

"""toolkit repair --fuse: an x86_64 and an arm64 macOS wheel from PyPI joined into one universal2 wheel on Linux,
as delocate-merge does on macOS: each extension a fat Mach-O whose slices are the inputs' files byte for byte
(read back with macholib), the tag delocate computes from those binaries, a valid RECORD, `toolkit check` clean."""

from __future__ import annotations

import csv
import io
import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from installer.sources import WheelFile
from macholib.MachO import MachO
from packaging.tags import parse_tag

from toolkit.repair.fuse import fat_macho, fused_tags, thin_arch

X86 = "markupsafe-3.0.4-cp313-cp313-macosx_10_13_x86_64.whl"
ARM = "markupsafe-3.0.4-cp313-cp313-macosx_11_0_arm64.whl"
UNIVERSAL2 = "charset_normalizer-3.5.3-cp313-cp313-macosx_10_13_universal2.whl"  # fused by Apple's lipo
SO = "markupsafe/_speedups.cpython-313-darwin.so"


def pinned(*filenames: str) -> list[Path]:
    from pypi_corpus import PINS, CorpusError, corpus_dir, ensure_corpus

    try:
        return ensure_corpus(corpus_dir(), [p for name in filenames for p in PINS if p.filename == name])
    except CorpusError as exc:
        pytest.fail(f"cannot get the PyPI corpus: {exc}", pytrace=False)


def run_cli(*args: str | Path) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "toolkit", *map(str, args)], capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def slices(path: Path) -> dict[int, bytes]:
    """The slices of a fat Mach-O file by cputype, as macholib reads them."""
    macho = MachO(str(path))
    assert macho.fat is not None and macho.fat.magic == 0xCAFEBABE
    data = path.read_bytes()
    return {h.header.cputype: data[h.offset:h.offset + h.size] for h in macho.headers}


def test_fuse_real_markupsafe_wheels_into_universal2(tmp_path: Path) -> None:
    x86, arm = pinned(X86, ARM)
    code, out, err = run_cli("repair", "--fuse", x86, arm, "-o", tmp_path / "out")
    assert code == 0, err
    fused = tmp_path / "out" / "markupsafe-3.0.4-cp313-cp313-macosx_10_13_universal2.whl"
    assert out == f"fused {X86} + {ARM} -> {fused}  fat Mach-O: {SO}\n"
    assert [p.name for p in (tmp_path / "out").iterdir()] == [fused.name]

    tree = tmp_path / "tree"
    zipfile.ZipFile(fused).extractall(tree)
    inputs = {arch: zipfile.ZipFile(wheel) for arch, wheel in (("x86_64", x86), ("arm64", arm))}
    got = slices(tree / SO)
    assert got == {0x01000007: inputs["x86_64"].read(SO), 0x0100000C: inputs["arm64"].read(SO)}
    # delocate's own tag computation over the fused binaries (what delocate-merge names the wheel; its private
    # helper is the oracle, since delocate-merge itself needs lipo)
    from delocate.delocating import _calculate_minimum_wheel_name

    name, incompatible = _calculate_minimum_wheel_name(f"{X86[:-len('x86_64.whl')]}x86_64.macosx_11_0_arm64.whl",
                                                       tree, None)
    assert (name, incompatible) == (fused.name, set())

    members = zipfile.ZipFile(fused).namelist()
    for member in members:  # every other file is the inputs', unchanged
        if not member.endswith(("/RECORD", "/WHEEL", ".so")):
            assert zipfile.ZipFile(fused).read(member) == inputs["x86_64"].read(member) == inputs["arm64"].read(member)
    wheel_file = zipfile.ZipFile(fused).read("markupsafe-3.0.4.dist-info/WHEEL").decode()
    assert [line for line in wheel_file.splitlines() if line.startswith("Tag:")] == [
        "Tag: cp313-cp313-macosx_10_13_universal2"]
    with WheelFile.open(fused) as source:  # installer checks every RECORD line against the member's bytes
        source.validate_record()
    rows = list(csv.reader(io.StringIO(zipfile.ZipFile(fused).read("markupsafe-3.0.4.dist-info/RECORD").decode())))
    assert sorted(r[0] for r in rows) == sorted(members)

    code, out, err = run_cli("check", fused)
    assert code == 0, out + err
    assert "PASSED" in out


def test_fuse_order_does_not_matter_and_json(tmp_path: Path) -> None:
    x86, arm = pinned(X86, ARM)
    assert run_cli("repair", "--fuse", x86, arm, "-o", tmp_path / "a")[0] == 0
    code, out, err = run_cli("repair", "--fuse", arm, x86, "-o", tmp_path / "b", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["fat"] == [SO] and doc["differing"] == []
    (a,), (b,) = (tmp_path / "a").iterdir(), (tmp_path / "b").iterdir()
    assert Path(doc["fused"]) == b and a.read_bytes() == b.read_bytes()


def test_fat_layout_is_lipos(tmp_path: Path) -> None:
    """The slices of a universal2 wheel's extensions, which Apple's lipo wrote, fused again: the same bytes."""
    (wheel,) = pinned(UNIVERSAL2)
    with zipfile.ZipFile(wheel) as zf:
        fat = {n: zf.read(n) for n in zf.namelist() if n.endswith(".so")}
    assert fat
    for name, data in fat.items():
        path = tmp_path / name.replace("/", "_")
        path.write_bytes(data)
        thin = {thin_arch(s): s for s in slices(path).values()}
        assert set(thin) == {"x86_64", "arm64"}
        assert fat_macho(thin) == data, name  # type: ignore[arg-type]


def test_tags_follow_delocates_rule() -> None:
    """delocate packs x86_64 + arm64 into universal2 when arm64 needs 11.0 or the same version; else both."""
    def tags(x86: str, arm: str) -> list[str]:
        return [str(t) for t in fused_tags(parse_tag(f"cp313-cp313-macosx_{x86}_x86_64"),
                                           parse_tag(f"cp313-cp313-macosx_{arm}_arm64"))]

    assert tags("10_9", "11_0") == ["cp313-cp313-macosx_10_9_universal2"]
    assert tags("12_0", "12_0") == ["cp313-cp313-macosx_12_0_universal2"]
    assert tags("11_0", "12_0") == ["cp313-cp313-macosx_11_0_x86_64", "cp313-cp313-macosx_12_0_arm64"]


@pytest.mark.parametrize("second", ["markupsafe-3.0.4-cp313-cp313-win_amd64.whl", X86])
def test_fuse_refuses_what_is_not_an_x86_64_and_arm64_pair(tmp_path: Path, second: str) -> None:
    x86, other = pinned(X86, second)
    code, out, err = run_cli("repair", "--fuse", x86, other, "-o", tmp_path / "out")
    assert (code, out) == (4, "")
    assert err.startswith("error: ") and err.count("\n") == 2 and "\nhint: " in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_fuse_takes_two_wheels(tmp_path: Path) -> None:
    (x86,) = pinned(X86)
    code, _, err = run_cli("repair", "--fuse", x86)
    assert code == 2 and err.startswith("error: --fuse takes two wheels") and "Traceback" not in err


def test_a_thin_header_is_read_as_its_arch() -> None:
    assert thin_arch(struct.pack("<IIi", 0xFEEDFACF, 0x0100000C, 0) + bytes(20)) == "arm64"
    assert thin_arch(b"\x7fELF" + bytes(40)) is None

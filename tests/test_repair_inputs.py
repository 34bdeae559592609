"""Wheels no repair tool can take as they are, refused in one line before any tool runs, by `toolkit repair`
and by `toolkit repair --show`: a truncated ELF, a `../` member, a symlink member, a RECORD that lists a
folder, an aarch64 extension in a wheel tagged x86_64. Each wheel is made here from a gcc-built extension."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest
from projects import one_line_error, run_toolkit
from test_repair_support import HOST_TAG, make_wheel, native_wheel, needs_gcc, refused

EM_AARCH64 = 183


@pytest.fixture
def extension(tmp_path: Path) -> tuple[Path, Path]:
    """(a gcc-built extension needing libdemomath.so.1, the folder that holds that library)."""
    _wheel, libdir = native_wheel(tmp_path / "src")
    (ext,) = (tmp_path / "src" / "build").glob("_native*.so")
    return ext, libdir


def wheel_with(tmp_path: Path, files: dict[str, bytes | Path]) -> Path:
    return make_wheel(tmp_path / "dist", "demo", "1.0", str(HOST_TAG), {"demo/__init__.py": b"", **files})


def refused_both_ways(wheel: Path, libdir: Path) -> str:
    """The repair's one error line; `--show` gives the same line, and neither writes anything."""
    error = refused(wheel, "-L", libdir)
    show = run_toolkit("repair", "--show", wheel, "-L", libdir)
    assert show.returncode == 4, show.stdout + show.stderr
    assert one_line_error(show.stderr) == error
    return error


@needs_gcc
def test_a_truncated_elf_is_named_in_one_line(extension: tuple[Path, Path], tmp_path: Path) -> None:
    ext, libdir = extension
    wheel = wheel_with(tmp_path, {f"demo/{ext.name}": ext.read_bytes()[:200]})
    error = refused_both_ways(wheel, libdir)
    assert error.startswith(f"error: {wheel.name}: demo/{ext.name} is damaged (cannot parse as ELF")


@needs_gcc
def test_a_member_named_with_dot_dot_is_refused_not_dropped(extension: tuple[Path, Path], tmp_path: Path) -> None:
    ext, libdir = extension
    wheel = wheel_with(tmp_path, {f"demo/{ext.name}": ext, "../evil.py": b"x = 1\n"})
    error = refused_both_ways(wheel, libdir)
    assert error == f"error: {wheel.name}: unsafe member name '../evil.py': it has a '..' component"


@needs_gcc
def test_a_record_that_lists_a_folder_is_refused(extension: tuple[Path, Path], tmp_path: Path) -> None:
    ext, libdir = extension
    wheel = wheel_with(tmp_path, {f"demo/{ext.name}": ext, "demo/": b""})
    assert refused_both_ways(wheel, libdir) == f"error: {wheel.name}: its RECORD lists 'demo/', a folder"


@needs_gcc
def test_a_symlink_member_is_reported_as_a_symlink(extension: tuple[Path, Path], tmp_path: Path) -> None:
    ext, libdir = extension
    built = wheel_with(tmp_path / "plain", {f"demo/{ext.name}": ext, "demo/libalias.so": ext.name.encode()})
    wheel = tmp_path / built.name
    with zipfile.ZipFile(built) as zin, zipfile.ZipFile(wheel, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "demo/libalias.so":
                info.external_attr = 0o120777 << 16  # a symlink whose target is the extension's name
            zout.writestr(info, data)
    error = refused_both_ways(wheel, libdir)
    assert error.startswith(f"error: {wheel.name}: demo/libalias.so is a symlink (to {ext.name}), not a file")


@needs_gcc
def test_an_aarch64_extension_in_a_wheel_tagged_x86_64_is_refused_naming_both(
        extension: tuple[Path, Path], tmp_path: Path) -> None:
    if HOST_TAG.platform != "linux_x86_64":
        pytest.skip("the wheel is tagged for this host, an x86_64 one")
    ext, libdir = extension
    data = bytearray(ext.read_bytes())
    data[18:20] = struct.pack("<H", EM_AARCH64)  # e_machine: the header says aarch64, as a cross-build's does
    wheel = wheel_with(tmp_path, {"demo/_native.cpython-311-aarch64-linux-gnu.so": bytes(data)})
    error = refused_both_ways(wheel, libdir)
    assert error == (f"error: {wheel.name}: demo/_native.cpython-311-aarch64-linux-gnu.so is built for aarch64, "
                     "but the wheel is tagged for x86_64")

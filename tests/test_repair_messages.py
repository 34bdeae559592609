"""What `toolkit repair` says on screen when it is given several files: each wheel's line as it is written
(a later failure does not hide it), a file that is not a wheel named as left out, an import test skipped for
a missing dependency said as a warning. Wheels built here with gcc."""

from __future__ import annotations

from pathlib import Path

from projects import one_line_error, run_toolkit
from test_repair_support import HOST_TAG, make_wheel, native_wheel, needs_gcc


@needs_gcc
def test_when_the_second_wheel_fails_the_first_ones_repaired_line_is_printed(tmp_path: Path) -> None:
    good, libdir = native_wheel(tmp_path / "good")
    (ext,) = (tmp_path / "good" / "build").glob("_native*.so")
    bad = make_wheel(tmp_path / "bad", "other", "1.0", str(HOST_TAG),
                     {"other/__init__.py": b"", f"other/{ext.name}": ext.read_bytes()[:200]})
    proc = run_toolkit("repair", good, bad, "-L", libdir, "-o", tmp_path / "out")
    assert proc.returncode == 4
    (repaired,) = (tmp_path / "out").glob("demo-*manylinux*.whl")
    assert proc.stdout.strip() == f"repaired {good.name} -> {repaired}  vendored: libdemomath.so.1"
    assert one_line_error(proc.stderr).startswith(f"error: {bad.name}: other/{ext.name} is damaged")


def test_an_sdist_given_beside_wheels_is_named_as_left_out(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "dist", "puredemo", "1.0", "py3-none-any", {"puredemo/__init__.py": b""})
    sdist = tmp_path / "dist" / "puredemo-1.0.tar.gz"
    sdist.write_bytes(b"not read")
    proc = run_toolkit("repair", wheel, sdist)
    assert proc.returncode == 0, proc.stderr
    assert f"{sdist}: not a wheel, left out (repair takes wheels only)" in proc.stderr
    assert proc.stdout.strip() == f"unchanged: pure  {wheel.name}"


@needs_gcc
def test_an_import_test_skipped_for_a_missing_dependency_is_said_on_screen(tmp_path: Path) -> None:
    # the package imports a dependency the wheel does not hold, as contourpy imports numpy
    wheel, libdir = _rewrapped(tmp_path, "demo", "1.0", "demo", b"import numpy_is_not_here\n")
    proc = run_toolkit("repair", wheel, "-L", libdir)
    assert proc.returncode == 0, proc.stderr
    (repaired,) = wheel.parent.glob("*manylinux*.whl")
    assert (f"{repaired.name}: the import test skipped demo._native: it needs numpy_is_not_here, which is not "
            "installed (the wheel is tested alone)") in proc.stderr


@needs_gcc
def test_a_wheel_named_as_pypi_took_it_before_normalization_is_repaired(tmp_path: Path) -> None:
    # as MarkupSafe-1.1.1-cp27-cp27mu-manylinux1_x86_64.whl is named on PyPI
    wheel, libdir = _rewrapped(tmp_path, "MarkupSafe", "1.1.1", "markupsafe", b"")
    proc = run_toolkit("repair", wheel, "-L", libdir)
    assert proc.returncode == 0, proc.stderr
    (repaired,) = wheel.parent.glob("MarkupSafe-1.1.1-*manylinux*.whl")
    assert proc.stdout.strip() == f"repaired {wheel.name} -> {repaired}  vendored: libdemomath.so.1"
    check = run_toolkit("check", repaired)  # the check stage still says what it says of the name
    assert "N023" in check.stdout


def _rewrapped(tmp_path: Path, name: str, version: str, package: str, init: bytes) -> tuple[Path, Path]:
    """The gcc-built extension of native_wheel() in another wheel: `package` with `init` as its __init__.py."""
    _wheel, libdir = native_wheel(tmp_path / "src")
    (ext,) = (tmp_path / "src" / "build").glob("_native*.so")
    wheel = make_wheel(tmp_path / "dist", name, version, str(HOST_TAG),
                       {f"{package}/__init__.py": init, f"{package}/{ext.name}": ext})
    return wheel, libdir

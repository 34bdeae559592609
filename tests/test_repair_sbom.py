"""The SBOM a repaired Linux wheel carries, as a scanner reads it: one component per vendored file (however
their names overlap), both hashes said, valid CycloneDX 1.6; libraries built here with gcc."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sysconfig
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest
from projects import run_toolkit
from test_repair_platforms import EXT_C as WIN_EXT_C
from test_repair_platforms import HELPER_C, PYD, mingw
from test_repair_support import (
    EXT_C,
    HOST_TAG,
    MINGW,
    gcc,
    install_and_call,
    make_wheel,
    native_wheel,
    needs_gcc,
    needs_mingw,
    sbom_of,
)


def library(folder: Path, soname: str, function: str, value: int) -> Path:
    """A shared library `soname` whose `function()` returns `value`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{function}.c").write_text(f"int {function}(int a, int b) {{ return a + b + {value}; }}\n")
    gcc("-shared", "-fPIC", "-O1", f"-Wl,-soname,{soname}", "-o", soname, f"{function}.c", cwd=folder)
    return folder / soname


def extension(folder: Path, module: str, function: str, *link: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.c").write_text(EXT_C.format(lib=function.removesuffix("_add"), module=module))
    out = folder / f"{module}{sysconfig.get_config_var('EXT_SUFFIX')}"
    gcc("-shared", "-fPIC", "-O1", f"-I{sysconfig.get_paths()['include']}", "-o", out, f"{module}.c", *link,
        cwd=folder)
    return out


def repaired_in(folder: Path) -> Path:
    (found,) = folder.glob("*manylinux*.whl")
    return found


@needs_gcc
def test_libraries_whose_names_share_a_prefix_each_map_to_their_own_member(tmp_path: Path) -> None:
    libs = tmp_path / "libs"
    # auditwheel names the copy libpre-<sha256[:8]>.so.1: one whose hash starts with "f" sorts after
    # libpre-extra-..., the case where a match on the prefix "libpre-" takes the wrong member.
    pre = next(lib for value in range(400) if hashlib.sha256((lib := library(libs, "libpre.so.1", "pre_add",
                                                                              value)).read_bytes()).hexdigest() > "f")
    extra = library(libs, "libpre-extra.so.1", "extra_add", 2)
    (libs / "libpre.so").symlink_to(pre.name)
    (libs / "libpre-extra.so").symlink_to(extra.name)
    ext = extension(tmp_path / "build", "_native", "pre_add", f"-L{libs}", "-lpre", "-lpre-extra",
                    "-Wl,--no-as-needed")
    gcc("-shared", "-fPIC", "-o", tmp_path / "build" / "_more.so", "-x", "c", "/dev/null", f"-L{libs}",
        "-Wl,--no-as-needed", "-lpre-extra", cwd=tmp_path)
    wheel = make_wheel(tmp_path / "dist", "demo", "1.0", str(HOST_TAG), {
        "demo/__init__.py": b"from demo._native import add\n", f"demo/{ext.name}": ext,
        "demo/_more.so": tmp_path / "build" / "_more.so"})
    proc = run_toolkit("repair", wheel, "-L", libs)
    assert proc.returncode == 0, proc.stderr
    sbom = sbom_of(repaired_in(wheel.parent))
    members = {c["name"]: c["properties"][1]["value"] for c in sbom["components"]}
    assert sorted(members) == ["libpre-extra.so.1", "libpre.so.1"]
    pre_sha = hashlib.sha256(pre.read_bytes()).hexdigest()
    extra_sha = hashlib.sha256(extra.read_bytes()).hexdigest()
    assert members["libpre.so.1"] == f"demo.libs/libpre-{pre_sha[:8]}.so.1"
    assert members["libpre-extra.so.1"] == f"demo.libs/libpre-extra-{extra_sha[:8]}.so.1"
    assert sorted(sbom["dependencies"][0]["dependsOn"]) == sorted(c["bom-ref"] for c in sbom["components"])


@needs_gcc
def test_two_different_libraries_with_one_soname_are_both_vendored_listed_and_loaded(tmp_path: Path) -> None:
    one = library(tmp_path / "one", "libsame.so.1", "same_add", 10)
    two = library(tmp_path / "two", "libsame.so.1", "same_add", 20)
    for lib in (one, two):
        (lib.parent / "libsame.so").symlink_to(lib.name)
    ext_a = extension(tmp_path / "a", "_a", "same_add", f"-L{one.parent}", "-lsame", f"-Wl,-rpath,{one.parent}")
    ext_b = extension(tmp_path / "b", "_b", "same_add", f"-L{two.parent}", "-lsame", f"-Wl,-rpath,{two.parent}")
    wheel = make_wheel(tmp_path / "dist", "demo", "1.0", str(HOST_TAG), {
        "demo/__init__.py": b"", f"demo/{ext_a.name}": ext_a, f"demo/{ext_b.name}": ext_b})
    proc = run_toolkit("repair", wheel)
    assert proc.returncode == 0, proc.stderr
    repaired = repaired_in(wheel.parent)
    assert proc.stdout.strip().endswith(f"vendored: libsame.so.1 (from {one}), libsame.so.1 (from {two})")
    sbom = sbom_of(repaired)
    assert sorted(c["properties"][1]["value"] for c in sbom["components"]) == sorted(
        f"demo.libs/libsame-{hashlib.sha256(lib.read_bytes()).hexdigest()[:8]}.so.1" for lib in (one, two))
    shutil.rmtree(tmp_path / "one")
    shutil.rmtree(tmp_path / "two")
    called = install_and_call(repaired, tmp_path / "venv", "from demo import _a, _b; print(_a.add(1, 1), _b.add(1, 1))")
    assert called.stdout.strip() == "12 22", called.stderr


@needs_gcc
def test_a_component_gives_the_hash_of_the_member_in_the_wheel_and_of_the_file_it_was_copied_from(
        tmp_path: Path) -> None:
    wheel, libdir = native_wheel(tmp_path)
    assert run_toolkit("repair", wheel, "-L", libdir).returncode == 0
    repaired = repaired_in(wheel.parent)
    (component,) = sbom_of(repaired)["components"]
    member = component["properties"][1]["value"]
    with zipfile.ZipFile(repaired) as zf:
        in_wheel = hashlib.sha256(zf.read(member)).hexdigest()
    source = hashlib.sha256((libdir / "libdemomath.so.1").read_bytes()).hexdigest()
    assert in_wheel != source  # auditwheel patched the copy (its soname)
    assert component["hashes"] == [{"alg": "SHA-256", "content": in_wheel}]
    assert {"name": "toolkit:source-sha256", "value": source} in component["properties"]


BZ_EXT_C = """
#define PY_SSIZE_T_CLEAN
#include <Python.h>
const char *BZ2_bzlibVersion(void);
static PyObject *version(PyObject *self, PyObject *args) { return PyUnicode_FromString(BZ2_bzlibVersion()); }
static PyMethodDef methods[] = {{"version", version, METH_NOARGS, "version"}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_bz", NULL, -1, methods};
PyMODINIT_FUNC PyInit__bz(void) { return PyModule_Create(&module); }
"""
LIBBZ2 = Path("/lib/x86_64-linux-gnu/libbz2.so.1.0")


def dpkg_owner(path: Path) -> tuple[str, str, str] | None:
    """(package, version, arch) of the Debian package that installed `path`, asked of dpkg itself."""
    if shutil.which("dpkg-query") is None or not path.exists():
        return None
    found = subprocess.run(["dpkg-query", "-S", str(path)], capture_output=True, text=True, check=False)
    if found.returncode:
        return None
    package = found.stdout.split(":", 1)[0]
    shown = subprocess.run(["dpkg-query", "-W", "-f=${Version} ${Architecture}", package], capture_output=True,
                           text=True, check=True).stdout.split()
    return package, shown[0], shown[1]


@needs_gcc
def test_a_library_from_a_debian_package_gets_the_package_version_and_purl(tmp_path: Path) -> None:
    owner = dpkg_owner(LIBBZ2)
    if owner is None:
        pytest.skip(f"needs dpkg and {LIBBZ2} from Debian's libbz2-1.0 (apt-get install libbz2-1.0)")
    package, version, arch = owner
    (tmp_path / "bz.c").write_text(BZ_EXT_C)
    ext = tmp_path / f"_bz{sysconfig.get_config_var('EXT_SUFFIX')}"
    gcc("-shared", "-fPIC", f"-I{sysconfig.get_paths()['include']}", "-o", ext, "bz.c", "-l:libbz2.so.1.0", cwd=tmp_path)
    wheel = make_wheel(tmp_path / "dist", "bzdemo", "1.0", str(HOST_TAG), {"bzdemo/__init__.py": b"",
                                                                          f"bzdemo/{ext.name}": ext})
    proc = run_toolkit("repair", wheel)
    assert proc.returncode == 0, proc.stderr
    (component,) = sbom_of(repaired_in(wheel.parent))["components"]
    assert component["name"] == "libbz2.so.1.0"
    assert component["version"] == version
    assert component["purl"] == f"pkg:deb/debian/{package}@{quote(version, safe='')}?arch={arch}"


def test_a_library_from_the_homebrew_cellar_gets_a_brew_purl(tmp_path: Path) -> None:
    from toolkit.repair.owners import Owner, owner_of

    dylib = tmp_path / "opt/homebrew/Cellar/libpng/1.6.43/lib/libpng16.16.dylib"
    dylib.parent.mkdir(parents=True)
    dylib.write_bytes(b"\xcf\xfa\xed\xfe")
    (tmp_path / "libpng16.dylib").symlink_to(dylib)  # opt/ and lib/ links resolve into the Cellar
    assert owner_of(tmp_path / "libpng16.dylib") == Owner("1.6.43", "pkg:brew/libpng@1.6.43")


VERSION_RC = """
1 VERSIONINFO
FILEVERSION 2,5,1,0
PRODUCTVERSION 2,5,1,0
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
      VALUE "FileVersion", "2.5.1.0"
      VALUE "ProductName", "helper"
      VALUE "ProductVersion", "2.5.1"
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x409, 1200
  END
END
"""


@needs_mingw
def test_a_vendored_dll_gets_the_version_of_its_version_resource(tmp_path: Path) -> None:
    dlls = tmp_path / "dlls"
    dlls.mkdir()
    (dlls / "version.rc").write_text(VERSION_RC)
    (dlls / "helper.c").write_text(HELPER_C)
    (dlls / "ext.c").write_text(WIN_EXT_C)
    subprocess.run([MINGW.replace("-gcc", "-windres"), "version.rc", "-O", "coff", "-o", "version.o"], cwd=dlls,
                   check=True, capture_output=True)
    mingw(dlls, "-shared", "-o", "helper.dll", "helper.c", "version.o", "-Wl,--out-implib,libhelper.a")
    mingw(dlls, "-shared", "-o", "_ext.pyd", "ext.c", "-L.", "-lhelper")
    wheel = make_wheel(tmp_path / "dist", "winext", "1.0", "cp311-cp311-win_amd64",
                       {"winext/__init__.py": b"", PYD: (dlls / "_ext.pyd").read_bytes()})
    proc = run_toolkit("repair", wheel, "-L", dlls, "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    (component,) = sbom_of(tmp_path / "out" / wheel.name)["components"]
    assert (component["name"], component["version"]) == ("helper.dll", "2.5.1")
    assert "purl" not in component  # Windows has no package database to name

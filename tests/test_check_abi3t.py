"""abi3t, the stable ABI for free-threaded CPython (PEP 803): B132-B134 and B141 on ELF modules compiled here
with gcc, packed into wheels tagged cp315-abi3t, cp315-abi3.abi3t and their wrong neighbours."""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from distfactory import make_wheel

from toolkit.check import INTERNAL, check_file

HOST = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(platform.machine().lower())

SOURCES = {
    # What an abi3t build leaves: the PEP 793 export hook, and only stable-ABI calls of 3.15.
    "abi3t": "extern void *PyModule_FromSlotsAndSpec(void *, void *);\n"
             "void *PyModExport__speedups(void) { return PyModule_FromSlotsAndSpec(0, 0); }\n",
    # The same, calling a private function no stable ABI has.
    "outside": "extern void *_PyLong_New(long);\nvoid *PyModExport__speedups(void) { return _PyLong_New(1); }\n",
    # What a GIL-enabled abi3 build leaves: PyInit_ and a static PyModuleDef handed to PyModuleDef_Init.
    "abi3": "extern void *PyModuleDef_Init(void *);\nstatic char def[104];\n"
            "void *PyInit__speedups(void) { return PyModuleDef_Init(def); }\n",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    if sys.platform != "linux" or HOST is None or shutil.which("gcc") is None:
        pytest.skip("compiles Linux ELF files with gcc")
    folder, found = tmp_path_factory.mktemp("abi3t"), {}
    for name, source in SOURCES.items():
        (folder / f"{name}.c").write_text(source)
        subprocess.run(["gcc", "-shared", "-fPIC", "-O0", "-o", str(folder / f"{name}.so"), str(folder / f"{name}.c")],
                       check=True, capture_output=True)
        found[name] = (folder / f"{name}.so").read_bytes()
    return found


def findings(folder: Path, tag: str, module: str, data: bytes) -> dict[str, list[str]]:
    wheel = make_wheel(folder, tag=f"{tag}-manylinux_2_17_{HOST}", files={f"demo_pkg/_speedups.{module}": data})
    report = check_file(wheel)
    assert not [f for f in report.findings if f.code == INTERNAL], report.findings
    codes: dict[str, list[str]] = {}
    for f in report.findings:
        if f.code.startswith("B"):
            codes.setdefault(f.code, []).append(f.message)
    return codes


@pytest.mark.parametrize(("tag", "module"), [("cp315-abi3t", "abi3t.so"), ("cp315-abi3.abi3t", "abi3t.so"),
                                             ("cp316-abi3t", "abi3t.so")])
def test_a_right_abi3t_wheel_has_no_binary_finding(built: dict[str, bytes], tmp_path: Path, tag: str,
                                                   module: str) -> None:
    assert findings(tmp_path, tag, module, built["abi3t"]) == {}


def test_b132_symbols_outside_the_stable_abi(built: dict[str, bytes], tmp_path: Path) -> None:
    assert findings(tmp_path, "cp315-abi3t", "abi3t.so", built["outside"]) == {"B132": [
        "demo_pkg/_speedups.abi3t.so uses _PyLong_New, not part of the stable ABI, in a wheel tagged cp315-abi3t"]}


def test_b132_cp314_abi3t_is_reserved_no_314_has_the_new_api(built: dict[str, bytes], tmp_path: Path) -> None:
    assert findings(tmp_path, "cp314-abi3t", "abi3t.so", built["abi3t"]) == {"B132": [
        "demo_pkg/_speedups.abi3t.so uses PyModule_FromSlotsAndSpec (3.15), added to the stable ABI after 3.14 "
        "(cp314-abi3t)"]}


@pytest.mark.parametrize("tag", ["cp315-abi3t", "cp315-abi3.abi3t"])
def test_b133_an_abi3_module_in_an_abi3t_wheel(built: dict[str, bytes], tmp_path: Path, tag: str) -> None:
    found = findings(tmp_path, tag, "abi3t.so", built["abi3"])
    assert list(found) == ["B133"]
    assert found["B133"] == ["demo_pkg/_speedups.abi3t.so exports PyInit__speedups and no PyModExport_ hook (PEP 793): "
                             "it is an abi3 module; free-threaded CPython refuses to import it"]


def test_b133_not_for_an_abi3_wheel(built: dict[str, bytes], tmp_path: Path) -> None:
    assert findings(tmp_path, "cp39-abi3", "abi3.so", built["abi3"]) == {}


@pytest.mark.parametrize(("tag", "module", "source", "code", "text"), [
    ("cp315-abi3.abi3t", "abi3.so", "abi3t", "B134",
     "a free-threaded CPython imports stable-ABI modules named *.abi3t.so only"),
    ("cp39-abi3", "abi3t.so", "abi3", "B134",
     "CPython before 3.15 does not import *.abi3t.so modules, but the wheel is tagged cp39-abi3"),
    ("cp315-abi3t", "abi3.so", "abi3t", "B141",
     "lacks the t suffix: a free-threaded interpreter (abi3t) will not import it"),
])
def test_module_names_each_interpreter_imports(built: dict[str, bytes], tmp_path: Path, tag: str, module: str,
                                               source: str, code: str, text: str) -> None:
    found = findings(tmp_path, tag, module, built[source])
    assert list(found) == [code] and text in found[code][0]


def test_an_abi3t_name_in_a_315_abi3_wheel_loads(built: dict[str, bytes], tmp_path: Path) -> None:
    # A GIL-enabled 3.15 imports *.abi3t.so as well as *.abi3.so.
    assert findings(tmp_path, "cp315-abi3", "abi3t.so", built["abi3t"]) == {}


# -- Windows: abi3t modules are plain *.pyd names importing python3t.dll (built here with mingw-w64) ---------------

PYD_SOURCES = {
    "outside": "extern void *_PyLong_New(long);\n"
               "__declspec(dllexport) void *PyModExport__speedups(void) { return _PyLong_New(1); }\n",
    "abi3": "extern void *PyModuleDef_Init(void *);\nstatic char def[104];\n"
            "__declspec(dllexport) void *PyInit__speedups(void) { return PyModuleDef_Init(def); }\n",
}


@pytest.fixture(scope="module")
def pyd(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    if shutil.which("x86_64-w64-mingw32-gcc") is None or shutil.which("x86_64-w64-mingw32-dlltool") is None:
        pytest.skip("builds Windows modules with mingw-w64 (Debian: gcc-mingw-w64-x86-64, binutils-mingw-w64-x86-64)")
    folder, found = tmp_path_factory.mktemp("pyd"), {}
    # An import library for python3t.dll, the stable DLL of free-threaded and GIL-enabled CPython 3.15.
    (folder / "python3t.def").write_text("LIBRARY python3t.dll\nEXPORTS\n_PyLong_New\nPyModuleDef_Init\n")
    subprocess.run(["x86_64-w64-mingw32-dlltool", "-d", "python3t.def", "-l", "libpython3t.a"], cwd=folder,
                   check=True, capture_output=True)
    for name, source in PYD_SOURCES.items():
        (folder / f"{name}.c").write_text(source)
        subprocess.run(["x86_64-w64-mingw32-gcc", "-shared", "-o", f"{name}.pyd", f"{name}.c", "-L.", "-lpython3t"],
                       cwd=folder, check=True, capture_output=True)
        found[name] = (folder / f"{name}.pyd").read_bytes()
    return found


def test_windows_abi3t_module_symbols_from_python3t_dll(pyd: dict[str, bytes], tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, tag="cp315-abi3t-win_amd64", files={"demo_pkg/_speedups.pyd": pyd["outside"]})
    assert [(f.code, f.message) for f in check_file(wheel).findings if f.code.startswith("B")] == [
        ("B132", "demo_pkg/_speedups.pyd uses _PyLong_New, not part of the stable ABI, in a wheel tagged cp315-abi3t")]


def test_windows_abi3_module_in_an_abi3t_wheel(pyd: dict[str, bytes], tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, tag="cp315-abi3.abi3t-win_amd64", files={"demo_pkg/_speedups.pyd": pyd["abi3"]})
    assert [(f.code, f.message) for f in check_file(wheel).findings if f.code.startswith("B")] == [
        ("B133", "demo_pkg/_speedups.pyd calls PyModuleDef_Init, which need a static PyModuleDef (opaque in abi3t); "
                 "free-threaded CPython refuses to import it")]

"""What the repair tests build: shared libraries and CPython extensions compiled with gcc (and
mingw-w64 for Windows), and wheels that hold them, written member by member with a true RECORD."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest
from packaging.tags import sys_tags

HOST_TAG = next(t for t in sys_tags() if t.platform.startswith("linux_")) if sys.platform == "linux" else None
needs_gcc = pytest.mark.skipif(sys.platform != "linux" or shutil.which("gcc") is None,
                               reason="compiles Linux shared libraries and extensions with gcc")
MINGW = "x86_64-w64-mingw32-gcc"
needs_mingw = pytest.mark.usefixtures("mingw")  # conftest.py: skipped, or failed under .ci/run, without it

LIB_C = """
int {name}_add(int a, int b) {{ return a + b + {bias}; }}
"""

EXT_C = """
#define PY_SSIZE_T_CLEAN
#include <Python.h>
int {lib}_add(int a, int b);
static PyObject *add(PyObject *self, PyObject *args) {{
    int a, b;
    if (!PyArg_ParseTuple(args, "ii", &a, &b)) return NULL;
    return PyLong_FromLong({lib}_add(a, b));
}}
static PyMethodDef methods[] = {{{{"add", add, METH_VARARGS, "add"}}, {{NULL, NULL, 0, NULL}}}};
static struct PyModuleDef module = {{PyModuleDef_HEAD_INIT, "{module}", NULL, -1, methods}};
PyMODINIT_FUNC PyInit_{module}(void) {{ return PyModule_Create(&module); }}
"""


def gcc(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["gcc", *map(str, args)], cwd=cwd, check=True, capture_output=True)


def build_library(folder: Path, name: str, bias: int = 0, extra: str = "", flags: tuple[str, ...] = ()) -> Path:
    """lib{name}.so.1 with soname lib{name}.so.1 and a function {name}_add."""
    folder.mkdir(parents=True, exist_ok=True)
    src = folder / f"{name}.c"
    src.write_text(LIB_C.format(name=name, bias=bias) + extra)
    out = folder / f"lib{name}.so.1"
    gcc("-shared", "-fPIC", "-O1", f"-Wl,-soname,lib{name}.so.1", "-o", out, src, *flags, cwd=folder)
    (folder / f"lib{name}.so").unlink(missing_ok=True)
    (folder / f"lib{name}.so").symlink_to(out.name)
    return out


# pthread_create moved into libc in glibc 2.34: a reference to it is versioned GLIBC_2.34.
NEW_GLIBC_C = """
#include <pthread.h>
static void *run(void *a) { return a; }
int start_thread(void) { pthread_t t; return pthread_create(&t, 0, run, 0); }
"""


def build_extension(folder: Path, module: str, lib: str, libdir: Path, extra: str = "") -> Path:
    """A CPython extension `module` whose add() calls {lib}_add from lib{lib}.so.1 (not in the wheel)."""
    folder.mkdir(parents=True, exist_ok=True)
    src = folder / f"{module}.c"
    src.write_text(EXT_C.format(lib=lib, module=module) + extra)
    out = folder / f"{module}{sysconfig.get_config_var('EXT_SUFFIX')}"
    gcc("-shared", "-fPIC", "-O1", f"-I{sysconfig.get_paths()['include']}", "-o", out, src, f"-L{libdir}",
        f"-l{lib}", *(["-pthread"] if extra else []), cwd=folder)
    return out


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(outdir: Path, name: str, version: str, tag: str, files: Mapping[str, bytes | Path]) -> Path:
    """A wheel with METADATA, WHEEL and a RECORD that matches every member."""
    outdir.mkdir(parents=True, exist_ok=True)
    dist_info = f"{name}-{version}.dist-info"
    members = {k: (v.read_bytes() if isinstance(v, Path) else v) for k, v in files.items()}
    members[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    pure = tag.endswith("-any")
    members[f"{dist_info}/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: "
                                     f"{'true' if pure else 'false'}\nTag: {tag}\n").encode()
    record = "".join(f"{k},{record_hash(v)},{len(v)}\n" for k, v in members.items()) + f"{dist_info}/RECORD,,\n"
    members[f"{dist_info}/RECORD"] = record.encode()
    path = outdir / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in members.items():
            info = zipfile.ZipInfo(member, (2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o100755 if member.endswith(".so") else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return path


def native_wheel(tmp: Path, lib: str = "demomath", package: str = "demo", bias: int = 0,
                 extra: str = "") -> tuple[Path, Path]:
    """(a linux_* wheel whose extension needs lib{lib}.so.1, the folder that holds the library)."""
    assert HOST_TAG is not None
    libdir = tmp / "libs"
    build_library(libdir, lib, bias)
    ext = build_extension(tmp / "build", "_native", lib, libdir, extra)
    files = {f"{package}/__init__.py": f"from {package}._native import add\n".encode(),
             f"{package}/{ext.name}": ext}
    return make_wheel(tmp / "dist", package, "1.0", str(HOST_TAG), files), libdir


def fresh_venv_python(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, capture_output=True)
    return folder / "bin" / "python"


def install_and_call(wheel: Path, folder: Path, code: str) -> subprocess.CompletedProcess[str]:
    """pip-install `wheel` into a new venv and run `code` there, with no library search path set."""
    python = fresh_venv_python(folder)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   capture_output=True)
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "PYTHONPATH")}
    return subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True, env=env, cwd=folder,
                          check=False)


def sbom_of(wheel: Path) -> dict:
    """The repaired wheel's SBOM, valid against the CycloneDX 1.6 schema, each bom-ref once."""
    import json

    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    with zipfile.ZipFile(wheel) as zf:
        (member,) = [n for n in zf.namelist() if n.endswith(".dist-info/sboms/toolkit.cdx.json")]
        text = zf.read(member).decode()
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, str(error)
    doc = json.loads(text)
    refs = [c["bom-ref"] for c in doc["components"]]
    assert len(refs) == len(set(refs)), refs  # the schema does not say bom-refs are unique; CycloneDX does
    return doc


def refused(wheel: Path, *args: str | Path) -> str:
    """`toolkit repair WHEEL ARGS` must fail with exit 4 and one error line, leaving the wheel's folder as it was."""
    from projects import listing, one_line_error, run_toolkit

    before = listing(wheel.parent)
    proc = run_toolkit("repair", wheel, *args)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert listing(wheel.parent) == before
    return one_line_error(proc.stderr)

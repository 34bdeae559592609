"""A local wheel matrix: `toolkit build --python X --python Y` (and `--python all`) builds the sdist
once and a wheel per interpreter from it; a pure wheel once.

The interpreters are the ones this machine has: this test's own, then other CPython minor
versions found on PATH (`python3.X`) or under pyenv. With only one (a clean CI machine has
only 3.11), the matrix is that interpreter given twice, by a path and by its version, which
must build one wheel.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from packaging.version import Version
from projects import one_line_error, run_toolkit, write_project

from toolkit._proc import find_uv
from toolkit.build import pythons
from toolkit.errors import ConfigError

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the C extension is built with the POSIX toolchain")

SPEED_C = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *twice(PyObject *self, PyObject *arg) {
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred()) return NULL;
    return PyLong_FromLong(2 * n);
}

static PyMethodDef methods[] = {{"twice", twice, METH_O, "2 * n"}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speed", NULL, -1, methods};
PyMODINIT_FUNC PyInit__speed(void) { return PyModule_Create(&module); }
"""
SETUP_PY = (
    "from setuptools import Extension, setup\n\n"
    'setup(ext_modules=[Extension("toy_pkg._speed", ["src/toy_pkg/_speed.c"])])\n'
)
_DESCRIBE = "import json, sys, sysconfig; print(json.dumps([sys.version_info[0], sys.version_info[1], " \
            "sysconfig.get_paths()['include']]))"


def _minor_and_headers(python: str) -> tuple[int, bool] | None:
    try:
        out = subprocess.run([python, "-I", "-c", _DESCRIBE], capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    major, minor, include = json.loads(out.stdout)
    return (minor, os.path.isfile(os.path.join(include, "Python.h"))) if major == 3 else None


def other_interpreters(limit: int = 2) -> list[str]:
    """Up to `limit` CPython 3.9+ interpreters of other minor versions than this one, with C headers."""
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates = [shutil.which(f"python3.{m}") for m in range(9, 16)]
    candidates += sorted(glob.glob(os.path.join(pyenv, "versions", "3.*", "bin", "python3")))
    found: dict[int, str] = {}
    for path in filter(None, candidates):
        info = _minor_and_headers(path)
        if info and info[1] and info[0] >= 9 and info[0] != sys.version_info[1]:
            found.setdefault(info[0], os.path.realpath(path))
    return [found[m] for m in sorted(found, reverse=True)[:limit]]


def cp_tag(python: str) -> str:
    out = subprocess.run([python, "-I", "-c", "import sys; print(f'cp{sys.version_info[0]}{sys.version_info[1]}')"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def native_project(where: Path, requires_python: str = ">=3.9") -> Path:
    src = write_project(where, "setuptools", files={"setup.py": SETUP_PY, "src/toy_pkg/_speed.c": SPEED_C})
    text = (src / "pyproject.toml").read_text(encoding="utf-8").replace('requires-python = ">=3.9"',
                                                                          f'requires-python = "{requires_python}"')
    (src / "pyproject.toml").write_text(text, encoding="utf-8")
    return src


def install_and_import(wheel: Path, python: str, where: Path) -> str:
    """Install `wheel` for `python` (uv refuses a wheel whose tags do not fit it) and call the extension."""
    target = where / f"site-{wheel.stem}"
    uv = find_uv()
    assert uv, "uv is a dependency of toolkit"
    subprocess.run([uv, "pip", "install", "-q", "--no-deps", "--python", python, "--target", target, wheel],
                   check=True, capture_output=True)
    out = subprocess.run([python, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); "
                          "import toy_pkg._speed as s; print(s.twice(21), s.__file__)"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def wheels(outdir: Path) -> dict[str, Path]:
    """The built wheels by their interpreter tag."""
    return {p.name.split("-")[2]: p for p in outdir.glob("*.whl")}


@pytest.mark.slow  # one build environment per interpreter, a C compiler run each
def test_a_native_project_gets_one_wheel_per_interpreter_each_importable_by_it(tmp_path: Path) -> None:
    others = other_interpreters()
    here = os.path.realpath(sys.executable)
    # With no other interpreter: this one by two spellings (its path and its version): one wheel.
    spellings = [here, *others] if others else [here, f"{sys.version_info[0]}.{sys.version_info[1]}"]
    src = native_project(tmp_path / "proj")
    outdir = tmp_path / "out"
    args = [a for s in spellings for a in ("--python", s)]
    proc = run_toolkit("build", src, "-o", outdir, *args, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [d["kind"] for d in doc["dists"]].count("sdist") == 1
    expected = {cp_tag(p): p for p in [here, *others]}
    built = wheels(outdir)
    assert set(built) == set(expected), (sorted(built), proc.stderr)
    for tag, wheel in built.items():
        assert wheel.name.endswith(f"-{tag}-{tag}-{sysconfig.get_platform().replace('-', '_').replace('.', '_')}.whl")
        assert install_and_import(wheel, expected[tag], tmp_path).startswith("42 ")
    manifest = json.loads((outdir / ".toolkit-manifest.json").read_text(encoding="utf-8"))
    assert sorted(Path(d["path"]).name for d in manifest["dists"]) == sorted(p.name for p in outdir.iterdir()
                                                                             if not p.name.startswith("."))


@pytest.mark.slow  # as above, with the interpreters uv finds
def test_python_all_builds_for_the_interpreters_requires_python_allows(tmp_path: Path) -> None:
    others = other_interpreters()
    if not others:
        pytest.skip("one interpreter on this machine: the explicit matrix test covers `all` with one ABI")
    lowest = min(others + [sys.executable], key=lambda p: int(cp_tag(p)[3:]))
    allowed = [p for p in [sys.executable, *others] if p != lowest]
    floor = min(int(cp_tag(p)[3:]) for p in allowed)
    src = native_project(tmp_path / "proj", requires_python=f">=3.{floor}")
    path = os.pathsep.join([*(os.path.dirname(p) for p in allowed + [lowest]), os.environ.get("PATH", "")])
    proc = run_toolkit("build", src, "-o", tmp_path / "out", "--wheel", "--python", "all", env={"PATH": path})
    assert proc.returncode == 0, proc.stderr
    built = wheels(tmp_path / "out")
    assert {cp_tag(p) for p in allowed} <= set(built), (sorted(built), proc.stderr)
    assert cp_tag(lowest) not in built, "requires-python excludes it"
    assert all(int(tag[3:]) >= floor for tag in built)


def test_a_pure_project_gets_one_wheel_whatever_the_interpreters(tmp_path: Path) -> None:
    src = write_project(tmp_path / "proj", "hatchling")
    spellings = [os.path.realpath(sys.executable), *other_interpreters(limit=1)]
    if len(spellings) == 1:
        spellings.append(f"{sys.version_info[0]}.{sys.version_info[1]}")
    outdir = tmp_path / "out"
    proc = run_toolkit("build", src, "-o", outdir, *(a for s in spellings for a in ("--python", s)), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in outdir.iterdir()) == [".toolkit-manifest.json", "toy_pkg-0.1.0-py3-none-any.whl",
                                                         "toy_pkg-0.1.0.tar.gz"]
    with zipfile.ZipFile(outdir / "toy_pkg-0.1.0-py3-none-any.whl") as zf:
        assert "toy_pkg/__init__.py" in zf.namelist()
    log = Path(json.loads(proc.stdout)["log"]).read_text(encoding="utf-8")
    assert log.count("_in_process.py build_wheel ") == 1, "a pure wheel is built once"


@pytest.mark.parametrize("spec", ["2.5", "/nonexistent/bin/python3"])
def test_an_interpreter_that_is_not_found_is_one_line(spec: str, tmp_path: Path) -> None:
    src = write_project(tmp_path / "proj", "hatchling")
    proc = run_toolkit("build", src, "-o", tmp_path / "out", "--python", spec)
    assert proc.returncode == 2, proc.stderr
    assert one_line_error(proc.stderr) == f"error: --python {spec}: no such interpreter found"
    assert not (tmp_path / "out").exists()


# -- which interpreters requires-python lets `--python all` build with (a pure choice over interpreter records) ----

# What uv might find: 3.14.0rc1 and 3.15.0a1 are pre-release interpreters (sys.version_info (3, 14, 0), as pip sees it).
FOUND = ["3.8.18", "3.9.19", "3.10.2", "3.10.14", "3.11.9", "3.12.4", "3.13.1", "3.14.0rc1", "3.15.0a1"]


def interpreter(version: str) -> pythons.Interpreter:
    release = Version(version).release
    return pythons.Interpreter(executable=f"/opt/python{version}/bin/python3", version=f"{version} (main)",
                               version_info=release, implementation="cpython", cache_tag=f"cpython-{release[0]}{release[1]}",
                               platform="linux-x86_64")


@pytest.mark.parametrize(("requires", "chosen"), [
    (">=3.9,<3.12", ["3.9.19", "3.10.2", "3.10.14", "3.11.9"]),
    (">=3.10,!=3.11.*", ["3.10.2", "3.10.14", "3.12.4", "3.13.1", "3.14.0rc1", "3.15.0a1"]),
    ("!=3.10.2,>=3.10", ["3.10.14", "3.11.9", "3.12.4", "3.13.1", "3.14.0rc1", "3.15.0a1"]),
    ("~=3.10", ["3.10.2", "3.10.14", "3.11.9", "3.12.4", "3.13.1", "3.14.0rc1", "3.15.0a1"]),
    ("~=3.10.3", ["3.10.14"]),
    ("==3.12.*", ["3.12.4"]),
    (">=3.9, <3.14", ["3.9.19", "3.10.2", "3.10.14", "3.11.9", "3.12.4", "3.13.1"]),  # 3.14.0rc1 counts as 3.14.0
    (">=3.14", ["3.14.0rc1", "3.15.0a1"]),
    (None, FOUND),
])
def test_requires_python_chooses_the_interpreters(requires: str | None, chosen: list[str]) -> None:
    kept = pythons.allowed([interpreter(v) for v in FOUND], requires, "proj")
    assert [i.version.split()[0] for i in kept] == chosen


def test_requires_python_that_allows_no_interpreter_is_one_error_naming_them() -> None:
    with pytest.raises(ConfigError, match=r"^requires-python >=3\.9,<3\.10,!=3\.9\.19 allows none of the interpreters: "
                                          r"cpython 3\.8\.18, cpython 3\.9\.19, cpython 3\.10\.2$"):
        pythons.allowed([interpreter(v) for v in FOUND[:3]], ">=3.9,<3.10,!=3.9.19", "proj")

"""Tiny real projects, one per PEP 517 backend, that the build tests build, install and rebuild.

Every project's importable code offers `add(a, b)`; `Project.probe` is the Python
line that imports the installed wheel and prints `add(2, 3)`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PY_ADD = '''"""A tiny module built by toolkit's backend tests."""


def add(a: int, b: int) -> int:
    return a + b
'''


@dataclass(frozen=True)
class Project:
    key: str  # the test id
    name: str  # the distribution name
    files: dict[str, str]  # relative path -> text
    probe: str  # Python code that prints add(2, 3) from the installed wheel
    compiled: bool = False  # the wheel holds a compiled extension
    needs: tuple[str, ...] = ()  # programs that must be on PATH to build it
    git: bool = False  # the backend builds sdists from a git checkout only (meson dist)

    def write(self, root: Path) -> Path:
        """Write the project into `root` (created) and return it."""
        for rel, text in self.files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        if self.git:
            _commit_all(root)
        return root

    def missing_tools(self) -> list[str]:
        """Tools that are absent, or present but not working (a rustup proxy with no toolchain)."""
        return [tool for tool in self.needs if not _works(tool)]


def _works(tool: str) -> bool:
    if shutil.which(tool) is None:
        return False
    try:
        return subprocess.run([tool, "--version"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _commit_all(root: Path) -> None:
    """Make `root` a git checkout with one commit of everything, at a fixed date."""
    env = {**os.environ, "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z"}
    ident = ["-c", "user.name=toolkit tests", "-c", "user.email=tests@example.org", "-c", "init.defaultBranch=main"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "project"]):
        subprocess.run(["git", *ident, *cmd], cwd=root, env=env, check=True, capture_output=True)


def c_module(module: str) -> str:
    """The C source of an extension module `module` (its last dotted part) with add(a, b)."""
    short = module.rpartition(".")[2]
    return f"""
        #define PY_SSIZE_T_CLEAN
        #include <Python.h>

        static PyObject *add(PyObject *self, PyObject *args)
        {{
            long a, b;
            if (!PyArg_ParseTuple(args, "ll:add", &a, &b)) return NULL;
            return PyLong_FromLong(a + b);
        }}

        static PyMethodDef methods[] = {{{{"add", add, METH_VARARGS, "a + b"}}, {{NULL, NULL, 0, NULL}}}};
        static struct PyModuleDef mod = {{PyModuleDef_HEAD_INIT, "{short}", NULL, -1, methods}};

        PyMODINIT_FUNC PyInit_{short}(void) {{ return PyModule_Create(&mod); }}
        """


def _project_table(name: str, build: str, extra: str = "") -> str:
    head = f"""
        [build-system]
        {{build}}

        [project]
        name = "{name}"
        version = "1.0.0"
        description = "A tiny project built by toolkit's backend tests"
        readme = "README.md"
        requires-python = ">=3.9"
        """
    return textwrap.dedent(head).lstrip().format(build=build) + "\n" + textwrap.dedent(extra).lstrip()


def _readme(name: str) -> str:
    return f"# {name}\n\nA tiny project built by toolkit's backend tests.\n"


def _probe(module: str, call: str = "add") -> str:
    return f"import {module}; print({module}.{call}(2, 3))"


def setuptools_setup_py() -> Project:
    name, mod = "bk-setuppy", "bk_setuppy"
    setup = f"""
        from setuptools import setup

        setup(name="{name}", version="1.0.0", description="A tiny setup.py-only project", py_modules=["{mod}"])
        """
    return Project("setuptools-setup.py", name, {"setup.py": setup, f"{mod}.py": PY_ADD}, _probe(mod))


def setuptools_pyproject() -> Project:
    name, mod = "bk-setuptools", "bk_setuptools"
    build = 'requires = ["setuptools>=77"]\nbuild-backend = "setuptools.build_meta"'
    files = {"pyproject.toml": _project_table(name, build), "README.md": _readme(name),
             f"src/{mod}/__init__.py": PY_ADD}
    return Project("setuptools-pyproject", name, files, _probe(mod))


def setuptools_c_extension() -> Project:
    name, mod = "bk-setuptools-c", "bk_setuptools_c"
    build = 'requires = ["setuptools>=77"]\nbuild-backend = "setuptools.build_meta"'
    # ext-modules in pyproject.toml (setuptools >= 74.1): a C extension with no setup.py at all.
    extra = f"""
        [tool.setuptools]
        packages = ["{mod}"]
        package-dir = {{ "" = "src" }}
        ext-modules = [{{ name = "{mod}._core", sources = ["src/{mod}/_core.c"] }}]
        exclude-package-data = {{ "{mod}" = ["*.c"] }}
        """
    files = {"pyproject.toml": _project_table(name, build, extra), "README.md": _readme(name),
             f"src/{mod}/__init__.py": "from ._core import add\n", f"src/{mod}/_core.c": c_module("_core")}
    return Project("setuptools-c-extension", name, files, _probe(mod), compiled=True)


def _pure(key: str, name: str, build: str, extra: str = "", *, layout: str = "src") -> Project:
    mod = name.replace("-", "_")
    package = f"src/{mod}" if layout == "src" else mod
    files = {"pyproject.toml": _project_table(name, build, extra), "README.md": _readme(name),
             f"{package}/__init__.py": PY_ADD}
    return Project(key, name, files, _probe(mod))


def hatchling() -> Project:
    return _pure("hatchling", "bk-hatchling", 'requires = ["hatchling>=1.26"]\nbuild-backend = "hatchling.build"')


def flit_core() -> Project:
    # flit_core looks for the module at the top (or under src/) by the distribution's import name.
    return _pure("flit_core", "bk-flit", 'requires = ["flit_core>=3.11,<4"]\nbuild-backend = "flit_core.buildapi"')


def pdm_backend() -> Project:
    return _pure("pdm-backend", "bk-pdm", 'requires = ["pdm-backend>=2.4"]\nbuild-backend = "pdm.backend"')


def poetry_core() -> Project:
    extra = '[tool.poetry]\npackages = [{ include = "bk_poetry", from = "src" }]'
    return _pure("poetry-core", "bk-poetry", 'requires = ["poetry-core>=2"]\nbuild-backend = "poetry.core.masonry.api"',
                 extra)


def scikit_build_core() -> Project:
    name, mod = "bk-skbuild", "bk_skbuild"
    # cmake and ninja come from PyPI, so the build does not depend on the machine's own. (scikit-build-core
    # warns: it would add them itself, but only when the machine has no recent enough cmake.)
    build = 'requires = ["scikit-build-core>=0.10", "cmake>=3.18", "ninja"]\nbuild-backend = "scikit_build_core.build"'
    cmake = f"""
        cmake_minimum_required(VERSION 3.18)
        project(${{SKBUILD_PROJECT_NAME}} LANGUAGES C)
        find_package(Python COMPONENTS Interpreter Development.Module REQUIRED)
        python_add_library(_core MODULE src/_core.c WITH_SOABI)
        install(TARGETS _core DESTINATION {mod})
        """
    files = {"pyproject.toml": _project_table(name, build), "README.md": _readme(name), "CMakeLists.txt": cmake,
             "src/_core.c": c_module("_core"), f"src/{mod}/__init__.py": "from ._core import add\n"}
    return Project("scikit-build-core", name, files, _probe(mod), compiled=True)


def meson_python() -> Project:
    name, mod = "bk-meson", "bk_meson"
    build = 'requires = ["meson-python>=0.16", "meson>=1.2", "ninja"]\nbuild-backend = "mesonpy"'
    meson = f"""
        project('{name}', 'c', version: '1.0.0')
        py = import('python').find_installation(pure: false)
        py.extension_module('_core', 'src/_core.c', install: true, subdir: '{mod}')
        py.install_sources('src/{mod}/__init__.py', subdir: '{mod}')
        """
    files = {"pyproject.toml": _project_table(name, build), "README.md": _readme(name), "meson.build": meson,
             "src/_core.c": c_module("_core"), f"src/{mod}/__init__.py": "from ._core import add\n"}
    # meson-python makes the sdist with `meson dist`, which works in a git (or hg) checkout only.
    return Project("meson-python", name, files, _probe(mod), compiled=True, needs=("git",), git=True)


def maturin() -> Project:
    # crates.io is out of reach, so no pyo3: a dependency-free cdylib with a C ABI, bound by cffi
    # (maturin reads the exported functions with its built-in cbindgen). cargo builds it offline.
    name, mod = "bk-maturin", "bk_maturin"
    build = 'requires = ["maturin>=1.5,<2", "cffi"]\nbuild-backend = "maturin"'
    # maturin leaves the runtime dependency on cffi to the project.
    extra = 'dependencies = ["cffi"]\n\n[tool.maturin]\nbindings = "cffi"\nmodule-name = "bk_maturin"'
    cargo = f"""
        [package]
        name = "{mod}"
        version = "1.0.0"
        edition = "2021"

        [lib]
        crate-type = ["cdylib"]

        [dependencies]
        """
    lib = """
        #[no_mangle]
        pub extern "C" fn add(a: i64, b: i64) -> i64 {
            a + b
        }
        """
    files = {"pyproject.toml": _project_table(name, build, extra), "README.md": _readme(name),
             "Cargo.toml": cargo, "src/lib.rs": lib}
    return Project("maturin", name, files, _probe(mod, "lib.add"), compiled=True, needs=("cargo",))


PROJECTS: dict[str, Callable[[], Project]] = {
    p().key: p
    for p in (setuptools_setup_py, setuptools_pyproject, setuptools_c_extension, hatchling, flit_core,
              pdm_backend, poetry_core, scikit_build_core, meson_python, maturin)
}

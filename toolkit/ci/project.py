"""CI, what the workflow depends on: the project's name, requires-python, and whether it builds pure or platform
wheels, read from its files (pyproject.toml, setup.cfg, setup.py) without running its build backend."""

from __future__ import annotations

import ast
import configparser
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from toolkit.config import read_pyproject
from toolkit.errors import ConfigError

# The Python that runs toolkit and cibuildwheel on the runners (not the wheels' Pythons, which cibuildwheel
# takes from requires-python): for a pure build the newest the project allows, for cibuildwheel the newest.
RUNNER_PYTHONS = ("3.14", "3.13", "3.12", "3.11", "3.10")
LINUX_RUNNER = "ubuntu-24.04"

# What makes a project "native" (rules as data: what to look for -> why it means compiled code).
NATIVE_BACKENDS = {
    "scikit_build_core.build": "scikit-build-core",
    "mesonpy": "meson-python",
    "maturin": "maturin",
    "py_build_cmake.build": "py-build-cmake",
    "sipbuild.api": "sip",
}
NATIVE_BUILD_REQUIRES = {
    "setuptools-rust": "setuptools-rust",
    "cython": "Cython",
    "pybind11": "pybind11",
    "nanobind": "nanobind",
    "cffi": "cffi",
    "scikit-build": "scikit-build",
    "hatch-cython": "hatch-cython",
    "hatch-mypyc": "hatch-mypyc",
}
PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
SETUP_PY_NATIVE = re.compile(r"\b(ext_modules|rust_extensions|cffi_modules|Extension\s*\()")


@dataclass(frozen=True)
class Project:
    """What the workflow depends on, read from the project's files."""

    root: Path
    name: str
    kind: Literal["pure", "native"]
    reason: str  # why that kind, for the user
    requires_python: SpecifierSet | None = None

    @property
    def runner_python(self) -> str:
        """The newest runner Python that a pure project's requires-python allows; the newest for cibuildwheel."""
        if self.kind == "native" or self.requires_python is None:
            return RUNNER_PYTHONS[0]
        allowed = [v for v in RUNNER_PYTHONS if self.requires_python.contains(f"{v}.0")]
        return allowed[0] if allowed else RUNNER_PYTHONS[0]


def pure_reason(pyproject: Mapping[str, Any]) -> str | None:
    """Why a backend that usually builds platform wheels builds a pure one here, or None.

    scikit-build-core puts the files in purelib, and tags the wheel py3-none-any, when `wheel.platlib` is false
    (or `wheel.cmake` is: no CMake build at all); pybind11 itself ships that way.
    """
    if pyproject.get("build-system", {}).get("build-backend") != "scikit_build_core.build":
        return None
    wheel = pyproject.get("tool", {}).get("scikit-build", {}).get("wheel", {})
    for key in ("platlib", "cmake"):
        if wheel.get(key) is False:
            return f"scikit-build-core builds a pure wheel ([tool.scikit-build] wheel.{key} = false)"
    return None


def native_reason(root: Path, pyproject: Mapping[str, Any]) -> str | None:
    """Why the project builds platform wheels, or None for a pure-Python one."""
    system = pyproject.get("build-system", {})
    backend = system.get("build-backend", "")
    if backend in NATIVE_BACKENDS:
        return f"its build backend is {NATIVE_BACKENDS[backend]}"
    for text in system.get("requires", []):
        try:
            name = canonicalize_name(Requirement(text).name)
        except InvalidRequirement:
            continue
        if name in NATIVE_BUILD_REQUIRES:
            return f"it builds with {NATIVE_BUILD_REQUIRES[name]}"
    tool = pyproject.get("tool", {})
    if tool.get("setuptools", {}).get("ext-modules"):
        return "[tool.setuptools] declares ext-modules"
    setup_py = root / "setup.py"
    if setup_py.is_file() and SETUP_PY_NATIVE.search(setup_py.read_text(encoding="utf-8", errors="replace")):
        return "setup.py declares extension modules"
    if (root / "Cargo.toml").is_file() and backend.startswith("setuptools"):
        return "it has a Cargo.toml"
    if "cibuildwheel" in tool:
        return "it configures cibuildwheel ([tool.cibuildwheel])"
    return None


def _setup_cfg_name(root: Path) -> str | None:
    """setuptools' declarative config: `[metadata] name`."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(root / "setup.cfg", encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return None
    return parser.get("metadata", "name", fallback=None) or None


def _setup_py_name(root: Path) -> str | None:
    """A literal `setup(name="...")` in setup.py, read without running it."""
    try:
        tree = ast.parse((root / "setup.py").read_bytes())
    except (OSError, SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        func = getattr(node, "func", None)
        if isinstance(node, ast.Call) and getattr(func, "id", getattr(func, "attr", None)) == "setup":
            for keyword in node.keywords:
                if keyword.arg == "name" and isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str):
                    return keyword.value.value
    return None


def project_name(root: Path, table: Mapping[str, Any], warn: Callable[[str], None]) -> str:
    """The distribution's name, for the index URLs: [project] name, setup.cfg's [metadata] name, or a literal
    setup(name=...); else the folder's name, with a warning (asking the backend would mean a build environment
    on every `ci matrix`, for the one case where the name is computed at run time)."""
    name = table.get("name") or _setup_cfg_name(root) or _setup_py_name(root)
    if name:
        return str(name)
    folder = root.resolve().name
    warn(f"the project's name is not in pyproject.toml, setup.cfg or a literal setup(name=...): the workflow uses "
         f"the folder's name, {canonicalize_name(folder)!r}")
    return folder


def detect(root: Path, kind: str = "auto", warn: Callable[[str], None] = lambda text: None) -> Project:
    """Read the project at `root`: its name, requires-python, and pure or native (`kind` overrides the guess)."""
    if not root.is_dir():
        raise ConfigError(f"{root} is not a folder", hint="give the project's folder (the root of its repository)")
    if not any((root / marker).is_file() for marker in PROJECT_FILES):
        raise ConfigError(f"{root}: no Python project here (no {', '.join(PROJECT_FILES)})",
                          hint="run it in the project's root folder, or give that folder: toolkit ci init PATH")
    pyproject = read_pyproject(root)
    table = pyproject.get("project", {})
    name = project_name(root, table, warn)
    try:
        requires = SpecifierSet(table["requires-python"]) if "requires-python" in table else None
    except InvalidSpecifier:
        raise ConfigError(f"{root / 'pyproject.toml'}: requires-python {table['requires-python']!r} is not a specifier set") from None
    pure = pure_reason(pyproject)
    reason = None if pure else native_reason(root, pyproject)
    if kind == "auto":
        kind = "native" if reason else "pure"
        reason = reason or pure or "no compiled code found (no native build backend, build requirement or extension module)"
    else:
        reason = "[tool.toolkit.ci] kind says so"
    return Project(root, canonicalize_name(str(name)), "native" if kind == "native" else "pure", reason, requires)

"""CI on top of the pipeline: render templates/ into a project's GitHub Actions
workflow, and list the per-wheel build matrix from cibuildwheel's own identifiers.

Everything here is a function of the project's files and the options, except the
edges: `build_identifiers` runs cibuildwheel, `write` writes the workflow.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import string
import sys
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from toolkit import __version__, _fs, _proc
from toolkit.config import read_pyproject
from toolkit.errors import ConfigError, ToolkitError
from toolkit.pypi import PYPI, TESTPYPI

DISTRIBUTION = "wheel-toolkit"  # the name on PyPI; the import package and the command are `toolkit`
WORKFLOW = Path(".github/workflows/release.yml")
# The Python that runs toolkit and cibuildwheel on the runners (not the wheels' Pythons, which cibuildwheel
# takes from requires-python): for a pure build the newest the project allows, for cibuildwheel the newest.
RUNNER_PYTHONS = ("3.14", "3.13", "3.12", "3.11", "3.10")
LINUX_RUNNER = "ubuntu-24.04"
MAX_JOBS = 256  # GitHub Actions runs at most 256 jobs from one matrix

# Every action the templates use, pinned by full commit SHA, with its release in a comment.
# docs/ci.md says where each commit was verified; toolkit's own workflows use the same (a test checks).
ACTIONS: dict[str, tuple[str, str, str]] = {
    "checkout": ("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "setup_python": ("actions/setup-python", "5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "upload_artifact": ("actions/upload-artifact", "043fb46d1a93c77aae656e7c1c64a875d1fc6a0a", "v7.0.1"),
    "download_artifact": ("actions/download-artifact", "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
}


@dataclass(frozen=True)
class Target:
    """One runner kind: cibuildwheel's platform and arch, and the GitHub-hosted runner that builds them natively."""

    platform: Literal["linux", "macos", "windows"]
    arch: str  # cibuildwheel's spelling: x86_64, aarch64, arm64, AMD64, ARM64
    runner: str


TARGETS: dict[str, Target] = {
    "linux-x86_64": Target("linux", "x86_64", LINUX_RUNNER),
    "linux-aarch64": Target("linux", "aarch64", "ubuntu-24.04-arm"),
    "macos-x86_64": Target("macos", "x86_64", "macos-15-intel"),
    "macos-arm64": Target("macos", "arm64", "macos-15"),
    "windows-amd64": Target("windows", "AMD64", "windows-2025"),
    "windows-arm64": Target("windows", "ARM64", "windows-11-arm"),
}

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


def detect(root: Path, kind: str = "auto") -> Project:
    """Read the project at `root`: its name, requires-python, and pure or native (`kind` overrides the guess)."""
    if not root.is_dir():
        raise ConfigError(f"{root} is not a folder", hint="give the project's folder (the root of its repository)")
    pyproject = read_pyproject(root)
    table = pyproject.get("project", {})
    name = table.get("name") or root.resolve().name  # a setup.py-only project: the folder's name, for the index URL
    try:
        requires = SpecifierSet(table["requires-python"]) if "requires-python" in table else None
    except InvalidSpecifier:
        raise ConfigError(f"{root / 'pyproject.toml'}: requires-python {table['requires-python']!r} is not a specifier set") from None
    reason = native_reason(root, pyproject)
    if kind == "auto":
        kind = "native" if reason else "pure"
        reason = reason or "no compiled code found (no native build backend, build requirement or extension module)"
    else:
        reason = "[tool.toolkit.ci] kind says so"
    return Project(root, canonicalize_name(str(name)), "native" if kind == "native" else "pure", reason, requires)


# --- the matrix -------------------------------------------------------------------------------------------------

IdentifierSource = Callable[[Path, str, list[str]], list[str]]


def build_identifiers(root: Path, platform: str, archs: list[str]) -> list[str]:
    """cibuildwheel's own list of wheels for one platform: it reads requires-python and [tool.cibuildwheel]."""
    cmd = [sys.executable, "-m", "cibuildwheel", "--print-build-identifiers", "--platform", platform,
           "--archs", ",".join(archs), "."]
    try:
        proc = _proc.output(cmd, cwd=root)
    except OSError as exc:
        raise ToolkitError(f"cannot run cibuildwheel: {exc}", hint="reinstall toolkit (cibuildwheel is a dependency)") from None
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise ConfigError(f"cibuildwheel cannot list the {platform} wheels: {last}",
                          hint="fix [tool.cibuildwheel] in pyproject.toml (or the CIBW_* variables)")
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


def is_free_threaded(identifier: str) -> bool:
    """cp314t-manylinux_x86_64 is a free-threaded build: its interpreter part ends in `t`."""
    return identifier.split("-", 1)[0].endswith("t")


def _arch_of(identifier: str) -> str:
    # cp312-manylinux_x86_64 -> x86_64, cp312-win_amd64 -> amd64, cp312-macosx_arm64 -> arm64
    return identifier.split("-", 1)[1].split("_", 1)[1].lower()


def matrix_entries(identifiers: Mapping[str, list[str]], targets: Iterable[str], free_threaded: bool) -> list[dict[str, str]]:
    """One entry per wheel: the runner that builds it natively, its identifier and its arch.

    `identifiers` maps each platform to cibuildwheel's identifiers for the targets' archs.
    """
    entries = []
    chosen = [TARGETS[t] for t in targets]
    for platform, ids in identifiers.items():
        by_arch = {t.arch.lower(): t for t in chosen if t.platform == platform}
        for identifier in ids:
            target = by_arch.get(_arch_of(identifier))
            if target is None or (is_free_threaded(identifier) and not free_threaded):
                continue
            entries.append({"os": target.runner, "identifier": identifier, "arch": target.arch})
    return entries


def check_platforms(platforms: Iterable[str]) -> list[str]:
    """The platform names, lower-cased (an item may hold several, comma-separated); an unknown one is an error."""
    names = [p.lower() for item in platforms for p in item.replace(",", " ").split()]
    unknown = [p for p in names if p not in TARGETS]
    if unknown:
        raise ConfigError(f"unknown platform {unknown[0]!r} in [tool.toolkit.ci] platforms",
                          hint=f"platforms are: {', '.join(TARGETS)}")
    return names


def matrix(project: Project, options: Any, source: IdentifierSource = build_identifiers) -> dict[str, list[dict[str, str]]]:
    """The `strategy.matrix` for the wheel jobs: `{"include": [...]}`; a pure project has one entry."""
    if project.kind == "pure":
        return {"include": [{"os": LINUX_RUNNER, "identifier": "py3-none-any", "arch": "any"}]}
    targets = check_platforms(options.platforms)
    archs = {p: [TARGETS[t].arch for t in targets if TARGETS[t].platform == p] for p in ("linux", "macos", "windows")}
    with ThreadPoolExecutor() as pool:  # three cibuildwheel processes at once: a third of the wait
        pending = {p: pool.submit(source, project.root, p, a) for p, a in archs.items() if a}
        identifiers = {p: future.result() for p, future in pending.items()}
    entries = matrix_entries(identifiers, targets, options.free_threaded)
    if not entries:
        raise ConfigError("no wheel to build: cibuildwheel selects no build identifier for these platforms",
                          hint="check requires-python and [tool.cibuildwheel] build/skip, or [tool.toolkit.ci] platforms")
    if len(entries) > MAX_JOBS:
        raise ConfigError(f"{len(entries)} wheels: GitHub Actions runs at most {MAX_JOBS} jobs from one matrix",
                          hint="narrow [tool.cibuildwheel] build/skip, or [tool.toolkit.ci] platforms")
    return {"include": entries}


# --- rendering --------------------------------------------------------------------------------------------------

class _Template(string.Template):
    """`%{name}` placeholders: `$` and `${{ }}` belong to the shell and to GitHub Actions."""

    delimiter = "%"
    pattern = r"%(?:(?P<escaped>%)|\{(?P<braced>[a-z_]+)\}|(?P<named>(?!x)x)|(?P<invalid>))"  # type: ignore[assignment]


def templates_dir() -> Path:
    """templates/: inside the package in a wheel (force-included), at the top of a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "pure.yml").is_file():
            return candidate
    raise ToolkitError("toolkit's workflow templates are missing", hint=f"reinstall toolkit (pip install {DISTRIBUTION})")


@dataclass(frozen=True)
class Install:
    """Where the workflow's jobs get toolkit: a pinned release by default; toolkit's own release uses itself."""

    build: str = f'python -m pip install "{DISTRIBUTION}=={__version__}"'
    publish: str = f'python -m pip install "{DISTRIBUTION}=={__version__}"'
    requirement: str = f"{DISTRIBUTION}=={__version__}"


@dataclass(frozen=True)
class Rendered:
    path: Path  # relative to the project
    text: str


HASH_MARK = "# toolkit-ci-sha256: "


def render(project: Project, install: Install = Install(), matrix_flags: Iterable[str] = ()) -> Rendered:
    """The workflow for `project`, as text: its header records the hash of the body, so an edit shows.

    `matrix_flags` are the options given to `ci init` on its command line, repeated in the workflow's
    `toolkit ci matrix` (options from [tool.toolkit.ci] are read there at run time).
    """
    folder = templates_dir()
    values: dict[str, str] = {key: f"{repo}@{sha} # {tag}" for key, (repo, sha, tag) in ACTIONS.items()}
    values |= {
        "python": project.runner_python,
        "linux_runner": LINUX_RUNNER,
        "name": project.name,
        "pypi_url": PYPI.project_page(project.name),
        "testpypi_url": TESTPYPI.project_page(project.name),
        "install_toolkit": install.build,
        "install_toolkit_publish": install.publish,
        "toolkit_requirement": install.requirement,
        "plan_job": "plan" if project.kind == "native" else "build",
        "publish_needs": "plan, sdist, wheels" if project.kind == "native" else "build",
        "matrix_command": " ".join(["toolkit ci matrix --kind native", *matrix_flags]),
    }
    values["publish_job"] = _Template((folder / "publish.yml").read_text(encoding="utf-8")).substitute(values).rstrip("\n")
    body = _Template((folder / f"{project.kind}.yml").read_text(encoding="utf-8")).substitute(values)
    header = (
        f"# Rendered by `toolkit ci init` for {project.name}, a {project.kind} project: {project.reason}.\n"
        "# Re-running it updates this file while it is as rendered; once edited, the file is kept\n"
        "# (the difference is shown) unless --force is given.\n"
        f"{HASH_MARK}{_digest(body)}\n"
    )
    return Rendered(WORKFLOW, header + body)


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def _body(text: str) -> tuple[str | None, str]:
    """The recorded hash and the body after the header (None when there is no hash line)."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines[:8]):
        if line.startswith(HASH_MARK):
            return line[len(HASH_MARK):].strip(), "".join(lines[i + 1:])
    return None, text


# --- writing ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    """What `ci init` does to one file: create, update (unedited, re-rendered), keep (same), or conflict (edited)."""

    path: Path
    action: Literal["create", "update", "unchanged", "edited"]
    new: str
    diff: str = field(default="", compare=False)


def plan(root: Path, rendered: Rendered) -> Change:
    """Compare the rendering with the file on disk."""
    target = root / rendered.path
    try:
        old = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Change(rendered.path, "create", rendered.text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{target}: cannot read it: {exc}") from None
    if old == rendered.text:
        return Change(rendered.path, "unchanged", rendered.text)
    recorded, body = _body(old)
    if recorded is not None and recorded == _digest(body):
        return Change(rendered.path, "update", rendered.text)
    diff = "".join(difflib.unified_diff(
        old.splitlines(keepends=True), rendered.text.splitlines(keepends=True),
        fromfile=f"{rendered.path.as_posix()} (yours)", tofile=f"{rendered.path.as_posix()} (toolkit ci init)",
    ))
    return Change(rendered.path, "edited", rendered.text, diff)


def write(root: Path, change: Change, force: bool = False) -> None:
    """Write the file atomically (temporary name, then rename); an edited file only with `force`."""
    if change.action == "unchanged" or (change.action == "edited" and not force):
        return
    target = root / change.path
    try:
        _fs.atomic_write(target, change.new)
    except OSError as exc:
        raise ToolkitError(f"cannot write {target}: {exc.strerror or exc}", hint="check the folder's permissions") from None


def matrix_flags(options: Any, given: Iterable[str]) -> list[str]:
    """The `toolkit ci matrix` flags that repeat the options named in `given` (set on the command line)."""
    flags = []
    for name in given:
        value = getattr(options, name)
        if name == "free_threaded":
            flags.append("--free-threaded" if value else "--no-free-threaded")
        elif name == "platforms":
            flags.append("--platforms " + ",".join(check_platforms(value)))
    return flags


def init(project: Project, options: Any, force: bool = False, given: Iterable[str] = (),
         source: IdentifierSource = build_identifiers) -> Change:
    """Render the workflow and write it unless it was edited (then only with `force`).

    For a native project the matrix is computed once here too, so that a configuration cibuildwheel
    rejects, or one that selects no wheel, fails now rather than on the first push.
    """
    check_platforms(options.platforms)
    if project.kind == "native":
        matrix(project, options, source)
    change = plan(project.root, render(project, matrix_flags=matrix_flags(options, given)))
    write(project.root, change, force)
    return change


# --- the index for a tag ----------------------------------------------------------------------------------------

def repository_for_tag(tag: str) -> Literal["pypi", "testpypi"]:
    """`v1.2.0` -> pypi; `v1.2.0rc1`, `1.3.0.dev2` -> testpypi (a PEP 440 pre- or dev-release)."""
    text = tag[1:] if tag[:1] in "vV" else tag
    try:
        version = Version(text)
    except InvalidVersion:
        raise ConfigError(f"tag {tag!r} is not a version", hint="tag releases as v1.2.3 or 1.2.3 (PEP 440)") from None
    return "testpypi" if version.is_prerelease else "pypi"


def to_json(doc: Mapping[str, Any]) -> str:
    """One line, as `$GITHUB_OUTPUT` needs it."""
    return json.dumps(doc, separators=(",", ":"))


"""CI on top of the pipeline: render templates/ into a project's GitHub Actions
workflow, and list the per-wheel build matrix from cibuildwheel's own identifiers.

Everything here is a function of the project's files and the options, except the
edges: `build_identifiers` runs cibuildwheel, `write` writes the workflow.
"""

from __future__ import annotations

import ast
import configparser
import dataclasses
import difflib
import hashlib
import json
import os
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
from toolkit.errors import ConfigError, ToolkitError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

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
    "setup_qemu": ("docker/setup-qemu-action", "29109295f81e9208d7d86ff1c6c12d2833863392", "v3.6.0"),
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
PLATFORMS = ("linux", "macos", "windows")

# Every arch cibuildwheel builds on the three platforms -> (runner, QEMU platform). Arches with no runner of their
# own build on the x86_64 Linux runner under QEMU (docker/setup-qemu-action), as cibuildwheel's docs set it up;
# i686 and win32 run natively on the 64-bit runners, universal2 on the arm64 Mac.
RUNNERS: dict[tuple[str, str], tuple[str, str]] = {
    **{(t.platform, t.arch): (t.runner, "") for t in TARGETS.values()},
    ("linux", "i686"): (LINUX_RUNNER, ""),
    ("linux", "armv7l"): (LINUX_RUNNER, "arm"),
    ("linux", "ppc64le"): (LINUX_RUNNER, "ppc64le"),
    ("linux", "s390x"): (LINUX_RUNNER, "s390x"),
    ("linux", "riscv64"): (LINUX_RUNNER, "riscv64"),
    ("macos", "universal2"): ("macos-15", ""),
    ("windows", "x86"): ("windows-2025", ""),
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


def read_pyproject(root: Path) -> dict[str, Any]:
    path = root / "pyproject.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it: {exc}", hint="fix the TOML syntax") from None


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


# --- the matrix -------------------------------------------------------------------------------------------------

IdentifierSource = Callable[[Path, str, "list[str] | None"], list[str]]


def build_identifiers(root: Path, platform: str, archs: list[str] | None) -> list[str]:
    """cibuildwheel's own list of wheels for one platform: it reads requires-python and [tool.cibuildwheel]
    (and its `archs` too when `archs` is None)."""
    cmd = [sys.executable, "-m", "cibuildwheel", "--print-build-identifiers", "--platform", platform,
           *(["--archs", ",".join(archs)] if archs is not None else []), "."]
    try:
        proc = _proc.output(cmd, cwd=root)
    except OSError as exc:
        raise ToolkitError(f"cannot run cibuildwheel: {exc}", hint="reinstall toolkit (cibuildwheel is a dependency)") from None
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise ConfigError(f"cibuildwheel cannot list the {platform} wheels: {last}",
                          hint="fix [tool.cibuildwheel] in pyproject.toml (or the CIBW_* variables)")
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


def configured_archs(root: Path, platform: str) -> str | None:
    """The `archs` that [tool.cibuildwheel] or CIBW_ARCHS* set for `platform`, as cibuildwheel resolves them;
    None for its default, `auto`, which means the host's arches (the plan job's, not the project's wish).

    cibuildwheel's command line cannot print a resolved option, so its option reader is asked directly.
    """
    from cibuildwheel.errors import ConfigurationError
    from cibuildwheel.options import ListFormat, OptionsReader

    config = root / "pyproject.toml"
    try:
        reader = OptionsReader(config if config.is_file() else None, platform=platform, env=os.environ)  # type: ignore[arg-type]
        value = reader.get("archs", option_format=ListFormat(sep=" "), ignore_empty=True)
    except (ConfigurationError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cibuildwheel cannot read its options: {exc}",
                          hint="fix [tool.cibuildwheel] in pyproject.toml (or the CIBW_* variables)") from None
    return None if value.split() == ["auto"] else value


def is_free_threaded(identifier: str) -> bool:
    """cp314t-manylinux_x86_64 is a free-threaded build: its interpreter part ends in `t`."""
    return identifier.split("-", 1)[0].endswith("t")


WINDOWS_ARCHS = {"win32": "x86", "win_amd64": "AMD64", "win_arm64": "ARM64"}


def arch_of(platform: str, identifier: str) -> str:
    """cibuildwheel's arch of an identifier: cp312-manylinux_x86_64 -> x86_64, cp312-win32 -> x86."""
    tail = identifier.split("-", 1)[1]
    if platform == "windows":
        return WINDOWS_ARCHS.get(tail, tail)
    return tail.split("_", 1)[1] if "_" in tail else tail


def matrix_entries(identifiers: Mapping[str, list[str]], free_threaded: bool,
                   warn: Callable[[str], None] = lambda text: None) -> list[dict[str, str]]:
    """One entry per wheel: the runner that builds it, its identifier and arch, and the QEMU platform a foreign
    arch needs. `identifiers` maps each platform to cibuildwheel's identifiers."""
    entries, unknown = [], []
    for platform, ids in identifiers.items():
        for identifier in ids:
            if is_free_threaded(identifier) and not free_threaded:
                continue
            arch = arch_of(platform, identifier)
            if (platform, arch) not in RUNNERS:
                unknown.append(identifier)
                continue
            runner, qemu = RUNNERS[platform, arch]
            entries.append({"os": runner, "identifier": identifier, "arch": arch, **({"qemu": qemu} if qemu else {})})
    if unknown:
        warn(f"left out {len(unknown)} wheel(s) no GitHub-hosted runner can build: {', '.join(unknown)}")
    return entries


def check_platforms(platforms: Iterable[str]) -> list[str]:
    """The platform names, lower-cased (an item may hold several, comma-separated); an unknown one is an error."""
    names = [p.lower() for item in platforms for p in item.replace(",", " ").split()]
    unknown = [p for p in names if p not in TARGETS]
    if unknown:
        raise ConfigError(f"unknown platform {unknown[0]!r} in [tool.toolkit.ci] platforms",
                          hint=f"platforms are: {', '.join(TARGETS)}")
    return names


def platform_archs(root: Path, targets: list[str]) -> dict[str, list[str] | None]:
    """For each platform the targets name: toolkit's arches for it, or None where cibuildwheel's own `archs`
    option is set (then cibuildwheel's choice is the one built, foreign arches included)."""
    archs: dict[str, list[str] | None] = {}
    for platform in PLATFORMS:
        chosen = [TARGETS[t].arch for t in targets if TARGETS[t].platform == platform]
        if chosen:
            archs[platform] = None if configured_archs(root, platform) else chosen
    return archs


def matrix(project: Project, options: Any, source: IdentifierSource = build_identifiers,
           warn: Callable[[str], None] = lambda text: None) -> dict[str, list[dict[str, str]]]:
    """The `strategy.matrix` for the wheel jobs: `{"include": [...]}`; a pure project has one entry."""
    if project.kind == "pure":
        return {"include": [{"os": LINUX_RUNNER, "identifier": "py3-none-any", "arch": "any"}]}
    archs = platform_archs(project.root, check_platforms(options.platforms))
    with ThreadPoolExecutor() as pool:  # three cibuildwheel processes at once: a third of the wait
        pending = {p: pool.submit(source, project.root, p, a) for p, a in archs.items()}
        identifiers = {p: future.result() for p, future in pending.items()}
    entries = matrix_entries(identifiers, options.free_threaded, warn)
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


def template_values(project: Project, install: Install) -> dict[str, str]:
    """The placeholders every template shares (GitHub's and GitLab's)."""
    values: dict[str, str] = {key: f"{repo}@{sha} # {tag}" for key, (repo, sha, tag) in ACTIONS.items()}
    return values | {
        "python": project.runner_python,
        "linux_runner": LINUX_RUNNER,
        "name": project.name,
        "pypi_url": f"https://pypi.org/p/{project.name}",
        "testpypi_url": f"https://test.pypi.org/p/{project.name}",
        "install_toolkit": install.build,
        "install_toolkit_publish": install.publish,
        "toolkit_requirement": install.requirement,
    }


def substitute(name: str, values: Mapping[str, str]) -> str:
    """templates/NAME with its placeholders filled."""
    return _Template((templates_dir() / name).read_text(encoding="utf-8")).substitute(values)


def with_header(path: Path, project: Project, body: str, command: str = "toolkit ci init") -> Rendered:
    """The rendered file: a header that records the hash of the body (so an edit shows), then the body."""
    header = (
        f"# Rendered by `{command}` for {project.name}, a {project.kind} project: {project.reason}.\n"
        "# Re-running it updates this file while it is as rendered; once edited, the file is kept\n"
        "# (the difference is shown) unless --force is given.\n"
        f"{HASH_MARK}{_digest(body)}\n"
    )
    return Rendered(path, header + body)


def render(project: Project, install: Install = Install(), matrix_flags: Iterable[str] = ()) -> Rendered:
    """The workflow for `project`, as text: its header records the hash of the body, so an edit shows.

    `matrix_flags` are the options given to `ci init` on its command line, repeated in the workflow's
    `toolkit ci matrix` (options from [tool.toolkit.ci] are read there at run time).
    """
    values = template_values(project, install) | {
        "plan_job": "plan" if project.kind == "native" else "build",
        "publish_needs": "plan, sdist, wheels" if project.kind == "native" else "build",
        "matrix_command": " ".join(["toolkit ci matrix --kind native", *matrix_flags]),
    }
    values["publish_job"] = substitute("publish.yml", values).rstrip("\n")
    return with_header(WORKFLOW, project, substitute(f"{project.kind}.yml", values))


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
    """What `ci init` does to one file: create, update (unedited, re-rendered), keep (same), or conflict (edited
    since toolkit rendered it, or foreign: a file toolkit did not render)."""

    path: Path
    action: Literal["create", "update", "unchanged", "edited", "foreign"]
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
    if recorded is None:
        return Change(rendered.path, "foreign", rendered.text)
    if recorded == _digest(body):
        return Change(rendered.path, "update", rendered.text)
    diff = "".join(difflib.unified_diff(
        old.splitlines(keepends=True), rendered.text.splitlines(keepends=True),
        fromfile=f"{rendered.path.as_posix()} (yours)", tofile=f"{rendered.path.as_posix()} (toolkit ci init)",
    ))
    return Change(rendered.path, "edited", rendered.text, diff)


def write(root: Path, change: Change, force: bool = False) -> None:
    """Write the file atomically (temporary name, then rename); an edited file only with `force`."""
    if change.action == "unchanged" or (change.action in ("edited", "foreign") and not force):
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


def rendered_options(text: str) -> tuple[str | None, dict[str, Any]]:
    """What a workflow toolkit rendered says: the project's kind, and the options its `toolkit ci matrix`
    repeats (those given to `ci init` on its command line)."""
    if _body(text)[0] is None:
        return None, {}
    kind = re.search(r"^# Rendered by `toolkit ci init[^`]*` for \S+, a (pure|native) project", text, re.MULTILINE)
    command = re.search(r"toolkit ci matrix --kind native((?: --[a-z-]+(?: [a-z0-9_][a-z0-9_,-]*)?)*)", text)
    flags = command.group(1).split() if command else []
    found: dict[str, Any] = {}
    if "--free-threaded" in flags or "--no-free-threaded" in flags:
        found["free_threaded"] = "--free-threaded" in flags
    if "--platforms" in flags[:-1]:
        found["platforms"] = (flags[flags.index("--platforms") + 1],)
    return (kind.group(1) if kind else None), found


def kept_options(root: Path, path: Path, options: Any, given: Iterable[str], kind: str,
                 warn: Callable[[str], None]) -> tuple[Any, list[str]]:
    """The options of the file on disk (`root/path`) that this run does not give again are kept (a plain re-run
    must not drop `--platforms` or `--free-threaded`); a change of kind is said, not silently made."""
    given = list(given)
    try:
        old_kind, recorded = rendered_options((root / path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return options, given
    kept = {name: value for name, value in recorded.items() if name not in given}
    if kept:
        flags = " ".join(matrix_flags(dataclasses.replace(options, **kept), kept))
        warn(f"kept {flags} from {path.as_posix()} (give the option again to change it)")
    if old_kind and old_kind != kind:
        warn(f"{path.as_posix()} was rendered for a {old_kind} project; this one is {kind} "
             f"(give --kind {old_kind} to keep it)")
    return dataclasses.replace(options, **kept), [*given, *kept]


def init(project: Project, options: Any, force: bool = False, given: Iterable[str] = (),
         source: IdentifierSource = build_identifiers, warn: Callable[[str], None] = lambda text: None,
         gitlab: bool = False) -> Change:
    """Render the workflow (GitHub's, or GitLab's .gitlab-ci.yml) and write it unless it was edited (then only
    with `force`).

    For a native project the matrix is computed once here too, so that a configuration cibuildwheel
    rejects, or one that selects no wheel, fails now rather than on the first push.
    """
    from toolkit.ci_gitlab import GITLAB_CI, render_gitlab

    path = GITLAB_CI if gitlab else WORKFLOW
    options, given = kept_options(project.root, path, options, given, project.kind, warn)
    check_platforms(options.platforms)
    entries = matrix(project, options, source, warn)["include"] if project.kind == "native" else []
    flags = matrix_flags(options, given)
    rendered = render_gitlab(project, entries, matrix_flags=flags) if gitlab else render(project, matrix_flags=flags)
    change = plan(project.root, rendered)
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


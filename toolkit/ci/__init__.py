"""CI on top of the pipeline: render templates/ into a project's GitHub Actions workflow (GitLab's is
gitlab.py), keep a user's edits and options on a re-run, and choose the index for a tag. What the
workflow depends on is read by project.py; the per-wheel matrix comes from matrix.py.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from packaging.version import InvalidVersion, Version

from toolkit import __version__, _fs
from toolkit.ci.matrix import IdentifierSource, arch_of, build_identifiers, check_platforms, is_free_threaded, matrix, matrix_entries
from toolkit.ci.project import LINUX_RUNNER, Project, detect
from toolkit.errors import ConfigError, ToolkitError
from toolkit.pypi import PYPI, TESTPYPI

# The API the CLI and library callers use (from the three ci modules).
__all__ = ["ACTIONS", "HASH_MARK", "Install", "Project", "Rendered", "arch_of", "detect", "init", "is_free_threaded",
           "matrix", "matrix_entries", "render", "repository_for_tag", "templates_dir", "to_json"]

DISTRIBUTION = "wheel-toolkit"  # the name on PyPI; the import package and the command are `toolkit`
WORKFLOW = Path(".github/workflows/release.yml")

# Every action the templates use, pinned by full commit SHA, with its release in a comment.
# docs/ci.md says where each commit was verified; toolkit's own workflows use the same (a test checks).
ACTIONS: dict[str, tuple[str, str, str]] = {
    "checkout": ("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "setup_python": ("actions/setup-python", "5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "upload_artifact": ("actions/upload-artifact", "043fb46d1a93c77aae656e7c1c64a875d1fc6a0a", "v7.0.1"),
    "download_artifact": ("actions/download-artifact", "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
    "setup_qemu": ("docker/setup-qemu-action", "29109295f81e9208d7d86ff1c6c12d2833863392", "v3.6.0"),
}


# --- rendering --------------------------------------------------------------------------------------------------

class _Template(string.Template):
    """`%{name}` placeholders: `$` and `${{ }}` belong to the shell and to GitHub Actions."""

    delimiter = "%"
    pattern = r"%(?:(?P<escaped>%)|\{(?P<braced>[a-z_]+)\}|(?P<named>(?!x)x)|(?P<invalid>))"  # type: ignore[assignment]


def templates_dir() -> Path:
    """templates/: inside the package in a wheel (force-included), at the top of a source checkout."""
    here = Path(__file__).resolve().parent.parent  # the toolkit package (this is toolkit/ci/__init__.py)
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
        "pypi_url": PYPI.project_page(project.name),
        "testpypi_url": TESTPYPI.project_page(project.name),
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
    from toolkit.ci.gitlab import GITLAB_CI, render_gitlab

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


"""The interpreters a wheel matrix is built with (`toolkit build --python X --python Y`, `--python all`).

uv finds interpreters (`uv python find`, `uv python list`) and never downloads one here;
each interpreter found is asked once what it is (version, ABI, platform), since that,
not the spelling the user typed, decides the wheel's tags and the environment cache key.
"""

from __future__ import annotations

import json
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from toolkit._proc import output
from toolkit.errors import ConfigError

ALL = "all"
_NOT_FOUND_HINT = "`uv python list --only-installed` shows the interpreters found; pass a version or a path of one of them"
# Run in the interpreter to describe it (-I: no user site, no PYTHON* variables).
_DESCRIBE = (
    "import json, sys, sysconfig; print(json.dumps({'executable': sys.executable, 'version': sys.version, "
    "'version_info': list(sys.version_info[:3]), 'implementation': sys.implementation.name, "
    "'cache_tag': sys.implementation.cache_tag or '', 'platform': sysconfig.get_platform(), "
    "'gil_disabled': bool(sysconfig.get_config_var('Py_GIL_DISABLED'))}))"
)


@dataclass(frozen=True)
class Interpreter:
    executable: str
    version: str  # sys.version: the build number too, so a patched interpreter gets fresh environments
    version_info: tuple[int, int, int]
    implementation: str
    cache_tag: str
    platform: str
    gil_disabled: bool = False

    @property
    def identity(self) -> str:
        """What an environment made with this interpreter depends on (the cache key's interpreter part)."""
        return "|".join([self.executable, self.version, self.platform, self.cache_tag])

    @property
    def abi_key(self) -> tuple[str, int, int, bool]:
        """Interpreters with the same key build wheels with the same tags: one of them is enough."""
        return (self.implementation, self.version_info[0], self.version_info[1], self.gil_disabled)

    @property
    def label(self) -> str:
        major, minor, micro = self.version_info
        return f"{self.implementation} {major}.{minor}.{micro}{'t' if self.gil_disabled else ''}"


def current() -> Interpreter:
    """The interpreter running toolkit (no subprocess)."""
    return Interpreter(
        executable=sys.executable, version=sys.version, version_info=tuple(sys.version_info[:3]),  # type: ignore[arg-type]
        implementation=sys.implementation.name, cache_tag=sys.implementation.cache_tag or "",
        platform=sysconfig.get_platform(), gil_disabled=bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    )


def describe(executable: str) -> Interpreter | None:
    """Ask `executable` what it is; None when it does not run as a Python."""
    try:
        out = output([executable, "-I", "-c", _DESCRIBE])
        data = json.loads(out.stdout) if out.returncode == 0 else None
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return Interpreter(**{**data, "version_info": tuple(data["version_info"])})


def find(specs: Sequence[str], uv: str | None) -> list[Interpreter]:
    """The interpreters `specs` name (versions, paths, names, or `all`), one per ABI, in the order given."""
    found: list[Interpreter] = []
    for spec in specs:
        if spec == ALL:
            found.extend(_all_installed(uv))
        else:
            found.append(_one(spec, uv))
    return unique(found)


def unique(interpreters: Sequence[Interpreter]) -> list[Interpreter]:
    """The first interpreter of each ABI (two spellings of one interpreter build one wheel)."""
    seen: dict[tuple[str, int, int, bool], Interpreter] = {}
    for interp in interpreters:
        seen.setdefault(interp.abi_key, interp)
    return list(seen.values())


def allowed(interpreters: Sequence[Interpreter], requires_python: str | None, where: str) -> list[Interpreter]:
    """Those that `requires_python` allows; an empty result is an error that names what was excluded."""
    if not requires_python:
        return list(interpreters)
    try:
        spec = SpecifierSet(requires_python)
    except InvalidSpecifier:
        raise ConfigError(f"{where}: invalid Requires-Python {requires_python!r}", hint="fix requires-python") from None
    kept = [i for i in interpreters if spec.contains(".".join(map(str, i.version_info)), prereleases=True)]
    if not kept:
        names = ", ".join(i.label for i in interpreters)
        raise ConfigError(f"requires-python {requires_python} allows none of the interpreters: {names}",
                          hint="pass --python with a version that requires-python allows")
    return kept


def requires_python(tree: Path) -> str | None:
    """The tree's Requires-Python: PKG-INFO's in an unpacked sdist, else pyproject.toml's static one."""
    import email.parser

    from toolkit.config import read_pyproject

    try:
        if (tree / "PKG-INFO").is_file():
            meta = email.parser.BytesParser().parsebytes((tree / "PKG-INFO").read_bytes(), headersonly=True)
            return meta.get("Requires-Python")
        data = read_pyproject(tree)
    except (OSError, ConfigError):  # the build reports an unreadable pyproject.toml; here it only has no range
        return None
    project = data.get("project")
    value = project.get("requires-python") if isinstance(project, dict) else None
    return value if isinstance(value, str) else None


def _one(spec: str, uv: str | None) -> Interpreter:
    path = Path(spec).expanduser()
    executable = str(path) if path.is_file() else _uv_find(spec, uv)
    interp = describe(executable) if executable else None
    if interp is None:
        raise ConfigError(f"--python {spec}: no such interpreter found", hint=_NOT_FOUND_HINT)
    return interp


def _uv_find(spec: str, uv: str | None) -> str | None:
    if uv is None:
        raise ConfigError(f"--python {spec}: finding an interpreter by version needs uv, and no uv binary was found",
                          hint="pip install uv, or pass the interpreter's path")
    cmd = [uv, "python", "find", "--no-project", "--no-python-downloads", spec]
    try:
        out = output(cmd)
    except OSError:
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _all_installed(uv: str | None) -> list[Interpreter]:
    if uv is None:
        raise ConfigError("--python all: listing interpreters needs uv, and no uv binary was found", hint="pip install uv")
    cmd = [uv, "python", "list", "--only-installed", "--no-python-downloads", "--output-format", "json"]
    try:
        out = output(cmd)
        entries = json.loads(out.stdout) if out.returncode == 0 else []
    except (OSError, ValueError):
        entries = []
    # Ask one interpreter per (implementation, version, variant): uv lists each under several names.
    paths: dict[tuple[str, str, str], str] = {}
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("path"):
            paths.setdefault((str(entry.get("implementation")), str(entry.get("version")), str(entry.get("variant"))),
                             str(entry["path"]))
    described = [describe(p) for p in paths.values()]
    found = [i for i in described if i is not None]
    if not found:
        raise ConfigError("--python all: uv found no installed interpreter", hint=_NOT_FOUND_HINT)
    return found

"""What a release publishes, known before anything is built: the project's name and version, from an sdist's
PKG-INFO, a static [project] table, or (a version from git tags, a setup.py) the backend's own metadata hook.
"""

from __future__ import annotations

import email.parser
import tarfile
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from toolkit import _fs
from toolkit.config import BuildOptions, tomllib
from toolkit.errors import ConfigError
from toolkit.reporter import Reporter


@dataclass(frozen=True)
class Identity:
    """A release: one project's name (as written, and normalized) and one version."""

    display: str
    version: Version

    @property
    def name(self) -> NormalizedName:
        return canonicalize_name(self.display)

    def __str__(self) -> str:
        return f"{self.display} {self.version}"

    def owns(self, name: str, version: Version) -> bool:
        """Whether a file of `name` and `version` (from its file name) belongs to this release."""
        return canonicalize_name(name) == self.name and version == self.version


def of_source(src: Path, options: BuildOptions, reporter: Reporter) -> Identity:
    """The name and version `src` (a project folder or an sdist) will be released as."""
    if _fs.stat_or_none(src) is not None and src.is_file():
        return _from_metadata(_sdist_pkg_info(src), f"{src.name}'s PKG-INFO")
    static = _static(src)
    if static is not None:
        return static
    from toolkit.build import backend_metadata

    return _from_metadata(backend_metadata(src, options, reporter=reporter), f"the build backend's metadata for {src}")


def _static(src: Path) -> Identity | None:
    """[project] name and version, when neither is dynamic (PEP 621: then they are what every build gives)."""
    try:
        doc = tomllib.loads(_fs.read_regular(src / "pyproject.toml").decode("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{src / 'pyproject.toml'}: cannot read it: {exc}", hint="fix the TOML syntax") from None
    project = doc.get("project")
    if not isinstance(project, dict) or "version" in (project.get("dynamic") or []):
        return None
    name, version = project.get("name"), project.get("version")
    if not isinstance(name, str) or not isinstance(version, str):
        return None
    return _identity(name, version, f"{src / 'pyproject.toml'} [project]")


def _sdist_pkg_info(sdist: Path) -> Message:
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.count("/") == 1
                       and m.name.endswith("/PKG-INFO")]
            handle = tar.extractfile(members[0]) if members else None
            data = handle.read(1 << 20) if handle is not None else None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ConfigError(f"{sdist.name}: not a readable gzip tar archive ({exc})", hint="rebuild the sdist") from None
    if data is None:
        raise ConfigError(f"{sdist.name}: no PKG-INFO in its top folder", hint="rebuild the sdist with a PEP 517 backend")
    return email.parser.BytesParser().parsebytes(data, headersonly=True)


def _from_metadata(meta: Message, where: str) -> Identity:
    return _identity(str(meta.get("Name") or ""), str(meta.get("Version") or ""), where)


def _identity(name: str, version: str, where: str) -> Identity:
    if not name.strip():
        raise ConfigError(f"{where} gives no project name", hint="set [project] name")
    try:
        return Identity(name.strip(), Version(version))
    except InvalidVersion:
        raise ConfigError(f"{where}: version {version!r} is not a valid version (PEP 440)",
                          hint="fix the version (or the tag it is made from)") from None

"""What every platform module of the repair stage offers and returns: one small interface.

A module says whether it can repair on this host, shows what a wheel's binaries need,
and repairs a wheel into a work folder. The stage (repair/__init__.py) does the rest
the same way for every OS: SBOM, RECORD, checks, import test, atomic move, manifest.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from toolkit.repair.sbom import Vendored

if TYPE_CHECKING:
    from toolkit._proc import Logger
    from toolkit.config import RepairOptions


@dataclass(frozen=True)
class BinaryNeeds:
    member: str
    needs: tuple[str, ...]  # every library it names (DT_NEEDED, LC_LOAD_DYLIB, PE imports)


@dataclass(frozen=True)
class Shown:
    """What `toolkit repair --show` prints for one wheel."""

    wheel: str
    tool: str
    binaries: tuple[BinaryNeeds, ...]
    vendor: tuple[tuple[str, str | None], ...]  # library -> the file it would be copied from (None: not found)
    best_tag: str | None
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"wheel": self.wheel, "tool": self.tool, "best_tag": self.best_tag, "notes": list(self.notes),
                "binaries": [{"member": b.member, "needs": list(b.needs)} for b in self.binaries],
                "vendor": [{"library": lib, "from": src} for lib, src in self.vendor]}


@dataclass(frozen=True)
class Repaired:
    """A repair tool's output in the work folder (before toolkit's SBOM and checks)."""

    wheel: Path
    vendored: tuple[Vendored, ...]
    tool: str  # name and version, e.g. "auditwheel 6.8.2"
    notes: tuple[str, ...] = field(default=())


class PlatformRepair(Protocol):
    """What linux.py, macos.py and windows.py each are (modules, checked against this by type checkers)."""

    TOOL: str

    def unavailable(self) -> str | None:
        """Why this host cannot repair such wheels (one line), or None."""

    def show(self, wheel: Path, options: RepairOptions) -> Shown: ...

    def repair(self, wheel: Path, workdir: Path, options: RepairOptions, logger: Logger) -> Repaired | None:
        """The repaired wheel in `workdir`, or None when the wheel needs nothing (right tag, nothing to vendor)."""


def search_path(options: RepairOptions, variable: str | None) -> list[str]:
    """The folders searched for libraries: -L/--lib-dir first, then the environment's variable (if any)."""
    found = [str(Path(d).resolve()) for d in options.lib_dir]
    if variable:
        found += [p for p in os.environ.get(variable, "").split(os.pathsep) if p]
    return list(dict.fromkeys(found))


@contextlib.contextmanager
def environ_set(name: str, value: str) -> Iterator[None]:
    """`name=value` in os.environ while a tool's library runs (auditwheel looks patchelf up on PATH, delocate reads
    DYLD_LIBRARY_PATH: neither takes it as an argument), then as it was, whatever happens."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@contextlib.contextmanager
def secrets_withheld() -> Iterator[None]:
    """Publish's and attest's credential variables out of os.environ while a repair tool's library runs in this
    process (auditwheel starts patchelf, delocate Apple's tools, with os.environ as it is), then put back."""
    from toolkit._proc import is_secret

    held = {k: v for k, v in os.environ.items() if is_secret(k)}
    for name in held:
        del os.environ[name]
    try:
        yield
    finally:
        os.environ.update(held)


def tool_version(dist: str) -> str:
    from importlib.metadata import version

    return f"{dist} {version(dist)}"


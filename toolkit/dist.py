"""The artifact that flows between stages, and the manifest that lists them.

build writes a manifest (`OUTDIR/.toolkit-manifest.json`, hidden so that
`twine upload dist/*` never picks it up); repair, check and publish read it
instead of globbing the folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from toolkit import _fs
from toolkit.errors import ConfigError

MANIFEST_NAME = ".toolkit-manifest.json"
MANIFEST_VERSION = 1

Kind = Literal["sdist", "wheel"]


@dataclass(frozen=True)
class Dist:
    """One built file: what it is, and the hash that pins it."""

    path: Path
    kind: Kind
    name: NormalizedName
    version: Version
    tags: frozenset[Tag]
    sha256: str
    size: int
    # Where it came from (backend name and version, the stage that made it...).
    origin: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_path(cls, path: Path, origin: dict[str, str] | None = None) -> Dist:
        """Read a dist's identity from its file name and hash its bytes."""
        kind, name, version, tags = parse_dist_filename(path.name)
        sha256, size = _fs.sha256_file(path)
        return cls(path, kind, name, version, tags, sha256, size, dict(origin or {}))

    def to_json(self, relative_to: Path | None = None) -> dict[str, Any]:
        path = self.path
        if relative_to is not None and path.parent == relative_to:
            path = Path(path.name)
        return {
            "path": str(path),
            "kind": self.kind,
            "name": str(self.name),
            "version": str(self.version),
            "tags": sorted(str(t) for t in self.tags),
            "sha256": self.sha256,
            "size": self.size,
            "origin": self.origin,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], base: Path | None = None) -> Dist:
        path = Path(data["path"])
        if base is not None and not path.is_absolute():
            path = base / path
        tags = frozenset(Tag(*t.split("-")) for t in data.get("tags", []))
        return cls(
            path,
            data["kind"],
            canonicalize_name(data["name"]),
            Version(data["version"]),
            tags,
            data["sha256"],
            int(data["size"]),
            dict(data.get("origin", {})),
        )


def parse_dist_filename(filename: str) -> tuple[Kind, NormalizedName, Version, frozenset[Tag]]:
    """Kind, name, version and tags from a dist file name (packaging's parsers)."""
    try:
        if filename.endswith(".whl"):
            name, version, _build, tags = parse_wheel_filename(filename)
            return "wheel", name, version, tags
        name, version = parse_sdist_filename(filename)
        return "sdist", name, version, frozenset()
    except (InvalidWheelFilename, InvalidSdistFilename) as exc:
        raise ConfigError(f"{filename}: not a wheel or sdist file name ({exc})") from None


def write_manifest(outdir: Path, dists: list[Dist], extra: dict[str, Any] | None = None) -> Path:
    """Write (atomically) the manifest of the dists in `outdir`, merged with what it held.

    A manifest that cannot be read (damaged, or from another toolkit version) is replaced.
    """
    try:
        previous = read_manifest(outdir, missing_ok=True)
    except ConfigError:
        previous = []
    known = {d.path.name: d for d in previous}
    known.update({d.path.name: d for d in dists})
    doc = {
        "manifest_version": MANIFEST_VERSION,
        **(extra or {}),
        "dists": [d.to_json(relative_to=outdir) for d in known.values() if d.path.exists()],
    }
    target = outdir / MANIFEST_NAME
    _fs.atomic_write(target, json.dumps(doc, indent=2) + "\n")
    return target


def read_manifest(outdir: Path, *, missing_ok: bool = False) -> list[Dist]:
    """The dists listed in `outdir`'s manifest, in the order they were built."""
    target = outdir / MANIFEST_NAME
    try:
        doc = json.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if missing_ok:
            return []
        raise ConfigError(f"no build manifest in {outdir}", hint="run `toolkit build` first") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"unreadable build manifest {target}: {exc}", hint="run `toolkit build` again") from None
    if not isinstance(doc, dict) or doc.get("manifest_version") != MANIFEST_VERSION:
        raise ConfigError(f"{target} has an unknown manifest_version", hint="run `toolkit build` again")
    try:
        return [Dist.from_json(d, base=outdir) for d in doc.get("dists", [])]
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{target}: damaged build manifest ({exc})", hint="run `toolkit build` again") from None

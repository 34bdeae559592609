"""The artifact that flows between stages, and the manifest that lists them.

build writes a manifest (`OUTDIR/.toolkit-manifest.json`, hidden so that
`twine upload dist/*` never picks it up); every later stage finds its input
there (`stage_inputs`) instead of globbing the folder, and records what it made
from what (`derived_from`), so that the newest file of each lineage goes on.
"""

from __future__ import annotations

import glob
import json
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

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

if TYPE_CHECKING:
    from toolkit.reporter import Reporter

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
    # The file this one was made from (the linux_* wheel a manylinux one was repaired from): a name in
    # the same folder, or a path. Stages take the newest file of each lineage (`current`).
    derived_from: str | None = field(default=None, compare=False)

    @classmethod
    def from_path(cls, path: Path, origin: dict[str, str] | None = None, derived_from: Path | None = None) -> Dist:
        """Read a dist's identity from its file name and hash its bytes."""
        kind, name, version, tags = parse_dist_filename(path.name)
        sha256, size = _fs.sha256_file(path)
        parent = None
        if derived_from is not None:
            parent = derived_from.name if derived_from.parent.resolve() == path.parent.resolve() else str(derived_from)
        return cls(path, kind, name, version, tags, sha256, size, dict(origin or {}), parent)

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
            **({"derived_from": self.derived_from} if self.derived_from else {}),
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
            data.get("derived_from"),
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


def _lock(outdir: Path) -> Any:
    """A lock for one folder's manifest (a file lock: the manifest itself is replaced by rename)."""
    return _fs.path_lock("manifest", outdir)


def record(outdir: Path, dists: Sequence[Dist], extra: Mapping[str, Any] | None = None) -> Path:
    """Add `dists` (and top-level keys) to `outdir`'s manifest, keeping what it held; atomic and locked.

    Entries are keyed by file name (a rebuilt file replaces its entry); entries whose file is gone are
    dropped. Two stages or builds writing one folder at once are serialized by a lock file beside it.
    """
    target = outdir / MANIFEST_NAME
    with _lock(outdir):
        doc = _read_doc(outdir, missing_ok=True, damaged_ok=True)
        known = {d.path.name: d for d in _dists_of(doc, outdir, target, damaged_ok=True)}
        known.update({d.path.name: d for d in dists})
        doc = {**doc, "manifest_version": MANIFEST_VERSION, **(extra or {})}
        doc["dists"] = [d.to_json(relative_to=outdir) for d in known.values() if d.path.exists()]
        _fs.atomic_write(target, json.dumps(doc, indent=2) + "\n")
    return target


def read_manifest(outdir: Path, *, missing_ok: bool = False) -> list[Dist]:
    """Every dist listed in `outdir`'s manifest, in the order they were recorded (superseded ones too)."""
    doc = _read_doc(outdir, missing_ok=missing_ok)
    return _dists_of(doc, outdir, outdir / MANIFEST_NAME)


def read_manifest_doc(outdir: Path) -> dict[str, Any]:
    """The manifest's top-level keys (source_date_epoch...) as well as its dists."""
    return _read_doc(outdir, missing_ok=True)


def current(dists: Sequence[Dist]) -> list[Dist]:
    """The newest file of each lineage: every dist that no other dist was made from."""
    parents = {d.derived_from for d in dists if d.derived_from}
    return [d for d in dists if d.path.name not in parents and str(d.path) not in parents]


def _read_doc(outdir: Path, *, missing_ok: bool, damaged_ok: bool = False) -> dict[str, Any]:
    target = outdir / MANIFEST_NAME
    try:
        doc = json.loads(_fs.read_regular(target).decode("utf-8"))
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise ConfigError(f"no build manifest in {outdir}",
                          hint="run `toolkit build` first, or name the files (`toolkit check dist/*`)") from None
    except (OSError, ValueError) as exc:
        if damaged_ok:
            return {}
        raise ConfigError(f"unreadable build manifest {target}: {exc}", hint="run `toolkit build` again") from None
    if not isinstance(doc, dict) or doc.get("manifest_version") != MANIFEST_VERSION:
        if damaged_ok:
            return {}
        raise ConfigError(f"{target} has an unknown manifest_version", hint="run `toolkit build` again")
    return doc


def _dists_of(doc: Mapping[str, Any], outdir: Path, target: Path, *, damaged_ok: bool = False) -> list[Dist]:
    try:
        return [Dist.from_json(d, base=outdir) for d in doc.get("dists", [])]
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        if damaged_ok:
            return []
        raise ConfigError(f"{target}: damaged build manifest ({exc})", hint="run `toolkit build` again") from None


# -- how a stage finds its input -----------------------------------------------------------------------

DIST_SUFFIXES = (".whl", ".tar.gz", ".zip")
_GLOB_CHARS = frozenset("*?[")


def stage_inputs(paths: Sequence[Path | Dist], outdir: Path,
                 reporter: Reporter | None = None) -> list[Path] | list[Dist]:
    """The files a stage works on: the paths given (files, folders, quoted globs), each once; with no
    paths, the current Dists of `outdir`'s manifest, each verified here against the sha256 it recorded, so
    that the stages use that hash rather than compute it again. (Named files stay paths: check must judge a
    file whose name is no wheel's or sdist's, which a Dist cannot hold.)"""
    if paths:
        return expand_paths(paths)
    dists = current(read_manifest(outdir))
    files: list[Dist] = []
    for d in dists:
        try:
            sha256, _ = _fs.sha256_file(d.path)
        except FileNotFoundError:
            raise ConfigError(f"{d.path}: listed in the build manifest, but the file is gone",
                              hint="run `toolkit build` again, or name the files to use") from None
        except OSError as exc:
            raise ConfigError(f"{d.path}: cannot be read ({exc.strerror})", hint="check the file's permissions") from None
        if sha256 != d.sha256:
            raise ConfigError(f"{d.path}: changed since the build manifest recorded it "
                              f"(sha256 {d.sha256[:12]}... then, {sha256[:12]}... now)",
                              hint="run `toolkit build` again, or name the files to use")
        files.append(d)
    listed = {d.path.name for d in read_manifest(outdir)}
    for stray in sorted(_listdir(outdir)):
        if stray.endswith(DIST_SUFFIXES) and stray not in listed and (outdir / stray).is_file():
            msg = f"{outdir / stray} is not in the build manifest: left out (name it to include it)"
            if reporter is not None:
                reporter.warn(msg)
    if not files:
        raise ConfigError(f"the build manifest in {outdir} lists no files", hint="run `toolkit build` first")
    return files


def expand_inputs(items: Sequence[Path | Dist]) -> list[Path | Dist]:
    """`expand_paths`, but a Dist stays a Dist (its hash known)."""
    dists = {d.path.resolve(): d for d in items if isinstance(d, Dist)}
    return [dists.get(p.resolve(), p) for p in expand_paths(items)]


def expand_paths(paths: Sequence[Path | Dist]) -> list[Path]:
    """Files named, the visible files of folders named, and the matches of quoted globs; each file once."""
    files: list[Path] = []
    for item in paths:
        path = item.path if isinstance(item, Dist) else item
        text = str(path)
        info = _fs.stat_or_none(path)
        if info is None and _GLOB_CHARS & set(text):
            # A quoted glob ('dist/*'), as twine expands it for the user.
            matches = sorted(glob.glob(text))
            if not matches:
                raise ConfigError(f"{text}: no file matches", hint="name wheels, sdists, or a folder such as dist/")
            files.extend(expand_paths([Path(m) for m in matches]))
        elif info is not None and stat.S_ISDIR(info.st_mode):
            files.extend(path / n for n in sorted(_listdir(path)) if not n.startswith(".") and _is_file(path / n))
        elif info is not None and stat.S_ISREG(info.st_mode):
            files.append(path)
        elif info is not None:
            raise ConfigError(f"{path}: not a file or a folder", hint="name wheels, sdists, or a folder such as dist/")
        else:
            raise ConfigError(f"{path}: no such file or folder", hint="name wheels, sdists, or a folder such as dist/")
    seen: set[Path] = set()
    unique = []
    for f in files:  # `dist/*.whl dist/` names a file twice: once it is
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def _is_file(path: Path) -> bool:
    info = _fs.stat_or_none(path)
    return info is not None and stat.S_ISREG(info.st_mode)


def _listdir(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []
    except PermissionError:
        raise ConfigError(f"{folder}: cannot be listed (permission denied)", hint="check the folder's permissions") from None
    except NotADirectoryError:
        return []

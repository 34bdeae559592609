"""Getting one file ready to upload: hashed once, checked (unless --no-check), its form built, its
attestation read. Runs in a worker (thread or process) while the previous file is on the wire.
"""

from __future__ import annotations

import json
import os
import tarfile
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from toolkit import _fs, targz
from toolkit.gate import Refusal, UploadGate
from toolkit.uploadform import Form, file_form, metadata_form, upload_form


@dataclass(frozen=True)
class Prepared:
    """A file ready to go (problem None), or the reason it may not."""

    path: Path
    sha256: str = ""
    size: int = 0
    mtime_ns: int = 0
    project: str = ""
    form: tuple[tuple[str, str], ...] = ()
    problem: str | None = None


def prepare(path: Path, gate: UploadGate | None, attestations: bool,
            known: tuple[str, int] | None = None) -> Prepared:
    """Hash, check and read one file; every expected failure is a `problem`, never an exception.

    `known` is the (sha256, size) a Dist of an earlier stage pinned, just verified against the file by
    `stage_inputs`: it is used, not computed again, while the file still has that size.
    """
    try:
        path.name.encode("utf-8")
    except UnicodeEncodeError:
        return Prepared(path, problem="its name is not UTF-8 text (an index takes UTF-8 file names only): rename it")
    if file_form(path.name) is None:
        return Prepared(path, problem="not a wheel (.whl) or an sdist (.tar.gz, .zip)")
    try:
        info = os.stat(path)
        sha256, size = known if known and known[1] == info.st_size else _fs.sha256_file(path)
    except OSError as exc:
        return Prepared(path, problem=f"cannot read the file ({exc.strerror or exc})")
    metadata: bytes | None = None
    if gate is not None:
        # The check walks an sdist's whole tar: it hands back the PKG-INFO this module would pick, which read_metadata
        # would find only by walking the tar again (a wheel's METADATA is one zip read: read here).
        verdict = gate(path, sha256=sha256, metadata=_pkg_info if path.name.endswith(".tar.gz") else None)
        if verdict.refusal is not None:
            return Prepared(path, sha256, size, problem=_refused(path, verdict.refusal))
        metadata = verdict.metadata
    if metadata is None:
        metadata, unread = read_metadata(path)
        if metadata is None:
            return Prepared(path, sha256, size, problem=unread)
    fields = metadata_form(metadata)
    project = next((v for k, v in fields if k == "name"), "")
    attestation = None
    if attestations:
        attestation, refused = read_attestation(path, sha256)
        if refused:
            return Prepared(path, sha256, size, problem=refused)
    form: Form = upload_form(fields, path.name, sha256, attestations=attestation)
    return Prepared(path, sha256, size, info.st_mtime_ns, project, tuple(form))


def read_metadata(path: Path) -> tuple[bytes | None, str]:
    """(METADATA or PKG-INFO, "") or (None, why not): the member the check stage reads, found without its
    full archive walk (which the checks do, and --no-check skips): a wheel's NAME-VERSION.dist-info/METADATA
    as its file name spells them; an sdist's PKG-INFO in its top folder."""
    try:
        if path.name.endswith(".whl"):
            name, version = path.name.split("-", 2)[:2]
            member = f"{name}-{version}.dist-info/METADATA"
            with zipfile.ZipFile(path) as zf:
                return _bounded(zf.open(member)), ""
        if path.name.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                member = next(n for n in zf.namelist() if _is_pkg_info(n))
                return _bounded(zf.open(member)), ""
        with open(path, "rb") as file, targz.open_stream(targz.FileSlices(file)) as (tar, _):
            for info in tar:
                if _is_pkg_info(info.name) and info.isfile() and (f := tar.extractfile(info)) is not None:
                    return _bounded(f), ""
    except (KeyError, StopIteration):
        pass
    except ValueError as exc:
        return None, str(exc)
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError, zlib.error) as exc:
        return None, f"cannot read the archive ({getattr(exc, 'strerror', None) or exc})"
    return None, "no METADATA (wheel) or PKG-INFO (sdist) where installers look for it"


def _is_pkg_info(name: str) -> bool:
    parts = name.lstrip("./").split("/")
    return len(parts) == 2 and parts[1] == "PKG-INFO"


def _bounded(f: IO[bytes], limit: int = 16 << 20) -> bytes:
    data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError("the metadata file is larger than 16 MiB")
    return data


def _pkg_info(names: Sequence[str]) -> str | None:
    """Of an sdist's regular files in archive order, the PKG-INFO read_metadata takes: the first in a top folder."""
    return next((name for name in names if _is_pkg_info(name)), None)


def _refused(path: Path, refused: Refusal) -> str:
    """Why `toolkit check` refuses the file: its first error and how many more."""
    more = f" (and {refused.more} more error(s): run `toolkit check {path.name}`)" if refused.more else ""
    return f"refused by toolkit check: {refused.code} {refused.message}{more}"


def read_attestation(path: Path, sha256: str) -> tuple[str | None, str | None]:
    """(the `attestations` form value, None) for FILE.publish.attestation, or (None, why it cannot go).

    The attestation must be for this very file: its one subject names the file and carries its sha256
    (toolkit.attestation.attestation_for, which verify uses too).
    """
    from toolkit.attestation import Mismatch, attestation_for, attestation_path

    source = attestation_path(path)
    if not source.exists():
        return None, f"no attestation: {source.name} is missing (sign the file first, or publish without --attestations)"
    try:
        attestation = attestation_for(path, sha256)
    except Mismatch as exc:
        text = str(exc).replace(str(source), source.name)
        return None, text if text.startswith(source.name) else f"{source.name}: {text}"
    return json.dumps([attestation.model_dump(mode="json")]), None

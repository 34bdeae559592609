"""Getting one file ready to upload: hashed once, checked (unless --no-check), its form built, its
attestation read. Runs in a worker (thread or process) while the previous file is on the wire.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from toolkit import _fs
from toolkit.config import CheckOptions
from toolkit.publish.form import Form, file_form, metadata_form, upload_form

ATTESTATION_SUFFIX = ".publish.attestation"


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


def prepare(path: Path, check_options: CheckOptions | None, attestations: bool) -> Prepared:
    """Hash, check and read one file; every expected failure is a `problem`, never an exception."""
    if file_form(path.name) is None:
        return Prepared(path, problem="not a wheel (.whl) or an sdist (.tar.gz, .zip)")
    try:
        info = os.stat(path)
        sha256, size = _fs.sha256_file(path)
    except OSError as exc:
        return Prepared(path, problem=f"cannot read the file ({exc.strerror or exc})")
    if check_options is not None and (refusal := _check(path, check_options)):
        return Prepared(path, sha256, size, problem=refusal)
    from toolkit.check.view import DistView

    view = DistView(path)
    try:
        metadata = view.metadata_bytes
    except OSError as exc:
        return Prepared(path, sha256, size, problem=f"cannot read the file ({exc.strerror or exc})")
    finally:
        if "archive" in vars(view):  # opened (cached) by metadata_bytes
            view.archive.close()
    if metadata is None:
        return Prepared(path, sha256, size, problem=f"no readable {view.metadata_member or 'METADATA or PKG-INFO'}")
    fields = metadata_form(metadata)
    project = next((v for k, v in fields if k == "name"), "")
    attestation = None
    if attestations:
        attestation, problem = read_attestation(path, sha256)
        if problem:
            return Prepared(path, sha256, size, problem=problem)
    form: Form = upload_form(fields, path.name, sha256, attestations=attestation)
    return Prepared(path, sha256, size, info.st_mtime_ns, project, tuple(form))


def _check(path: Path, options: CheckOptions) -> str | None:
    """Why `toolkit check` refuses the file (its first error and how many more), or None."""
    from toolkit.check import check_file

    report = check_file(path, options.ignore, options.strict)
    errors = report.errors
    if not errors:
        return None
    more = f" (and {len(errors) - 1} more error(s): run `toolkit check {path.name}`)" if len(errors) > 1 else ""
    return f"refused by toolkit check: {errors[0].code} {errors[0].message}{more}"


def read_attestation(path: Path, sha256: str) -> tuple[str | None, str | None]:
    """(the `attestations` form value, None) for FILE.publish.attestation, or (None, why it cannot go).

    The attestation must be for this very file: its one subject names the file and carries its sha256.
    """
    from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename
    from pydantic import ValidationError
    from pypi_attestations import Attestation

    source = path.with_name(path.name + ATTESTATION_SUFFIX)
    try:
        attestation = Attestation.model_validate_json(_fs.read_regular(source, max_bytes=4 << 20))
        statement = attestation.statement
    except FileNotFoundError:
        return None, f"no attestation: {source.name} is missing (sign the file first, or publish without --attestations)"
    except OSError as exc:
        return None, f"cannot read {source.name} ({exc.strerror or exc})"
    except (ValidationError, ValueError):
        return None, f"{source.name} is not a PEP 740 attestation"
    subjects = statement.get("subject") if isinstance(statement, dict) else None
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        return None, f"{source.name}: the attestation must have exactly one subject"
    name = str(subjects[0].get("name", ""))
    digest = str((subjects[0].get("digest") or {}).get("sha256", ""))
    parse = parse_wheel_filename if path.name.endswith(".whl") else parse_sdist_filename
    try:
        same_name = name == path.name or parse(name) == parse(path.name)  # type: ignore[operator]
    except (InvalidWheelFilename, InvalidSdistFilename):
        same_name = False
    if not same_name:
        return None, f"{source.name} was made for another file ({name})"
    if digest != sha256:
        return None, f"{source.name} was made for other bytes (its sha256 {digest or 'missing'}, the file's {sha256})"
    return json.dumps([attestation.model_dump(mode="json")]), None

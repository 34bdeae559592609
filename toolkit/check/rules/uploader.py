"""Check rules: what the uploader (twine 7) refuses before PyPI sees anything. twine builds the upload
form from the one member it finds (sent.py); it refuses unknown or badly encoded headers and any field
packaging's validation refuses, including those PyPI would drop or ignore (UNKNOWN values, Import-Name).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from packaging.metadata import RawMetadata
from packaging.version import InvalidVersion, Version

from toolkit.check.rules import Problem, rule
from toolkit.check.rules.metadata import form_errors
from toolkit.uploadform import refusals, twine_invalid

if TYPE_CHECKING:
    from toolkit.check.view import DistView


def _file_metadata(dist: DistView) -> tuple[RawMetadata, dict[str, list[str]]] | None:
    """The file's own headers as packaging parses them (shared with the other rules; read only)."""
    return dist.raw_metadata


@rule("M101", refused_by="twine", summary="twine accepts every metadata header",
      hint="core metadata has no such field: remove it (PyPI ignores unknown fields; twine refuses the file)")
def twine_refused_headers(dist: DistView) -> Iterator[Problem]:
    parsed = _file_metadata(dist)
    for refusal in refusals(*parsed) if parsed else ():
        if refusal.kind == "duplicate":
            continue  # M001 reports it, with PyPI's own verdict
        hint = None if refusal.kind == "unknown" else "the value is not valid UTF-8: write METADATA in UTF-8"
        message = f"twine refuses to upload this file: Invalid distribution metadata: {refusal.message}"
        yield (message, hint) if hint else message


@rule("M102", level="warning", summary="License-File is declared under Metadata-Version 2.4 or later",
      hint="build with a backend that writes Metadata-Version 2.4 (e.g. setuptools >= 77) or drop License-File")
def license_file_too_early(dist: DistView) -> Iterator[Problem]:
    raw = (_file_metadata(dist) or ({}, {}))[0]
    if raw.get("license_files"):
        mv = raw.get("metadata_version")
        try:
            early = Version(mv or "0") < Version("2.4")
        except InvalidVersion:
            return
        if early:
            yield (f"License-File under Metadata-Version {mv}: twine drops it; a client that sends it is refused "
                   f"by PyPI (license-file introduced in metadata version 2.4, not {mv})")


@rule("M103", refused_by="twine", summary="the metadata passes twine's validation (packaging's Metadata.from_raw)",
      hint="twine validates every field before it uploads, also those PyPI ignores or drops (Import-Name, "
           "UNKNOWN values): fix the field, or leave it out")
def twine_invalid_fields(dist: DistView) -> Iterator[Problem]:
    parsed, form = _file_metadata(dist), dist.form
    if parsed is None or form is None:
        return
    pypi_fields = {e.field for e in form_errors(form)}  # PyPI's own verdict on these is reported already
    for field, message in twine_invalid(parsed[0]):
        if field not in pypi_fields:
            yield f"twine refuses to upload this file: Invalid distribution metadata: {message}"


@rule("M104", refused_by="twine", summary="the uploader finds METADATA/PKG-INFO and can read it", needs_archive=False,
      hint="twine reads {name}-{version}.dist-info/METADATA from a wheel, {name}-{version}/PKG-INFO (a regular "
           "file) from an sdist: rebuild the file with its build backend")
def metadata_readable(dist: DistView) -> Iterator[Problem]:
    if dist.kind is None:
        return
    sent = dist.sent
    if sent.refusal is not None:
        judged = (f"the metadata checks judged {sent.judged} instead" if sent.judged and dist.metadata_bytes
                  else "the metadata checks (M, D) could not run")
        yield f"twine refuses to upload this file: {sent.refusal}; {judged}"
    elif dist.metadata_bytes is None:
        yield f"{sent.judged} cannot be read: the metadata checks (M, D) could not run"

"""The metadata fields of the upload form: built from METADATA/PKG-INFO the way twine 7 builds
them, and read back the way PyPI's upload view reads them. Pure: bytes and strings in, fields out.
PyPI validates this form, never the file, so `toolkit check` judges exactly what `toolkit publish` sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

# PyPI's own form reader (warehouse/forklift/metadata.py) imports these private helpers of packaging;
# we do the same so the field kinds stay in step with the packaging that parses them.
from packaging.metadata import (
    _EMAIL_TO_RAW_MAPPING,
    _LIST_FIELDS,
    _STRING_FIELDS,
    ExceptionGroup,
    InvalidMetadata,
    Metadata,
    RawMetadata,
    _parse_keywords,
    _parse_project_urls,
    parse_email,
)
from packaging.version import InvalidVersion, Version

Form = list[tuple[str, str]]

# RawMetadata key -> form key, in the order twine's PackageMetadata lists them. Three keys are
# renamed; Import-Name and Import-Namespace are absent: twine 7 does not send them.
_RAW_TO_FORM = {
    "metadata_version": "metadata_version", "name": "name", "version": "version",
    "platforms": "platform", "summary": "summary", "description": "description", "keywords": "keywords",
    "home_page": "home_page", "author": "author", "author_email": "author_email", "license": "license",
    "supported_platforms": "supported_platform", "download_url": "download_url", "classifiers": "classifiers",
    "requires": "requires", "provides": "provides", "obsoletes": "obsoletes", "maintainer": "maintainer",
    "maintainer_email": "maintainer_email", "requires_dist": "requires_dist", "provides_dist": "provides_dist",
    "obsoletes_dist": "obsoletes_dist", "requires_python": "requires_python",
    "requires_external": "requires_external", "project_urls": "project_urls",
    "description_content_type": "description_content_type", "provides_extra": "provides_extra",
    "dynamic": "dynamic", "license_expression": "license_expression", "license_files": "license_file",
}
_IMPORT_TO_FORM = {"import_names": "import_name", "import_namespaces": "import_namespace"}
# What PyPI reads back: every RawMetadata key, under its form name (warehouse's _FORM_TO_RAW_MAPPING).
_FORM_TO_RAW = {form: raw for raw, form in {**_RAW_TO_FORM, **_IMPORT_TO_FORM}.items()}


def safe_name(name: str) -> str:
    """The project name as twine sends it (pkg_resources.safe_name): runs of other characters become '-'."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", name)


def metadata_form(data: bytes, *, import_names: bool = False) -> Form:
    """The metadata fields of the upload form for this METADATA/PKG-INFO, as PyPI receives them.

    Mirrors twine 7 (`PackageFile.metadata_dictionary` + `_convert_metadata_to_list_of_tuples`), then
    PyPI's sanitising (R005). Headers twine refuses (see `twine_refusals`) are still sent here the way
    a client that does not refuse them sends them: a repeated single-use header is repeated, so PyPI's
    own verdict on it ('summary' has invalid data) can be reported. `import_names=True` also sends
    Import-Name/Import-Namespace, which twine 7 leaves out.
    """
    parsed, unparsed = parse_email(data)
    if _drops_license_files(parsed):
        parsed.pop("license_files", None)
        unparsed.pop("license-file", None)
    raw: dict[str, Any] = dict(parsed)
    mapping = {**_RAW_TO_FORM, **(_IMPORT_TO_FORM if import_names else {})}
    fields: Form = []
    for key, form_key in mapping.items():
        value: Any = raw.get(key)
        if value is None:
            continue
        if key == "name":
            value = safe_name(str(value))
        if key == "keywords":
            fields.append((form_key, ", ".join(value)))
        elif key == "project_urls":
            fields.extend((form_key, f"{label}, {url}") for label, url in value.items())
        elif isinstance(value, list):
            fields.extend((form_key, item) for item in value)
        else:
            fields.append((form_key, str(value)))
    fields.extend(_unparsed_fields(unparsed, mapping))
    return sanitize(fields)


def _unparsed_fields(unparsed: dict[str, list[str]], mapping: dict[str, str]) -> Form:
    """Known headers packaging could not take in (repeated, badly encoded): sent value by value."""
    fields: Form = []
    for header, values in unparsed.items():
        form_key = mapping.get(_EMAIL_TO_RAW_MAPPING.get(header, ""))
        if form_key is None:
            continue  # unknown header: not a form field (twine refuses the file, PyPI would ignore it)
        for value in values:
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            if form_key == "name":
                text = safe_name(text)
            elif form_key == "project_urls":
                label, _, url = (part.strip() for part in text.partition(","))
                text = f"{label}, {url}"
            fields.append((form_key, text))
    return fields


def _drops_license_files(raw: RawMetadata) -> bool:
    """twine drops License-File below Metadata-Version 2.4 (setuptools wrote it under 2.1)."""
    try:
        return Version(raw.get("metadata_version", "0")) < Version("2.4")
    except InvalidVersion:
        return False  # twine itself crashes on such a Metadata-Version; M002 reports it


def sanitize(form: Form) -> Form:
    """PyPI's first step on every upload (forklift `sanitize`, R005), on webob's MultiDict semantics.

    For each key, the *last* value decides: if it strips to "UNKNOWN" every value of the key is
    deleted; if it holds a NUL, the key is set to that one value with NUL written as the text "\\x00".
    """
    items = list(form)
    for key in [k for k, _ in form]:
        values = [v for k, v in items if k == key]
        if not values:
            continue
        last = values[-1]
        if last.strip() == "UNKNOWN":
            items = [(k, v) for k, v in items if k != key]
        if "\x00" in last:
            items = [(k, v) for k, v in items if k != key] + [(key, last.replace("\x00", "\\x00"))]
    return items


def read_form(form: Form) -> tuple[RawMetadata, dict[str, list[str]]]:
    """PyPI's reading of the form into packaging's RawMetadata (warehouse `parse_form_metadata`).

    Returns (raw, unparsed): unparsed maps a form key to its values when the key was sent in a shape
    PyPI refuses (a single-use field twice, keywords twice, two Project-URLs with one label).
    Unknown keys are ignored; a key sent once with an empty value counts as absent.
    """
    grouped: dict[str, list[str]] = {}
    for key, value in form:
        grouped.setdefault(key, []).append(value)
    raw: dict[str, object] = {}
    unparsed: dict[str, list[str]] = {}
    for key, values in grouped.items():
        raw_key = _FORM_TO_RAW.get(key)
        if raw_key is None or values == [""]:
            continue
        if raw_key in _STRING_FIELDS and len(values) == 1:
            raw[raw_key] = values[0]
        elif raw_key in _LIST_FIELDS:
            raw[raw_key] = values
        elif raw_key == "keywords" and len(values) == 1:
            raw[raw_key] = _parse_keywords(values[0])
        elif raw_key == "project_urls":
            try:
                raw[raw_key] = _parse_project_urls(values)
            except KeyError:
                unparsed[key] = values
        else:
            unparsed[key] = values
    return raw, unparsed  # type: ignore[return-value]


@dataclass(frozen=True)
class Refusal:
    """A header twine 7 refuses before uploading ("Invalid distribution metadata: ...")."""

    header: str
    kind: Literal["unknown", "malformed", "duplicate"]
    message: str


def twine_refusals(data: bytes) -> list[Refusal]:
    """Headers that make twine 7 refuse the file client-side: unknown, badly encoded, or repeated."""
    return refusals(*parse_email(data))


def refusals(raw: RawMetadata, unparsed: dict[str, list[str]]) -> list[Refusal]:
    """twine_refusals on an already parsed file (packaging's parse_email result; not modified)."""
    drop = {"license-file"} if _drops_license_files(raw) else set()
    found = []
    for header, values in sorted(unparsed.items()):
        if header in drop:
            continue
        raw_key = _EMAIL_TO_RAW_MAPPING.get(header)
        if raw_key is None:
            kind: Literal["unknown", "malformed", "duplicate"] = "unknown"
        elif len(values) > 1 or raw_key == "project_urls":
            kind = "duplicate"
        else:
            kind = "malformed"
        found.append(Refusal(header, kind, f"unrecognized or malformed field {header!r}"))
    return found


def twine_invalid(raw: RawMetadata) -> list[tuple[str, str]]:
    """(field, message) for each field twine 7 refuses when it validates the parsed metadata before
    building the upload (`Metadata.from_raw`, with the packaging installed here), after it dropped
    License-File below Metadata-Version 2.4. A Metadata-Version that is not a version makes twine fail
    before that check."""
    fields = dict(raw)
    mv = raw.get("metadata_version", "0")
    try:
        Version(mv)
    except InvalidVersion:
        return [("metadata-version", f"{mv!r} is not a valid metadata version")]
    if _drops_license_files(raw):
        fields.pop("license_files", None)
    try:
        Metadata.from_raw(fields)  # type: ignore[arg-type]
    except ExceptionGroup as group:
        return [(e.field, str(e)) if isinstance(e, InvalidMetadata) else ("", str(e)) for e in group.exceptions]
    return []


def file_form(filename: str) -> tuple[str, str] | None:
    """(filetype, pyversion) as twine sends them; None for a file twine will not upload.

    twine matches the extensions case-sensitively; a wheel's pyversion is its python tag ("any"
    when the name does not parse).
    """
    if filename.endswith(".whl"):
        match = _WHEEL_RE.match(filename)
        return "bdist_wheel", match.group("pyver") if match else "any"
    if filename.endswith((".tar.gz", ".zip")):
        return "sdist", "source"
    return None


# twine's wheel_file_re (twine/wheel.py): used only to pick the python tag out of the name.
_WHEEL_RE = re.compile(
    r"^(?P<namever>(?P<name>.+?)(-(?P<ver>\d.+?))?)((-(?P<build>\d.*?))?-(?P<pyver>.+?)-(?P<abi>.+?)-(?P<plat>.+?)"
    r"\.whl|\.dist-info)$"
)


def upload_form(metadata: Form, filename: str, sha256: str, *, attestations: str | None = None) -> Form:
    """The whole upload form but the file: the action, the metadata fields, the file's kind and digest.

    `attestations` is the JSON list of PEP 740 attestations PyPI reads from the `attestations` field.
    Only the sha256 digest is sent: PyPI needs one digest and checks every one it is given.
    """
    filetype, pyversion = file_form(filename) or ("sdist", "source")
    form: Form = [(":action", "file_upload"), ("protocol_version", "1"), *metadata,
                  ("filetype", filetype), ("pyversion", pyversion), ("sha256_digest", sha256)]
    if attestations is not None:
        form.append(("attestations", attestations))
    return form

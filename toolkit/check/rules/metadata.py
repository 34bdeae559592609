"""Check rules M: the core metadata PyPI validates on upload, judged on the upload form that
`toolkit publish` (like twine 7) builds from METADATA/PKG-INFO, with PyPI's own reply texts;
what twine itself refuses before sending is in uploader.py (M101-M104).

Longer than our usual modules: the 21 PyPI rules share one verdict (form_errors, computed once per
file), and it must repeat the parts of packaging 26.2 (pinned by PyPI) that newer packaging changed.
"""

from __future__ import annotations

import email.message
import email.utils
import functools
import inspect
import pathlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packaging.metadata import _EMAIL_TO_RAW_MAPPING, ExceptionGroup, InvalidMetadata, Metadata, RawMetadata
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from toolkit.check.rules import Problem, rule
from toolkit.uploadform import Form, read_form

if TYPE_CHECKING:
    from toolkit.check.view import DistView

SEE_CORE_METADATA = "See https://packaging.python.org/specifications/core-metadata for more information."
SEE_LOCAL_VERSIONS = ("See https://packaging.python.org/en/latest/specifications/version-specifiers/"
                      "#local-version-identifiers for more information.")
# warehouse SUPPORTED_METADATA_VERSIONS. packaging 26.3+ also takes 2.6; PyPI (packaging 26.2) does not.
SUPPORTED_METADATA_VERSIONS = ("1.0", "1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "2.5")
# warehouse DYNAMIC_FIELDS, lowercased: every core field but Name, Version, Metadata-Version and Dynamic.
DYNAMIC_FIELDS = frozenset((
    "platform supported-platform summary description description-content-type keywords home-page download-url "
    "author author-email maintainer maintainer-email license license-expression license-file classifier "
    "requires-dist requires-python requires-external project-url provides-extra provides-dist obsoletes-dist "
    "requires provides obsoletes import-name import-namespace").split())
_CONTENT_TYPES = ["text/plain", "text/x-rst", "text/markdown"]  # packaging prints a set: its order varies
_MARKDOWN_VARIANTS = ["GFM", "CommonMark"]
_CODES = {
    "metadata-version": "M002", "name": "M004", "version": "M005", "summary": "M007",
    "description-content-type": "M008", "requires-dist": "M009", "provides-dist": "M010", "obsoletes-dist": "M010",
    "requires-python": "M011", "provides-extra": "M012", "dynamic": "M013", "license-expression": "M014",
    "license": "M015", "license-file": "M016", "classifier": "M017", "author-email": "M018",
    "maintainer-email": "M018", "home-page": "M019", "download-url": "M019", "project-url": "M020",
    "import-name": "M021", "import-namespace": "M021",
}
# Fields where the installed packaging (26.3+) judges differently from PyPI's pinned 26.2: for these
# toolkit applies 26.2's rules itself instead of trusting Metadata.from_raw (see _packaging_262).
_OVERRIDDEN = frozenset({"metadata-version", "summary", "description-content-type", "license-expression",
                         "license-file"})


@dataclass(frozen=True)
class FormError:
    """One reason PyPI refuses the form. PyPI stops at the first stage that fails (1: the form's
    shape, 2: packaging's validation, 3: warehouse's own rules) and replies with one message."""

    code: str
    field: str
    stage: int  # 0: the upload form's own field checks (F001, the name), before any metadata rule
    message: str
    crash: bool = False  # PyPI fails with HTTP 500 instead of replying


def form_errors(form: Form) -> list[FormError]:
    """Every reason PyPI refuses these metadata fields, each found independently."""
    return list(_form_errors(tuple(form)))


@functools.lru_cache(maxsize=32)
def _form_errors(form: tuple[tuple[str, str], ...]) -> tuple[FormError, ...]:
    raw, unparsed = read_form(list(form))
    errors = [FormError("M001", key, 1, _reply(f"{key!r} has invalid data")) for key in unparsed]
    errors += _packaging_errors(raw) + _packaging_262(raw) + _warehouse_errors(raw)
    name = _name_form_error(raw.get("name"))
    if name is not None:  # PyPI answers with the form's own message; packaging's would say the same again
        errors = [name] + [e for e in errors if e.field != "name"]
    return tuple(errors)


# warehouse's UploadForm `name` validator (F001), checked before any metadata rule.
_NAME_RE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])\Z", re.IGNORECASE)
_NAME_RULE = "Start and end with a letter or numeral containing only ASCII numeric and '.', '_' and '-'."


def _name_form_error(name: str | None) -> FormError | None:
    """PyPI's reply for a missing or invalid name: the form's wording, with the value cut to 30+30
    characters when it is longer than 60."""
    value = name or ""
    if value and _NAME_RE.match(value):
        return None
    shown = value[:30] + "..." + value[-30:] if len(value) > 60 else value
    error = _NAME_RULE if value else "This field is required."
    return FormError("M004", "name", 0, f"{shown!r} is an invalid value for Name. Error: {error} {SEE_CORE_METADATA}")


def upload_error(form: Form) -> str | None:
    """The one message PyPI replies for these fields (None: the metadata passes)."""
    errors = form_errors(form)
    for stage in (0, 1, 2, 3):
        found = [e for e in errors if e.stage == stage]
        if not found:
            continue
        crashes = [e for e in found if e.crash]
        if crashes:
            return crashes[0].message
        fields = {e.field: e for e in reversed(found)}  # keeps the first error of each field
        first = next((f for f in ("metadata-version", "name", "version") if f in fields), min(fields))
        return fields[first].message
    return None


def _reply(error: str) -> str:
    """PyPI's reply for a metadata error: the error, a full stop, and the pointer to the spec."""
    return f"{error}{'' if error.endswith('.') else '.'} {SEE_CORE_METADATA}"


def _from_packaging(code: str, field: str, text: str, formatted: bool = True) -> FormError:
    # packaging 26.2 passes each message through str.format_map({"field": ...}) after the value is
    # already in it, so braces in a value make PyPI fail with HTTP 500 (KeyError/ValueError).
    if formatted:
        try:
            text = text.format_map({"field": repr(field)})
        except (KeyError, ValueError, IndexError, AttributeError, TypeError) as exc:
            return FormError(code, field, 2, f"HTTP 500 Internal Server Error: PyPI's packaging 26.2 crashes "
                             f"({type(exc).__name__}) while reporting this {field} value: {text}", crash=True)
    return FormError(code, field, 2, _reply(text))


def _packaging_errors(raw: RawMetadata) -> list[FormError]:
    """packaging's own verdict (Metadata.from_raw), except on the fields where 26.2 differs."""
    known = {k: v for k, v in raw.items() if k in vars(Metadata)}
    try:
        Metadata.from_raw(known, validate=True)  # type: ignore[arg-type]
        return []
    except ExceptionGroup as group:  # packaging's (a backport before Python 3.11)
        problems = [e for e in group.exceptions if isinstance(e, InvalidMetadata)]
    errors = []
    for exc in problems:
        aged = " introduced in metadata version " in str(exc)
        if exc.field in _OVERRIDDEN and not aged:
            continue
        code = "M003" if aged else _CODES.get(exc.field, "M001")
        errors.append(_from_packaging(code, exc.field, str(exc), formatted=not aged))
    return errors


def _packaging_262(raw: RawMetadata) -> list[FormError]:
    """packaging 26.2's rules for the fields where newer packaging judges differently."""
    checks = [
        ("metadata-version", raw.get("metadata_version"), _metadata_version_262(raw.get("metadata_version"))),
        ("summary", raw.get("summary"), "{field} must be a single line" if "\n" in raw.get("summary", "") else None),
        ("description-content-type", raw.get("description_content_type"),
         _content_type_262(raw.get("description_content_type"))),
        ("license-expression", raw.get("license_expression"), _license_expression_262(raw.get("license_expression"))),
        ("license-file", raw.get("license_files"), _license_files_262(raw.get("license_files") or [])),
    ]
    errors = []
    for field, value, template in checks:
        if template == "crash":
            errors.append(FormError(_CODES[field], field, 2, "HTTP 500 Internal Server Error: PyPI's packaging 26.2 "
                                    f"crashes on this {field} value ({value!r})", crash=True))
        elif template:
            errors.append(_from_packaging(_CODES[field], field, template))
    return errors


def _metadata_version_262(value: str | None) -> str | None:
    return None if value in SUPPORTED_METADATA_VERSIONS else f"{value!r} is not a valid metadata version"


def _content_type_262(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        message = email.message.EmailMessage()
        message["content-type"] = value
        content_type, params = message.get_content_type().lower(), message["content-type"].params
    except (IndexError, ValueError, TypeError, AttributeError):  # 26.2 does not catch them: HTTP 500
        return "crash"
    if content_type not in _CONTENT_TYPES or content_type not in value.lower():
        return f"{{field}} must be one of {_CONTENT_TYPES}, not {value!r}"
    charset = params.get("charset", "UTF-8")
    if charset != "UTF-8":  # 26.2 compares case-sensitively: charset=utf-8 is refused (26.3 fixed it)
        return f"{{field}} can only specify the UTF-8 charset, not {charset!r}"
    variant = params.get("variant", "GFM")
    if content_type == "text/markdown" and variant not in _MARKDOWN_VARIANTS:
        return f"valid Markdown variants for {{field}} are {_MARKDOWN_VARIANTS}, not {variant!r}"
    return None


def _license_files_262(paths: list[str]) -> str | None:
    # 26.2 has no drive check: "C:LICENSE" (drive-relative) passes, 26.3 refuses it.
    for path in paths:
        if ".." in path:
            return f"{path!r} is invalid for {{field}}, parent directory indicators are not allowed"
        if "*" in path:
            return f"{path!r} is invalid for {{field}}, paths must be resolved"
        if pathlib.PurePosixPath(path).is_absolute() or pathlib.PureWindowsPath(path).is_absolute():
            return f"{path!r} is invalid for {{field}}, paths must be relative"
        if pathlib.PureWindowsPath(path).as_posix() != path:
            return f"{path!r} is invalid for {{field}}, paths must use '/' delimiter"
    return None


_SPDX_OPERATORS = frozenset({"and", "or", "with", "(", ")"})


def _license_expression_262(value: str | None) -> str | None:
    """packaging 26.2's canonicalize_license_expression, as a verdict. Written here because 26.3
    changed it: 26.2 accepts an empty `LicenseRef-`, and `LicenseRef-x+` makes it raise KeyError."""
    if value is None:
        return None
    from packaging.licenses._spdx import EXCEPTIONS, LICENSES

    invalid = f"{value!r} is invalid for {{field}}"
    spaced = value.replace("(", " ( ").replace(")", " ) ")
    refs = {t.lower() for t in spaced.split() if t.lower().startswith("licenseref-")}
    tokens = spaced.lower().split()
    # 26.2 checks the grammar by turning ids into False and WITH into `or`, then compiling the result.
    python: list[str] = []
    for token in tokens:
        if token not in _SPDX_OPERATORS:
            python.append("False")
        elif (token == "(" and python and python[-1] not in {"or", "and", "("}) or (
                token == ")" and python and python[-1] == "("):
            return invalid
        else:
            python.append("or" if token == "with" else token)
    try:
        compile(" ".join(python), "", "eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return invalid
    previous = None
    for token in tokens:
        base = token[:-1] if token.endswith("+") else token
        if token in _SPDX_OPERATORS:
            pass
        elif previous == "with":
            if token not in EXCEPTIONS:
                return invalid
        elif base.startswith("licenseref-"):
            if not re.match(r"^[A-Za-z0-9.-]*$", base):
                return invalid
            if base not in refs:
                return "crash"
        elif base not in LICENSES:
            return invalid
        previous = token
    return None


def _warehouse_errors(metadata: RawMetadata) -> list[FormError]:
    """warehouse's own rules (forklift `_validate_metadata`), on every value that parses."""
    raw: dict[str, Any] = dict(metadata)
    found: list[tuple[str, str, str]] = []  # (code, field, error)
    version = _parse(Version, raw.get("version"))
    if version is not None and version.local:
        found.append(("M006", "version", f"The use of local versions in '{version}' is not allowed."))
    if len(raw.get("summary", "")) > 512:
        found.append(("M007", "summary", "'summary' field must be 512 characters or less."))
    for field in ("author_email", "maintainer_email"):
        found += [("M018", field.replace("_", "-"), e) for e in _email_errors(raw.get(field))]
    found += [("M017", "classifier", e) for e in _classifier_errors(raw.get("classifiers") or [])]
    for field in ("home_page", "download_url"):
        url = raw.get(field)
        if url is not None and not is_valid_url(url):
            found.append(("M019", field.replace("_", "-"), f"{url!r} is not a valid url."))
    found += [("M020", "project-url", e) for e in _project_url_errors(raw.get("project_urls") or {})]
    for field in ("provides_dist", "obsoletes_dist"):
        for text in raw.get(field) or []:
            try:
                if Requirement(text).url is not None:
                    found.append(("M010", field.replace("_", "-"), f"Can't have direct dependency: {text!r}"))
            except InvalidRequirement as exc:
                found.append(("M010", field.replace("_", "-"), f"{text!r} is invalid: {exc}"))
    for text in raw.get("requires_dist") or []:
        requirement = _parse(Requirement, text)
        if requirement is not None and requirement.url is not None:
            found.append(("M009", "requires-dist", f"Can't have direct dependency: {requirement}"))
    for key in map(str.lower, raw.get("dynamic") or []):
        # keys packaging allows (core fields but name/version/metadata-version) that PyPI does not: 'dynamic'
        if key in _EMAIL_TO_RAW_MAPPING and key not in DYNAMIC_FIELDS | {"name", "version", "metadata-version"}:
            found.append(("M013", "dynamic", f"Dynamic field {key!r} is not a valid dynamic field."))
    if raw.get("license") and raw.get("license_expression"):
        found.append(("M015", "license", "License is deprecated when License-Expression is present. "
                                         "Only License-Expression should be present."))
    return [FormError(code, field, 3, f"{error} {SEE_LOCAL_VERSIONS}" if code == "M006" else _reply(error))
            for code, field, error in found]


def _parse(kind: type, text: str | None):  # type: ignore[no-untyped-def]
    try:
        return None if text is None else kind(text)
    except (InvalidVersion, InvalidRequirement):
        return None


def _email_errors(value: str | None) -> list[str]:
    if value is None:
        return []
    _, address = strict_parseaddr(value)
    if not address:
        return []
    import email_validator

    try:
        email_validator.validate_email(address, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        return [f"{address!r} is not a valid email address: {exc}"]
    return []


def strict_parseaddr(value: str) -> tuple[str, str]:
    """email.utils.parseaddr as on PyPI's Python 3.14: ('', '') unless the value is exactly one address.

    Python releases before the CVE-2023-27043 fix (3.11.9 and older here) lack `strict`; for them
    this repeats its two checks: balanced parentheses outside quoted names, no '[' left in the address.
    """
    if "strict" in inspect.signature(email.utils.parseaddr).parameters:
        return email.utils.parseaddr(value, strict=True)  # type: ignore[call-arg]
    from email._parseaddr import AddressList

    if not _parentheses_balanced(value):
        return "", ""
    found = AddressList(value).addresslist
    if len(found) != 1 or "[" in found[0][1]:
        return "", ""
    return found[0]


def _parentheses_balanced(value: str) -> bool:
    """CPython's strict check: parentheses balance outside "quoted names"; a backslash escapes one character."""
    tokens, escape = [], False
    for ch in value:
        if escape:
            tokens.append("\\" + ch)
        elif ch != "\\":
            tokens.append(ch)
        escape = not escape and ch == "\\"
    kept: list[str] = []
    quoted: list[str] | None = None
    for token in tokens:
        if token == '"':
            quoted = [] if quoted is None else None  # a closed quoted name is dropped
        else:
            (kept if quoted is None else quoted).append(token)
    if quoted is not None:  # an unclosed quote keeps what follows it
        kept += ['"', *quoted]
    depth = 0
    for token in kept:
        depth += {"(": 1, ")": -1}.get(token, 0)
        if depth < 0:
            return False
    return depth == 0


def _classifier_errors(classifiers: list[str]) -> list[str]:
    from trove_classifiers import all_classifiers, deprecated_classifiers

    errors = [f"{c!r} is not a valid classifier." for c in sorted(set(classifiers) - set(all_classifiers))]
    for c in sorted(set(classifiers) & deprecated_classifiers.keys()):
        instead = deprecated_classifiers[c]
        errors.append(f"The classifier {c!r} has been deprecated" + (f", use one of {instead} instead." if instead
                                                                     else "."))
    return errors


def _project_url_errors(urls: dict[str, str]) -> list[str]:
    errors = []
    for label, url in urls.items():
        if not label:
            errors.append("Must have a label")
        elif len(label) > 32:
            errors.append(f"{label!r} must be 32 characters or less.")
        elif not url:
            errors.append("Must have a URL")
        elif not is_valid_url(url):
            errors.append(f"{url!r} is not a valid url")
    return errors


def is_valid_url(url: str) -> bool:
    """warehouse `http.is_valid_uri(url, require_authority=False)`: an http(s) URI valid per rfc3986."""
    from rfc3986 import exceptions, uri_reference, validators

    validator = validators.Validator().allow_schemes("http", "https").require_presence_of("scheme")
    validator.check_validity_of("scheme", "host", "port", "path", "query")  # not the fragment: PyPI does not
    try:
        validator.validate(uri_reference(url).normalize())
    except (exceptions.RFC3986Exception, ValueError):
        return False
    return True


# -- the registry: one rule per PyPI rejection, each yielding the form errors of its code --------------

_MIRRORED = {
    "M001": ("single-use fields are sent once; Project-URL labels are unique",
             "METADATA repeats a single-use header, Keywords or a Project-URL label (twine refuses such a "
             "file before uploading): keep one"),
    "M002": ("Metadata-Version is one PyPI supports (1.0-1.2, 2.1-2.5)", "upgrade the build backend"),
    "M003": ("no field is newer than the declared Metadata-Version", "raise Metadata-Version or drop the field"),
    "M004": ("Name is present and valid", "PyPI's upload form check (F001) refuses such a name first: letters, "
                                          "digits and '.', '_', '-' only, starting and ending alphanumeric"),
    "M005": ("Version is present and a valid PEP 440 version", None),
    "M006": ("Version has no local part (+label)", "drop the +local part before uploading"),
    "M007": ("Summary is one line of at most 512 characters", None),
    "M008": ("Description-Content-Type is text/plain, text/x-rst or text/markdown, charset UTF-8",
             "PyPI compares the charset case-sensitively: write charset=UTF-8"),
    "M009": ("Requires-Dist entries are valid PEP 508 requirements without direct URLs", None),
    "M010": ("Provides-Dist/Obsoletes-Dist entries are valid requirements without URLs", None),
    "M011": ("Requires-Python is a valid specifier set", "e.g. '>=3.8', not '3.8' or '>=3.*'"),
    "M012": ("Provides-Extra names are valid", None),
    "M013": ("Dynamic names only core fields PyPI allows", None),
    "M014": ("License-Expression is a valid SPDX expression", "see https://spdx.org/licenses/"),
    "M015": ("License and License-Expression are not both present", "remove the License field"),
    "M016": ("License-File paths are relative, resolved, '/'-separated", None),
    "M017": ("Classifiers are known and not deprecated",
             "'Private ::' classifiers are refused on purpose: they mark projects not meant for PyPI"),
    "M018": ("Author-email/Maintainer-email addresses are valid", None),
    "M019": ("Home-page/Download-URL are http(s) URLs", None),
    "M020": ("Project-URL entries have a label of <= 32 characters and an http(s) URL", None),
    "M021": ("Import-Name/Import-Namespace are dotted identifiers (when sent)", None),
}


def _mirror(code: str):  # type: ignore[no-untyped-def]
    def check(dist: DistView) -> Iterator[Problem]:
        form = _form(dist)
        for error in form_errors(form) if form is not None else ():
            if error.code == code:
                yield error.message

    check.__name__ = f"pypi_{code.lower()}"
    return check


for _code, (_summary, _hint) in _MIRRORED.items():
    rule(_code, pypi_rejects=True, summary=_summary, hint=_hint)(_mirror(_code))


def _form(dist: DistView) -> Form | None:
    return dist.form

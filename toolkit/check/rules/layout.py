"""Check rules: the layout PyPI requires inside an sdist or a wheel (S, W, X001, I009, with
PyPI's messages), and toolkit's consistency rules between a wheel's filename, WHEEL and
METADATA, or an sdist's filename and PKG-INFO (W1xx, S1xx).
"""

from __future__ import annotations

import configparser
import posixpath
import re
from collections.abc import Iterator
from email.message import Message
from email.parser import HeaderParser
from typing import TYPE_CHECKING

from packaging.tags import Tag, parse_tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from toolkit.check.rules import rule
from toolkit.check.rules.record import load_record
from toolkit.listing import few

if TYPE_CHECKING:
    from toolkit.check.view import DistView

FILE_LIMIT = 100 * 1024 * 1024  # PyPI's default per-file limit (I009)
SCAN_LIMIT = 5 * 1024 * 1024  # PyPI's content scanner skips larger members (X001)
INVALID = "Invalid distribution file. "
_ENTRY_POINT_NAME = re.compile(r"[\w.-]+")
_EXTENSION = re.compile(r"\.(so|pyd|dylib)$|\.so(\.\d+)+$")


# -- sdist: PyPI takes os.path.commonpath of the member names as the top-level folder


def _sdist_readable(dist: DistView) -> bool:
    lower = dist.filename.lower()
    fmt = dist.archive.format
    return (fmt == "tar" and lower.endswith(".tar.gz")) or (fmt == "zip" and lower.endswith(".zip"))


def _sdist_names(dist: DistView) -> set[str]:
    # tarfile's own names (which PyPI looks up) carry no trailing "/" for directories.
    strip = dist.archive.format == "tar"
    return {m.name.rstrip("/") if strip else m.name for m in dist.archive.members}


def sdist_top(dist: DistView) -> tuple[str | None, str | None]:
    """(top, None); (None, None) when there is no single top; (None, why) when PyPI's computation fails."""
    try:
        top = posixpath.commonpath([m.name for m in dist.archive.members])
    except ValueError as exc:  # no members, or absolute and relative names mixed
        return None, str(exc)
    return (None, None) if top in ("", ".", "/") else (top, None)


def _has(dist: DistView, names: set[str], target: str) -> bool:
    return (target.rstrip("/") if dist.archive.format == "tar" else target) in names


@rule("S001", pypi_rejects=True, applies="sdist", summary="an sdist has exactly one top-level folder",
      hint="an sdist holds one folder, {name}-{version}/, and everything inside it")
def sdist_single_top(dist: DistView) -> Iterator[str | tuple[str, str]]:
    if not _sdist_readable(dist):
        return
    top, crash = sdist_top(dist)
    if top is None:
        message = INVALID + "Incorrect number of top-level directories in sdist"
        if crash:
            yield message, f"PyPI's own check fails on this archive ({crash}) and answers with HTTP 500"
        else:
            yield message


@rule("S002", pypi_rejects=True, applies="sdist", summary="an sdist has PKG-INFO in its top-level folder",
      hint="build the sdist with a PEP 517 backend; it writes {name}-{version}/PKG-INFO")
def sdist_pkg_info(dist: DistView) -> Iterator[str]:
    if not _sdist_readable(dist):
        return
    top, _ = sdist_top(dist)
    if top is not None and not _has(dist, _sdist_names(dist), posixpath.join(top, "PKG-INFO")):
        yield INVALID + f"PKG-INFO not found at {posixpath.join(top, 'PKG-INFO')}"


def _license_files(dist: DistView) -> list[str]:
    # The form, not the file: twine (and toolkit publish) drop License-File below Metadata-Version 2.4.
    return [value for key, value in dist.form or () if key == "license_file"]


@rule("S003", pypi_rejects=True, applies="sdist", summary="every License-File sent is in the sdist",
      hint="include the license files in the sdist (e.g. [tool.hatch.build] / MANIFEST.in / tool.maturin include)")
def sdist_license_files(dist: DistView) -> Iterator[str]:
    if not _sdist_readable(dist):
        return
    top, _ = sdist_top(dist)
    if top is None:
        return  # S001
    names = _sdist_names(dist)
    for path in _license_files(dist):
        target = posixpath.join(top, path)
        if not _has(dist, names, target):
            yield f"License-File {path} does not exist in distribution file {dist.filename} at {target}"


@rule("S101", applies="sdist", summary="PKG-INFO Name and Version agree with the sdist filename",
      hint="rebuild the sdist; a renamed sdist installs under the name and version inside it")
def sdist_metadata_matches_filename(dist: DistView) -> Iterator[str]:
    try:
        name, version = parse_sdist_filename(dist.filename)
    except InvalidSdistFilename:
        return  # N010
    yield from _metadata_vs_filename(dist, "PKG-INFO", name, version)


@rule("S102", level="warning", applies="sdist", summary="an sdist has a pyproject.toml",
      hint="without one, pip and build fall back to setuptools' legacy build; add [build-system] to pyproject.toml")
def sdist_pyproject(dist: DistView) -> Iterator[str]:
    top, _ = sdist_top(dist) if _sdist_readable(dist) else (None, None)
    if top is not None and not _has(dist, _sdist_names(dist), posixpath.join(top, "pyproject.toml")):
        yield f"the sdist has no pyproject.toml (looked for {posixpath.join(top, 'pyproject.toml')})"


def _metadata_vs_filename(dist: DistView, what: str, name: str, version: Version | None) -> Iterator[str]:
    raw = dist.raw_metadata[0] if dist.raw_metadata else {}
    meta_name, meta_version = raw.get("name"), raw.get("version")
    if meta_name is None or meta_version is None or _form_carries(dist, meta_name, meta_version):
        return  # missing: the M-rules say so; carried by the form: PyPI's N-rules report any mismatch
    if canonicalize_name(meta_name) != name:
        yield f"{what} Name is {meta_name!r}, the filename says {name!r}"
    try:
        if version is not None and Version(meta_version) != version:
            yield f"{what} Version is {meta_version!r}, the filename says {str(version)!r}"
    except InvalidVersion:
        pass  # M005


def _form_carries(dist: DistView, name: str, version: str) -> bool:
    """Whether the upload form sends this Name and Version: then N011/N012/N022/N024 compare them with the
    filename under PyPI's own codes, and reporting it here too would say the same thing twice."""
    form = dict(dist.form or ())
    sent = form.get("name")
    return sent is not None and canonicalize_name(sent) == canonicalize_name(name) and form.get("version") == version


# -- wheel: PyPI takes {name}-{version} from filename.split("-", 2), as written


def _wheel_readable(dist: DistView) -> bool:
    return dist.archive.format == "zip"


@rule("W001", pypi_rejects=True, applies="wheel", summary="a wheel has {name}-{version}.dist-info/WHEEL",
      hint="the .dist-info folder must be spelled exactly like the start of the filename; rebuild the wheel "
           "rather than renaming it")
def wheel_file_present(dist: DistView) -> Iterator[str]:
    if not _wheel_readable(dist):
        return
    if dist.dist_info is None:
        yield INVALID + "Unable to parse name and version from wheel filename"
    elif dist.archive.member(f"{dist.dist_info}/WHEEL") is None:
        yield INVALID + f"WHEEL not found at {dist.dist_info}/WHEEL"


@rule("W002", pypi_rejects=True, applies="wheel", summary="every License-File sent is in .dist-info/licenses/",
      hint="a PEP 639 backend copies each license file to {name}-{version}.dist-info/licenses/")
def wheel_license_files(dist: DistView) -> Iterator[str]:
    if not _wheel_readable(dist) or dist.dist_info is None:
        return
    for path in _license_files(dist):
        target = f"{dist.dist_info}/licenses/{path}"
        if dist.archive.member(target) is None:
            yield f"License-File {path} does not exist in distribution file {dist.filename} at {target}"


@rule("W003", pypi_rejects=True, applies="wheel", summary="a wheel has a readable RECORD",
      hint="RECORD must be UTF-8 CSV; rebuild the wheel with its build backend")
def wheel_record_present(dist: DistView) -> Iterator[str | tuple[str, str]]:
    if not _wheel_readable(dist) or dist.dist_info is None:
        return
    rows, why = load_record(dist)
    if rows is None:
        message = f"Wheel '{dist.filename}' does not contain the required RECORD file: {dist.dist_info}/RECORD"
        yield message, f"{why}; RECORD must be UTF-8 CSV: rebuild the wheel with its build backend"


@rule("W004", pypi_rejects=True, applies="wheel", summary="entry_points.txt is strict INI with valid script names",
      hint="entry_points.txt: [section] headers, one `name = value` per line, no duplicates; script names use "
           "letters, digits, '_', '.' and '-' only")
def wheel_entry_points(dist: DistView) -> Iterator[tuple[str, str]]:
    if not _wheel_readable(dist) or dist.dist_info is None:
        return
    data = dist.read(f"{dist.dist_info}/entry_points.txt")
    why = None if data is None else _entry_points_problem(data)
    if why:
        yield f"Wheel '{dist.filename}' has invalid entry points defined in the entry_points.txt file", why


def _entry_points_problem(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "entry_points.txt is not UTF-8"
    parser = configparser.ConfigParser(delimiters=("=",))  # strict by default, as PyPI parses it
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # names are case-sensitive
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        return f"entry_points.txt is not valid INI: {exc}".replace("\n", " ")
    for section in ("console_scripts", "gui_scripts"):
        if parser.has_section(section):
            for name in parser[section]:  # includes [DEFAULT] keys, as PyPI iterates them
                if _ENTRY_POINT_NAME.fullmatch(name) is None:
                    return f"[{section}] name {name!r} may use only letters, digits, '_', '.' and '-'"
    return None


@rule("W005", pypi_rejects=True, applies="wheel", summary="a wheel has {name}-{version}.dist-info/METADATA",
      hint="rebuild the wheel with its build backend")
def wheel_metadata_present(dist: DistView) -> Iterator[str]:
    if _wheel_readable(dist) and dist.dist_info and dist.archive.member(f"{dist.dist_info}/METADATA") is None:
        yield f"Wheel '{dist.filename}' does not contain the required METADATA file: {dist.dist_info}/METADATA"


def wheel_file(dist: DistView) -> Message | str | None:
    """The parsed WHEEL file; a str says why it cannot be read; None when it is absent (W001)."""
    if not _wheel_readable(dist) or dist.dist_info is None:
        return None
    data = dist.read(f"{dist.dist_info}/WHEEL")
    if data is None:
        return None
    try:
        return HeaderParser().parsestr(data.decode("utf-8"))
    except UnicodeDecodeError:
        return "WHEEL is not UTF-8"


def _filename_tags(dist: DistView) -> frozenset[Tag] | None:
    try:
        return parse_wheel_filename(dist.filename)[3]
    except InvalidWheelFilename:
        return None  # N020


def _extension_modules(dist: DistView) -> list[str]:
    return [m.name for m in dist.archive.members
            if m.kind == "file" and _EXTENSION.search(m.name) and ".dist-info/" not in m.name]


@rule("W101", applies="wheel", summary="WHEEL's Tag lines equal the filename's tags",
      hint="installers trust the filename, tools that read WHEEL trust the Tag lines; rebuild, or retag with "
           "`wheel tags`, instead of renaming the file")
def wheel_tags_match_filename(dist: DistView) -> Iterator[str]:
    wheel, tags = wheel_file(dist), _filename_tags(dist)
    if not isinstance(wheel, Message) or tags is None:
        return
    declared: set[Tag] = set()
    for line in wheel.get_all("Tag") or ():
        try:
            declared |= parse_tag(line.strip())
        except ValueError:
            yield f"WHEEL has a Tag line that is not a tag: {line.strip()!r}"
    if declared and declared != set(tags):
        missing, extra = sorted(map(str, set(tags) - declared)), sorted(map(str, declared - set(tags)))
        parts = ([f"in the filename but not in WHEEL: {', '.join(missing)}"] if missing else []) + (
            [f"in WHEEL but not in the filename: {', '.join(extra)}"] if extra else [])
        yield "WHEEL Tag lines differ from the filename's tags: " + "; ".join(parts)


def _is_pure(tags: frozenset[Tag]) -> bool:
    return all(t.platform == "any" for t in tags)


@rule("W103", level="warning", applies="wheel", summary="Root-Is-Purelib agrees with what the wheel holds",
      hint="Root-Is-Purelib: true puts the files in purelib (shared across platforms); a wheel with extension "
           "modules needs false, a pure one true")
def wheel_purelib_consistent(dist: DistView) -> Iterator[str]:
    wheel, tags = wheel_file(dist), _filename_tags(dist)
    if not isinstance(wheel, Message) or tags is None:
        return
    purelib = (wheel.get("Root-Is-Purelib") or "").strip().lower()
    binaries = _extension_modules(dist)
    if purelib == "true" and binaries:
        yield f"WHEEL says Root-Is-Purelib: true, but the wheel holds extension modules ({few(binaries)})"
    elif purelib == "false" and _is_pure(tags) and not binaries:
        yield "WHEEL says Root-Is-Purelib: false, but the wheel is pure (platform 'any', no extension modules)"


@rule("W104", applies="wheel", summary="a wheel tagged pure holds no extension modules",
      hint="build platform wheels for extension modules (e.g. cibuildwheel), then `toolkit repair` them")
def wheel_pure_tag_without_binaries(dist: DistView) -> Iterator[str]:
    tags = _filename_tags(dist) if _wheel_readable(dist) else None
    binaries = _extension_modules(dist) if tags and _is_pure(tags) else []
    if binaries:
        tag = "-".join(dist.filename[: -len(".whl")].split("-")[-3:])
        yield f"the wheel is tagged for any platform ({tag}) but holds extension modules ({few(binaries)})"


@rule("W105", applies="wheel", summary="METADATA Name and Version agree with the wheel filename",
      hint="rebuild the wheel; a renamed wheel installs under the name and version inside it")
def wheel_metadata_matches_filename(dist: DistView) -> Iterator[str]:
    try:
        name, version, _, _ = parse_wheel_filename(dist.filename)
    except InvalidWheelFilename:
        return  # N020
    yield from _metadata_vs_filename(dist, "METADATA", name, version)


# -- both kinds


@rule("X001", pypi_rejects=True, summary="no PyArmor- or SourceDefender-encrypted Python code",
      hint="PyPI's acceptable-use policy refuses encrypted or obfuscated code; publish readable source")
def encrypted_code(dist: DistView) -> Iterator[tuple[str, str]]:
    found: dict[str, list[str]] = {}
    for m in dist.archive.members:
        if m.kind != "file" or m.size > SCAN_LIMIT or posixpath.splitext(m.name)[1].lower() not in (".py", ".pye"):
            continue
        data = dist.read(m.name, limit=SCAN_LIMIT) or b""
        for tool in _encryption_markers(data):
            found.setdefault(tool, []).append(m.name)
    for tool, names in found.items():
        yield (f"{INVALID}{tool}-encrypted content is not allowed. "
               "See https://pypi.org/policy/acceptable-use-policy/ for more information."), f"found in {few(names)}"


def _encryption_markers(data: bytes) -> list[str]:
    # The markers of PyPI's YARA rules (warehouse/utils/scanner_rules); a plain search matches them.
    pyarmor = (b"__pyarmor__(__name__, __file__,", b"__pyarmor_enter__", b"__pyarmor_exit__",
               b"__pyarmor_assert__", b"__pyarmor_bcc__")
    # One scan for the common prefix first: almost every file has none, and stops there.
    tools = ["PyArmor"] if b"__pyarmor" in data and any(marker in data for marker in pyarmor) else []
    if b"---BEGIN PYE FILE---" in data and b"---END PYE FILE---" in data:
        tools.append("SourceDefender")
    return tools


@rule("I009", pypi_rejects=True, summary="the file is within PyPI's default 100 MiB limit",
      hint="make the file smaller (ship data separately), or ask PyPI for a larger limit before uploading",
      needs_archive=False)
def file_size_limit(dist: DistView) -> Iterator[str]:
    if dist.path.stat().st_size > FILE_LIMIT:
        yield (f"File too large. Limit for project {_project_name(dist)!r} is 100 MB. See "
               "https://docs.pypi.org/project-management/storage-limits#requesting-a-file-size-limit-increase "
               "for more information.")


def _project_name(dist: DistView) -> str:
    # PyPI names the project as the form gives it (a new project) or as it is registered (unknown offline).
    sent = dict(dist.form or ()).get("name") if dist.archive.format else None
    return sent or dist.filename.split("-", 1)[0]

"""Check rules N: the file's name, as PyPI's upload view judges it (characters, extension, length,
the sdist and wheel name rules against the upload form's Name and Version, the platform allowlist).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from packaging.tags import Tag
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from toolkit.check.rules import Problem, rule
from toolkit.uploadform import read_form

if TYPE_CHECKING:
    from toolkit.check.view import DistView

_EXTENSIONS = {"sdist": (".zip", ".tar.gz"), "bdist_wheel": (".whl",)}
_DIST_FILE_RE = re.compile(r".+?(?P<extension>\.(tar\.gz|zip|whl))$", re.IGNORECASE)

# -- the platform allowlist (legacy.py `_valid_platform_tag`, spec §3) --------------------------------
_STATIC_PLATFORMS = frozenset({
    "any", "win32", "win_amd64", "win_arm64", "win_ia64",
    "manylinux1_x86_64", "manylinux1_i686", "manylinux2010_x86_64", "manylinux2010_i686",
    *(f"manylinux2014_{arch}" for arch in ("x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x")),
    "linux_armv6l", "linux_armv7l",  # piwheels' legacy allowance; every other linux_* is refused
})
_MACOS_RE = re.compile(r"macosx_(?P<major>\d+)_(?P<minor>\d+)_(?P<arch>.*)")
_MACOS_ARCHES = frozenset({"ppc", "ppc64", "i386", "x86_64", "arm64", "intel", "fat", "fat3", "fat64", "universal",
                           "universal2"})
_MACOS_MAJORS = frozenset({"11", "12", "13", "14", "15", "26"})  # with minor 0; "10" takes any minor
_LINUX_RE = re.compile(r"(?P<libc>many|musl)linux_(\d+)_(\d+)_(?P<arch>.*)")
_MUSLLINUX_ARCHES = frozenset({"x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x", "riscv64"})
_MANYLINUX_ARCHES = _MUSLLINUX_ARCHES | {"ppc64"}
_IOS_RE = re.compile(r"ios_(\d+)_(\d+)_(?P<arch>.*)_(iphoneos|iphonesimulator)")  # a prefix match, as on PyPI
_ANDROID_RE = re.compile(r"android_(\d+)_(?P<arch>.*)")
_EMSCRIPTEN_RE = re.compile(r"pyemscripten_(\d+)_(\d+)_wasm32")  # a prefix match, as on PyPI


def valid_platform_tag(platform: str) -> bool:
    """Whether PyPI accepts this (lowercased) wheel platform tag."""
    if platform in _STATIC_PLATFORMS:
        return True
    if m := _MACOS_RE.match(platform):
        if m["arch"] in _MACOS_ARCHES and (m["major"] == "10" or (m["major"] in _MACOS_MAJORS and m["minor"] == "0")):
            return True
    if m := _LINUX_RE.match(platform):
        return m["arch"] in (_MANYLINUX_ARCHES if m["libc"] == "many" else _MUSLLINUX_ARCHES)
    if (m := _IOS_RE.match(platform)) and m["arch"] in {"arm64", "x86_64"}:
        return True
    if (m := _ANDROID_RE.match(platform)) and m["arch"] in {"armeabi_v7a", "arm64_v8a", "x86", "x86_64"}:
        return True
    return _EMSCRIPTEN_RE.match(platform) is not None


# -- filename parsing as packaging 26.2 does it ------------------------------------------------------
# Written here because PyPI pins packaging 26.2 and 26.3 changed both parsers: it refuses an empty
# project name, non-identifier interpreter tags and empty tag-set parts, which 26.2 (PyPI) accepts.


class FilenameError(ValueError):
    pass


def parse_wheel_filename(filename: str) -> tuple[str, Version, frozenset[Tag]]:
    """(canonical name, version, tags) as packaging 26.2 parses them; FilenameError with its message."""
    if not filename.endswith(".whl"):
        raise FilenameError(f"Invalid wheel filename (extension must be '.whl'): {filename!r}")
    stem = filename[:-4]
    dashes = stem.count("-")
    if dashes not in (4, 5):
        raise FilenameError(f"Invalid wheel filename (wrong number of parts): {stem!r}")
    parts = stem.split("-", dashes - 2)
    if "__" in parts[0] or re.match(r"^[\w\d._]*$", parts[0], re.UNICODE) is None:
        raise FilenameError(f"Invalid project name: {stem!r}")
    try:
        version = Version(parts[1])
    except InvalidVersion:
        raise FilenameError(f"Invalid wheel filename (invalid version): {stem!r}") from None
    if dashes == 5 and re.match(r"(\d+)(.*)", parts[2], re.ASCII) is None:
        raise FilenameError(f"Invalid build number: {parts[2]} in {stem!r}")
    interpreters, abis, platforms = parts[-1].split("-")
    tags = frozenset(Tag(i, a, p) for i in interpreters.split(".") for a in abis.split(".")
                     for p in platforms.split("."))
    return canonicalize_name(parts[0]), version, tags


def parse_sdist_filename(filename: str) -> tuple[str, Version]:
    """(canonical name, version) as packaging 26.2 parses an sdist name (it takes an empty name)."""
    for extension in (".tar.gz", ".zip"):
        if filename.endswith(extension):
            stem = filename[: -len(extension)]
            break
    else:
        raise FilenameError(f"Invalid sdist filename (extension must be '.tar.gz' or '.zip'): {filename!r}")
    name, dash, version = stem.rpartition("-")
    if not dash:
        raise FilenameError(f"Invalid sdist filename: {filename!r}")
    try:
        return canonicalize_name(name), Version(version)
    except InvalidVersion:
        raise FilenameError(f"Invalid sdist filename (invalid version): {filename!r}") from None


# -- rules that need only the name ---------------------------------------------------------------------


@rule("N001", pypi_rejects=True, needs_archive=False, summary="no control characters in the filename")
def no_control_characters(dist: DistView) -> Iterator[Problem]:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in dist.filename):
        yield ("Cannot upload a file with non-printable characters (ordinals 0-31) or the DEL character "
               "(ordinal 127) in the name.")


@rule("N002", pypi_rejects=True, needs_archive=False, summary="no '/' or '\\' in the filename")
def no_path_separators(dist: DistView) -> Iterator[Problem]:
    if "/" in dist.filename or "\\" in dist.filename:
        yield "Cannot upload a file with '/' or '\\' in the name."


def extension_error(filename: str) -> str | None:
    """PyPI's verdict on the extension; the filetype is the one matching the extension in any case
    (twine itself only uploads .whl, .tar.gz and .zip spelled in lower case)."""
    match = _DIST_FILE_RE.match(filename)
    if match is None:
        return ("Invalid file extension: Use .tar.gz, .whl or .zip extension. See "
                "https://www.python.org/dev/peps/pep-0527 and https://peps.python.org/pep-0715/ for more information")
    extension = match["extension"]
    filetype = "bdist_wheel" if extension.lower() == ".whl" else "sdist"
    if extension not in _EXTENSIONS[filetype]:
        return (f"Invalid file extension: Extension {extension} is invalid for filetype {filetype}. "
                "See https://www.python.org/dev/peps/pep-0527 for more information.")
    return None


@rule("N003", pypi_rejects=True, needs_archive=False, summary="the extension is .tar.gz, .zip or .whl (lower case)")
def known_extension(dist: DistView) -> Iterator[Problem]:
    if message := extension_error(dist.filename):
        if _DIST_FILE_RE.match(dist.filename):
            yield message, "write the extension in lower case (twine does not even recognise this file)"
        else:
            yield message, "eggs, installers and other archive formats cannot be uploaded: build a wheel or an sdist"


@rule("N004", pypi_rejects=True, needs_archive=False, summary="the filename is short enough for PyPI to store")
def filename_length(dist: DistView) -> Iterator[Problem]:
    size = len(dist.filename.encode("utf-8", "surrogateescape"))
    if size > 255:
        yield (f"HTTP 500 Internal Server Error: PyPI cannot write a file whose name is {size} bytes long "
               "(the limit is 255)", "shorten the project name, the version or the tags")
    elif size > 246 and dist.filename.endswith(".whl"):
        # PyPI stores the wheel's METADATA beside it as '{filename}.metadata', which must fit in 255 bytes
        yield f"Filename is too long: '{dist.filename}'", "a wheel's name may be at most 246 bytes"


# -- sdist rules: the name against the form's Name and Version --------------------------------------


def _form_identity(dist: DistView) -> tuple[str, Version] | None:
    """The form's Name and Version when both are valid (otherwise PyPI stops at M004/M005)."""
    raw, _ = read_form(dist.form or [])
    try:
        name, version = raw.get("name"), Version(raw.get("version", ""))
    except InvalidVersion:
        return None
    if not name or not re.fullmatch(r"[A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9]", name, re.IGNORECASE):
        return None
    return name, version


def sdist_name_errors(filename: str, name: str, version: Version) -> list[tuple[str, str]]:
    """(code, message) for an sdist filename against the project Name and Version (N010-N012)."""
    normalized = canonicalize_name(name)
    expected = f"{normalized.replace('-', '_')}-{version}.tar.gz"
    try:
        from_filename, _ = parse_sdist_filename(filename)
    except FilenameError:
        return [("N010", f"Invalid source distribution filename: {filename}")]
    if version.is_postrelease and from_filename != normalized and filename.count("-") >= 2:
        # PyPI re-splits at the second-to-last dash for a `name-1.0-1` post-release version, and
        # keeps that name even when the rest is not a version (as warehouse does)
        from_filename = filename.rpartition("-")[0].rpartition("-")[0]
    if canonicalize_name(from_filename) != normalized:
        return [("N011", f"Start filename for {name!r} with {normalized.replace('-', '_')!r}.")]
    if filename != expected:
        return [("N012", f"Filename {filename!r} is invalid, should be {expected!r}.")]
    return []


def _sdist_rule(code: str):  # type: ignore[no-untyped-def]
    def check(dist: DistView) -> Iterator[Problem]:
        identity = _form_identity(dist)
        if identity is None or extension_error(dist.filename):
            return  # no valid Name/Version (M004/M005), or a bad extension (N003)
        for found, message in sdist_name_errors(dist.filename, *identity):
            if found == code:
                yield message

    return check


rule("N010", pypi_rejects=True, applies="sdist", summary="the sdist filename parses as name-version",
     hint="PEP 625: {name}-{version}.tar.gz, name normalised with underscores")(_sdist_rule("N010"))
rule("N011", pypi_rejects=True, applies="sdist", summary="the sdist filename starts with the project name")(
    _sdist_rule("N011"))
rule("N012", pypi_rejects=True, applies="sdist", summary="the sdist filename is exactly {name}-{version}.tar.gz",
     hint="PEP 625: normalised name with underscores, normalised version, .tar.gz (zip sdists are refused)")(
    _sdist_rule("N012"))


# -- wheel rules ---------------------------------------------------------------------------------------


def wheel_name_errors(filename: str, name: str | None, version: Version | None) -> list[tuple[str, str]]:
    """(code, message) for a wheel filename (N020-N024); name/version None: only N020/N021."""
    try:
        from_filename, file_version, tags = parse_wheel_filename(filename)
    except FilenameError as exc:
        return [("N020", str(exc))]
    found = [("N021", f"Binary wheel '{filename}' has an unsupported platform tag '{platform}'.")
             for platform in sorted({t.platform for t in tags}) if not valid_platform_tag(platform)]
    if name is None or version is None:
        return found
    normalized = canonicalize_name(name)
    if normalized != from_filename:
        found.append(("N022", f"Start filename for {name!r} with {normalized.replace('-', '_')!r}."))
    elif (written := filename.split("-", 1)[0]) != normalized.replace("-", "_"):
        found.append(("N023", f"Filename {filename!r} should contain the normalized project name "
                              f"{normalized.replace('-', '_')!r}, not {written!r}."))
    if version != file_version:
        found.append(("N024", f"Version in filename should be {str(version)!r} not {str(file_version)!r}."))
    return found


def _wheel_rule(code: str):  # type: ignore[no-untyped-def]
    def check(dist: DistView) -> Iterator[Problem]:
        if extension_error(dist.filename):
            return  # N003 reports it
        identity = _form_identity(dist)
        for found, message in wheel_name_errors(dist.filename, *(identity or (None, None))):
            if found == code:
                yield message

    return check


_WHEEL_RULES = {
    "N020": ("the wheel filename parses (packaging 26.2)",
             "{name}-{version}[-{build}]-{python}-{abi}-{platform}.whl, name with underscores"),
    "N021": ("every platform tag is one PyPI accepts", "PyPI takes manylinux/musllinux, macOS, Windows, iOS, "
                                                       "Android and pyemscripten tags; repair linux_* wheels"),
    "N022": ("the wheel filename is for the project named in the metadata", None),
    "N023": ("the wheel filename starts with the normalised project name",
             "lower case, '_' for every run of '-', '_' and '.'"),
    "N024": ("the wheel filename's version equals the metadata Version", None),
}
for _code, (_summary, _hint) in _WHEEL_RULES.items():
    rule(_code, pypi_rejects=True, applies="wheel", summary=_summary, hint=_hint)(_wheel_rule(_code))


@rule("N101", level="warning", applies="wheel", summary="the wheel filename's version is normalised")
def wheel_version_normalised(dist: DistView) -> Iterator[Problem]:
    parts = dist.filename.split("-")
    if len(parts) < 5 or extension_error(dist.filename):
        return
    try:
        normal = str(Version(parts[1]))
    except InvalidVersion:
        return  # N020
    if parts[1] != normal:
        renamed = "-".join([parts[0], normal, *parts[2:]])
        yield (f"the version in the filename, {parts[1]!r}, is not normalised ({normal!r}); PyPI takes it, "
               f"but the wheel spec and installers expect the normal form", f"rename it to {renamed}")

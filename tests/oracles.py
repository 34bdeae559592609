"""The real tools as oracles for `toolkit check`: does each one refuse this file?

- pip and uv: `install --no-deps --no-index --target` (wheels; an sdist is built before it is installed);
- pypa/installer: its API, as `python -m installer --validate-record all` drives it (wheels);
- twine: `PackageFile.from_filename` (what `twine upload` builds the upload from) and `twine check`;
- PyPI: the form twine built, judged by the metadata rules of shared/pypi-upload-rules.md, and the
  spec's layout and filename rules (S001/S002, W001/W003/W004/W005, N012/N022-N024), written here
  apart from toolkit's own code from the spec's text.

Each oracle answers None (accepts) or a short reason.
"""

from __future__ import annotations

import configparser
import io
import os
import posixpath
import re
import subprocess
import sys
import tarfile
import tempfile
import warnings
import zipfile
from pathlib import Path

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "(no output)"


def pip_refuses(path: Path) -> str | None:
    with tempfile.TemporaryDirectory() as target:
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                               "--disable-pip-version-check", "--no-compile", "--target", target, str(path)],
                              capture_output=True, text=True, timeout=120, check=False)
    return None if proc.returncode == 0 else "pip: " + _last_line(proc.stderr)


def uv_refuses(path: Path) -> str | None:
    with tempfile.TemporaryDirectory() as target:
        env = {**os.environ, "UV_NO_CACHE": "1"}
        proc = subprocess.run([sys.executable, "-m", "uv", "pip", "install", "--no-deps", "--offline", "--quiet",
                               "--python", sys.executable, "--target", target, str(path)],
                              capture_output=True, text=True, timeout=120, check=False, env=env)
    return None if proc.returncode == 0 else "uv: " + _last_line(proc.stderr)


def installer_refuses(path: Path) -> str | None:
    from installer import install
    from installer.destinations import SchemeDictionaryDestination
    from installer.sources import WheelFile

    with tempfile.TemporaryDirectory() as root:
        schemes = {s: os.path.join(root, s) for s in ("purelib", "platlib", "headers", "scripts", "data")}
        destination = SchemeDictionaryDestination(schemes, sys.executable, "posix")
        try:
            with WheelFile.open(path) as source, warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # "Skip installing ... __pycache__": not a refusal
                source.validate_record(validate_contents=True)
                install(source, destination, {})
        except Exception as exc:  # any failure of the real tool is its refusal: that is what is measured
            return f"installer: {type(exc).__name__}: {str(exc)[:200]}"
    return None


def twine_form(path: Path) -> tuple[list[tuple[str, str]] | None, str | None]:
    """(the metadata fields twine uploads, None) or (None, why twine refuses to build the upload)."""
    from twine.package import PackageFile
    from twine.repository import Repository

    try:
        package = PackageFile.from_filename(str(path), None)
        fields = Repository._convert_metadata_to_list_of_tuples(package.metadata_dictionary())
    except Exception as exc:  # twine raising is twine refusing the file
        return None, f"twine: {type(exc).__name__}: {str(exc)[:200]}"
    skip = {"filetype", "pyversion", "sha256_digest", "blake2_256_digest", "md5_digest", "comment"}
    return [(k, v) for k, v in fields if k not in skip and isinstance(v, str)], None


def twine_check_fails(path: Path) -> str | None:
    from twine.commands.check import _check_file, _WarningStream

    try:
        _, ok = _check_file(str(path), _WarningStream())
    except Exception as exc:  # as twine check reports it: the file fails
        return f"twine check: {type(exc).__name__}: {str(exc)[:200]}"
    return None if ok else "twine check: the description does not render"


def pypi_refuses(path: Path, form: list[tuple[str, str]]) -> str | None:
    from toolkit.check.rules.metadata import upload_error
    from toolkit.check.rules.readme import render_failure
    from toolkit.uploadform import read_form, sanitize

    sent = sanitize(form)
    error = upload_error(sent)
    if error:
        return "PyPI: " + error
    raw, _ = read_form(sent)
    if raw.get("description") and render_failure(raw["description"], raw.get("description_content_type")):
        return "PyPI: the description failed to render"
    why = _layout(path, raw.get("name", ""), raw.get("version", "0"), [v for k, v in sent if k == "license_file"])
    return f"PyPI: {why}" if why else None


def _layout(path: Path, name: str, version: str, license_files: list[str]) -> str | None:
    """The spec's filename and layout rules for these files (S, W, N0xx), from its text."""
    if path.name.endswith(".whl"):
        return _wheel_layout(path, name, version, license_files)
    if not path.name.endswith(".tar.gz"):
        return "N012 not a .tar.gz sdist"
    expected = f"{canonicalize_name(name).replace('-', '_')}-{Version(version)}.tar.gz"
    if path.name != expected:
        return f"N012 should be {expected}"
    try:
        with tarfile.open(path, "r:gz") as tar:
            names = tar.getnames()
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        return f"Z006 {exc}"
    try:
        top = posixpath.commonpath(names)
    except ValueError:
        return "S001 (HTTP 500)"
    if top in ("", ".", "/"):
        return "S001 several top folders"
    if f"{top}/PKG-INFO" not in names:
        return "S002 no PKG-INFO"
    missing = [p for p in license_files if f"{top}/{p}" not in names]
    return f"S003 {missing}" if missing else None


def _wheel_layout(path: Path, name: str, version: str, license_files: list[str]) -> str | None:
    try:
        fn_name, fn_version, _, tags = parse_wheel_filename(path.name)
    except ValueError as exc:
        return f"N020 {exc}"
    if canonicalize_name(name) != fn_name:
        return "N022 filename is for another project"
    if path.name.split("-")[0] != canonicalize_name(name).replace("-", "_"):
        return "N023 name not normalised"
    if fn_version != Version(version):
        return "N024 version differs"
    if any(t.platform.startswith("linux_") for t in tags):
        return "N021 platform"
    container = _zip_container(path)
    if container:
        return container
    di = "-".join(path.name.split("-", 2)[:2]) + ".dist-info"
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        for member in ("WHEEL", "METADATA", "RECORD"):
            if f"{di}/{member}" not in names:
                return f"W00x no {member}"
        missing = [p for p in license_files if f"{di}/licenses/{p}" not in names]
        if missing:
            return f"W002 {missing}"
        if f"{di}/entry_points.txt" in names:
            parser = configparser.ConfigParser(delimiters=("=",))
            parser.optionxform = str  # type: ignore[assignment,method-assign]
            try:
                parser.read_file(io.StringIO(zf.read(f"{di}/entry_points.txt").decode("utf-8")))
            except (configparser.Error, UnicodeDecodeError):
                return "W004"
            for section in ("console_scripts", "gui_scripts"):
                if parser.has_section(section) and any(not re.fullmatch(r"[\w.-]+", k) for k in parser[section]):
                    return "W004 script name"
    return None


def _zip_container(path: Path) -> str | None:
    """Three of the spec's zip rules, from its text: Z004 methods, Z005 duplicates and trailing data."""
    data = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    if any(i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) for i in infos):
        return "Z004 compression method"
    if len({i.filename for i in infos}) != len(infos):
        return "Z005 duplicate names"
    end = data.rfind(b"PK\x05\x06")
    comment = int.from_bytes(data[end + 20:end + 22], "little")
    return "Z005 trailing data" if end + 22 + comment != len(data) else None


def verdicts(path: Path) -> dict[str, str | None]:
    """Every oracle's answer for one file (None: accepts)."""
    found: dict[str, str | None] = {}
    if path.name.endswith(".whl"):
        found["pip"] = pip_refuses(path)
        found["uv"] = uv_refuses(path)
        found["installer"] = installer_refuses(path)
    form, refusal = twine_form(path)
    found["twine"] = refusal
    found["twine check"] = twine_check_fails(path)
    found["pypi"] = pypi_refuses(path, form) if form is not None else None
    try:
        parse = parse_wheel_filename if path.name.endswith(".whl") else parse_sdist_filename
        parse(path.name)
    except ValueError as exc:
        found["pypi"] = found["pypi"] or f"PyPI: N010/N020 {exc}"
    return found

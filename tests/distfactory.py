"""Build small wheels and sdists in a test's folder, with full control of their parts.

These use zipfile/tarfile (a correct archive); tests about archive bytes build
their archives byte by byte instead (see test_check_archive.py).
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

DESCRIPTION = "A demo\n======\n\nSome text.\n"


def metadata_text(name: str = "demo-pkg", version: str = "1.0", *, mv: str = "2.4", extra: str = "",
                  description: str | None = DESCRIPTION) -> str:
    head = f"Metadata-Version: {mv}\nName: {name}\nVersion: {version}\nSummary: A demo package\n{extra}"
    if description is None:
        return head
    if description == DESCRIPTION and "Description-Content-Type" not in extra and mv not in ("1.0", "1.1", "1.2"):
        head += "Description-Content-Type: text/x-rst\n"
    return head + "\n" + description


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def make_wheel(
    folder: Path,
    name: str = "demo_pkg",
    version: str = "1.0",
    tag: str = "py3-none-any",
    *,
    files: dict[str, bytes] | None = None,
    metadata: str | None = None,
    wheel_file: str | None = None,
    record: bool | str = True,
    filename: str | None = None,
    dist_info: str | None = None,
) -> Path:
    """A wheel whose RECORD is right unless `record` says otherwise (False: no RECORD; str: that text)."""
    files = {f"{name}/__init__.py": b"x = 1\n"} if files is None else dict(files)
    di = dist_info or f"{name}-{version}.dist-info"
    if metadata is None:
        metadata = metadata_text(name.replace("_", "-"), version)
    if wheel_file is None:
        tags = "".join(f"Tag: {t}\n" for t in _expand(tag))
        pure = "true" if tag.endswith("-any") else "false"
        wheel_file = f"Wheel-Version: 1.0\nGenerator: toolkit-tests\nRoot-Is-Purelib: {pure}\n{tags}"
    files[f"{di}/METADATA"] = metadata.encode()
    files[f"{di}/WHEEL"] = wheel_file.encode()
    path = folder / (filename or f"{name}-{version}-{tag}.whl")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        lines = []
        for member, data in files.items():
            zf.writestr(member, data)
            lines.append(record_line(member, data))
        if record is True:
            lines.append(f"{di}/RECORD,,")
            zf.writestr(f"{di}/RECORD", "\n".join(lines) + "\n")
        elif isinstance(record, str):
            zf.writestr(f"{di}/RECORD", record)
    return path


def make_sdist(
    folder: Path,
    name: str = "demo_pkg",
    version: str = "1.0",
    *,
    files: dict[str, bytes] | None = None,
    pkg_info: str | None = None,
    filename: str | None = None,
    top: str | None = None,
) -> Path:
    top = top or f"{name}-{version}"
    files = {"pyproject.toml": b"[project]\nname='demo'\n"} if files is None else dict(files)
    if pkg_info is not None or "PKG-INFO" not in files:
        files["PKG-INFO"] = (pkg_info if pkg_info is not None else metadata_text(name.replace("_", "-"), version)).encode()
    path = folder / (filename or f"{name}-{version}.tar.gz")
    with tarfile.open(path, "w:gz") as tar:
        for member, data in files.items():
            info = tarfile.TarInfo(f"{top}/{member}")
            info.size = len(data)
            info.mtime = 1700000000
            tar.addfile(info, io.BytesIO(data))
    return path


def _expand(tag: str) -> list[str]:
    py, abi, plat = tag.split("-")
    return [f"{a}-{b}-{c}" for a in py.split(".") for b in abi.split(".") for c in plat.split(".")]

"""Which package a vendored library came from, for the SBOM: its version and a purl where the OS knows the
owner. Linux: the package manager that installed the file (dpkg, rpm, apk) through `whichprovides`, the
library auditwheel 6.5+ vendors for its own SBOM; macOS: a Homebrew Cellar path, or MacPorts' `port
provides`; Windows: the DLL's version resource (pefile), since Windows has no package database.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

# Where package managers install libraries; asking them about any other file costs a slow database search (dpkg -S
# reads every package's file list) for nothing.
_SYSTEM_PREFIXES = ("/usr/", "/lib", "/opt/", "/nix/", "/gnu/")
_CELLAR = re.compile(r"/Cellar/(?P<name>[^/]+)/(?P<version>[^/]+)/")
_PORT_OWNER = re.compile(r" is provided by: (\S+)")
_PORT_VERSION = re.compile(r"^\s+\S+ @(\S+?)(?:_\d+)?(?:\+\S*)? \(active\)", re.MULTILINE)


@dataclass(frozen=True)
class Owner:
    version: str
    purl: str = ""  # empty where no package manager owns the file (a DLL's version resource only)


def owner_of(path: Path) -> Owner | None:
    """The package that owns `path` on this host, or None (a library built in the project, or unknown)."""
    try:
        real = path.resolve(strict=True)
    except OSError:
        return None
    if real.suffix.lower() == ".dll":
        return _dll_version(real)
    if m := _CELLAR.search(str(real)):
        return Owner(m["version"], f"pkg:brew/{quote(m['name'], safe='')}@{quote(m['version'], safe='')}")
    if str(real).startswith("/opt/local/") and shutil.which("port"):
        return _macports(real)
    if not str(real).startswith(_SYSTEM_PREFIXES):  # built in the project or a private folder: no package owns it
        return None
    return _linux_package(path, real)


def may_be_packaged(path: Path) -> bool:
    """Whether a package manager could own this file (it is where they install libraries)."""
    return str(path).startswith(_SYSTEM_PREFIXES) or str(path.resolve()).startswith(_SYSTEM_PREFIXES)


def _linux_package(path: Path, real: Path) -> Owner | None:
    from whichprovides import ApkPackageProvider, DpkgPackageProvider, RpmPackageProvider

    # With a merged /usr, /lib is a link to /usr/lib: dpkg knows a file by the path its package shipped, which
    # whichprovides (resolving every link) does not try; so each spelling is asked for.
    names = [str(real)]
    for p in (str(path), str(real)):
        names += [p.removeprefix("/usr"), "/usr" + p] if p.startswith(("/usr/lib", "/lib")) else [p]
    for provider in (DpkgPackageProvider, RpmPackageProvider, ApkPackageProvider):
        if not provider.is_available():
            continue
        for name in dict.fromkeys(names):
            found = provider.whichprovides([name]).get(name)
            if found is not None:
                return Owner(found.package_version, found.purl + _deb_arch(found.package_type, found.package_name))
    return None


def _deb_arch(kind: str, package: str) -> str:
    """The arch qualifier of a Debian purl (the package's own: amd64, or all), as the purl spec shows it."""
    if kind != "deb":
        return ""
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Architecture}", package], capture_output=True, text=True,
                          check=False)
    arch = proc.stdout.strip()
    return f"?arch={quote(arch, safe='')}" if proc.returncode == 0 and arch else ""


def _macports(real: Path) -> Owner | None:
    owner = _PORT_OWNER.search(_run(["port", "provides", str(real)]))
    if owner is None:
        return None
    version = _PORT_VERSION.search(_run(["port", "installed", owner[1]]))
    if version is None:
        return None
    return Owner(version[1], f"pkg:generic/macports/{quote(owner[1], safe='')}@{quote(version[1], safe='')}")


def _dll_version(real: Path) -> Owner | None:
    """The version a DLL's VERSIONINFO resource gives (ProductVersion, else FileVersion)."""
    import pefile

    try:
        pe = pefile.PE(str(real), fast_load=True)
        pe.parse_data_directories(directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]])
    except (OSError, pefile.PEFormatError):
        return None
    strings: dict[bytes, bytes] = {}
    for info in getattr(pe, "FileInfo", None) or ():
        for entry in info:
            for table in getattr(entry, "StringTable", ()):
                strings.update(table.entries)
    version = (strings.get(b"ProductVersion") or strings.get(b"FileVersion") or b"").decode("utf-8", "replace")
    return Owner(version.strip()) if version.strip() else None


def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""

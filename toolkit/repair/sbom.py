"""The SBOM a repaired wheel carries: a CycloneDX 1.6 document in `.dist-info/sboms/` (PEP 770) that lists
each library repair copied into the wheel, where it came from and its hashes, on every OS.

A component's `hashes` are of the member as it is in the wheel (after patching: what a scanner holding the
wheel can verify); the property `toolkit:source-sha256` is of the file it was copied from (before patching).

auditwheel writes one too, but only for libraries a system package manager owns (a library
built in the project is left out) and only on Linux; delocate and delvewheel write none.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

SBOM_NAME = "toolkit.cdx.json"
SPEC_VERSION = "1.6"


@dataclass(frozen=True)
class Vendored:
    """One library copied into the wheel."""

    name: str  # the name binaries asked for (soname, install name, DLL name)
    source: str  # the file it was copied from (the SBOM keeps its name only: no build machine paths)
    member: str  # where it is in the repaired wheel
    sha256: str  # of the file it was copied from (before patching; "" when that file is not known)
    wheel_sha256: str = ""  # of the member in the repaired wheel (after patching)
    version: str = ""  # of the package that installed the source file, where the OS knows it (owners.py)
    purl: str = ""  # that package's purl (pkg:deb/debian/libbz2-1.0@1.0.8-5%2Bb1?arch=amd64, pkg:brew/...)


def sbom_member(dist_info: str) -> str:
    return f"{dist_info}/sboms/{SBOM_NAME}"


def make_sbom(name: str, version: str, filename: str, vendored: Sequence[Vendored], tool: str) -> bytes:
    """The CycloneDX JSON document for one repaired wheel."""
    from toolkit import __version__

    purl = f"pkg:pypi/{quote(name, safe='')}@{quote(version, safe='')}?file_name={quote(filename, safe='')}"
    # One component per member: a bom-ref is unique, and each library has its own member.
    unique = {lib.member: lib for lib in vendored}
    components = [_component(unique[member]) for member in sorted(unique)]
    doc = {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "version": 1,
        "metadata": {
            "component": {"type": "library", "bom-ref": purl, "name": name, "version": version, "purl": purl},
            "tools": {"components": [{"type": "application", "name": "toolkit", "version": __version__},
                                     {"type": "application", "name": tool.split()[0],
                                      "version": tool.split()[-1]}]},
        },
        "components": components,
        "dependencies": [{"ref": purl, "dependsOn": [c["bom-ref"] for c in components]},
                         *({"ref": c["bom-ref"]} for c in components)],
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


def _component(lib: Vendored) -> dict[str, object]:
    properties = [{"name": "toolkit:vendored-from", "value": lib.source.replace("\\", "/").rsplit("/", 1)[-1]},
                  {"name": "toolkit:member", "value": lib.member}]
    if lib.sha256:
        properties.append({"name": "toolkit:source-sha256", "value": lib.sha256})
    component: dict[str, object] = {"type": "library", "bom-ref": f"vendored:{lib.member}", "name": lib.name}
    if lib.version:
        component["version"] = lib.version
    if lib.purl:
        component["purl"] = lib.purl
    if lib.wheel_sha256:
        component["hashes"] = [{"alg": "SHA-256", "content": lib.wheel_sha256}]
    component["properties"] = properties
    return component

"""Ad-hoc code signatures redone in place after a Mach-O slice's load commands were edited, as
Apple's install_name_tool does for a linker-signed binary: same blobs, same size, new hashes.

Written by hand because no library of the field signs off macOS (macholib edits load commands but
leaves the signature stale; codesign is Apple's). An edit of install names changes only the load
commands inside the header's padding, so the code limit, the page count and the signature's size
stay; every page hash and the special slots of blobs in the signature (the requirements) are
recomputed, for each CodeDirectory (SHA-256, and SHA-1 where an alternate one exists).
"""

from __future__ import annotations

from typing import Any

from toolkit.binaries.codesign import (
    BLOBWRAPPER_MAGIC,
    CS_ADHOC,
    expected_hashes,
    slice_signature,
)
from toolkit.errors import RepairError


def resign_adhoc(data: bytearray, header: Any, member: str) -> bool:
    """Recompute one slice's signature in `data` (the whole file); False when the slice is unsigned."""
    signature = slice_signature(header, data)
    if signature is None:
        return False
    cms = signature.blobs.get(0x10000)
    if any(not cd.flags & CS_ADHOC for cd in signature.directories) or (cms and cms[1] > 8):
        # A certificate's CMS signature covers the CodeDirectory: it cannot be redone without the key,
        # and turning it into an ad-hoc one would drop the team identity its maker chose.
        raise RepairError(f"{member} is signed with a certificate, which an edit of its load commands breaks",
                          hint="repair this wheel on macOS (delocate re-signs there), or sign it again afterwards")
    if cms and int.from_bytes(data[header.offset + cms[0]:header.offset + cms[0] + 4], "big") != BLOBWRAPPER_MAGIC:
        raise RepairError(f"{member}: its code signature has an unknown signature slot",
                          hint="repair this wheel on macOS")
    view = memoryview(data)[header.offset:header.offset + header.size]
    # Special slots first: they hash blobs that do not change; the CodeDirectory's pages include none of it.
    for cd in signature.directories:
        for slot, digest in expected_hashes(signature, cd, view):
            if digest is not None:
                view[cd.slot(slot):cd.slot(slot) + cd.hash_size] = digest
    return True

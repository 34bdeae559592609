"""PE members (Windows): the machine type from the headers only, and the DLL
imports when the abi3 rule needs them, read from the bytes with pefile (the Windows tags are in toolkit/tags.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

_PREFIX = "IMAGE_FILE_MACHINE_"


@dataclass(frozen=True)
class PeInfo:
    member: str
    machine: str  # I386, AMD64, ARM64... (or the number, for one pefile does not name)
    # lower-cased DLL name -> imported symbol names (only collected for abi3 wheels)
    imports: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def parse_pe(member: str, data: bytes, *, imports: bool) -> PeInfo:
    """Raises pefile's errors on a malformed file: the caller reports them."""
    import pefile

    # Not closed: with bytes there is no file or mmap to release, and pefile's close()
    # runs a full gc.collect() (about 15 ms each time).
    pe = pefile.PE(data=data, fast_load=True)
    number = pe.FILE_HEADER.Machine
    name = pefile.MACHINE_TYPE.get(number)
    machine = name[len(_PREFIX):] if isinstance(name, str) else f"{number:#06x}"
    return PeInfo(member, machine, _imports(pe) if imports else {})


def _imports(pe: object) -> dict[str, tuple[str, ...]]:
    import pefile

    entry = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"]
    pe.parse_data_directories(directories=[entry])  # type: ignore[attr-defined]
    found: dict[str, tuple[str, ...]] = {}
    for dll in getattr(pe, "DIRECTORY_ENTRY_IMPORT", []):
        names = tuple(i.name.decode("ascii", "replace") for i in dll.imports if i.name)  # by-ordinal imports have none
        key = dll.dll.decode("ascii", "replace").lower()
        found[key] = found.get(key, ()) + names
    return found

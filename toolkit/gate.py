"""The check stage as repair and publish use it without importing it. A Gate says why a file may not go on (its
first error and how many more), or None. An UploadGate, publish's, says the same in a Verdict, and can hand back
the metadata member publish will send, as the check's walk of the archive read it (an sdist's PKG-INFO is found
only by walking the tar: publish would walk it a second time). Who composes the stages (cli, release) makes
them with `toolkit.check.gate` / `repair_gate` and passes them in."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    hint: str
    more: int = 0  # errors after the first


@dataclass(frozen=True)
class Verdict:
    refusal: Refusal | None  # None: the file may go on
    metadata: bytes | None = None  # the member `metadata` picked, as the walk read it; None: not read (a remembered
    # verdict walks nothing), not found, or over 16 MiB


# Given the names of the archive's regular files in archive order, the one whose bytes the gate hands back.
MetadataPick = Callable[[Sequence[str]], "str | None"]

# Picklable when it is a module-level function or a functools.partial of one: publish runs it in worker processes.
Gate = Callable[[Path], "Refusal | None"]


class UploadGate(Protocol):
    def __call__(self, path: Path, /, *, sha256: str | None = None, metadata: MetadataPick | None = None) -> Verdict:
        """`sha256`: the file's digest, already computed by the caller (the check's key for remembered verdicts)."""
        ...

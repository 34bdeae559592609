"""The check stage as repair and publish use it without importing it: a Gate says why a file may not go on
(its first error and how many more), or None. Who composes the stages (cli, release) makes one with
`toolkit.check.gate` and passes it in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    hint: str
    more: int = 0  # errors after the first


# Picklable when it is a module-level function or a functools.partial of one: publish runs it in worker processes.
Gate = Callable[[Path], "Refusal | None"]

"""The registry of check rules: one small function per rule, each with a stable code.

A rule takes a DistView and yields problems (a message, or a message and a
hint); the registry turns them into Findings with the rule's code and level.
Codes that mirror a PyPI upload rejection use the ids of
shared/pypi-upload-rules.md (N012, M003, Z005...) and carry PyPI's own message;
toolkit's stricter rules use the same family letter with numbers from 100.
The registry is also the source of the documented table of codes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from toolkit.check.report import Finding, Level, RefusedBy

if TYPE_CHECKING:
    from toolkit.check.view import DistView

Applies = Literal["any", "wheel", "sdist"]
Problem = str | tuple[str, str]  # a message, or (message, hint)
RuleFunc = Callable[["DistView"], Iterable[Problem]]


@dataclass(frozen=True)
class Rule:
    code: str
    level: Level
    refused_by: RefusedBy
    applies: Applies
    summary: str
    func: RuleFunc
    hint: str | None = None
    needs_archive: bool = True  # False: runs even when the archive could not be opened

    def run(self, dist: DistView) -> Iterator[Finding]:
        for problem in self.func(dist) or ():
            message, hint = (problem, self.hint) if isinstance(problem, str) else problem
            yield Finding(self.code, self.level, self.refused_by, message, hint)

    @property
    def pypi_rejects(self) -> bool:
        return self.refused_by == "pypi"


RULES: dict[str, Rule] = {}


def rule(
    code: str,
    *,
    level: Level = "error",
    pypi_rejects: bool = False,
    refused_by: RefusedBy | None = None,
    applies: Applies = "any",
    summary: str,
    hint: str | None = None,
    needs_archive: bool = True,
) -> Callable[[RuleFunc], RuleFunc]:
    """Register a rule function under a stable code. `refused_by` says who refuses a file with
    this finding (`pypi_rejects=True` is short for "pypi"; the default is toolkit's own rule)."""
    by: RefusedBy = refused_by or ("pypi" if pypi_rejects else "toolkit")

    def register(func: RuleFunc) -> RuleFunc:
        if code in RULES:
            raise RuntimeError(f"rule code {code} registered twice")
        RULES[code] = Rule(code, level, by, applies, summary, func, hint, needs_archive)
        return func

    return register


# The module of each family of codes (its first letter; N for filename.py, K here): what `load` imports for a few.
# tests/test_check_verdicts.py holds it to the registry.
FAMILIES = {"toolkit.check.indexstate": "I", "toolkit.check.rules.abi3t": "B", "toolkit.check.rules.archive": "Z",
            "toolkit.check.rules.binaries": "B", "toolkit.check.rules.contents": "C",
            "toolkit.check.rules.entry_points": "W", "toolkit.check.rules.filename": "N",
            "toolkit.check.rules.install": "W", "toolkit.check.rules.layout": "ISWX", "toolkit.check.rules.metadata": "M",
            "toolkit.check.rules.readme": "D", "toolkit.check.rules.record": "R", "toolkit.check.rules.uploader": "M"}


def load_all() -> dict[str, Rule]:
    """Import every rule module (registration happens at import) and return the registry."""
    return load(None)


def load(prefixes: tuple[str, ...] | None) -> dict[str, Rule]:
    """Import the rule modules of the codes that start with one of `prefixes` (all with None) and return the
    registry (it may hold more: modules imported earlier)."""
    import importlib

    families = None if prefixes is None else {p[0] for p in prefixes} | {"K"}
    for module, letters in FAMILIES.items():
        if families is None or families & set(letters):
            importlib.import_module(module)
    return RULES


def _reported_by_the_stage(dist: DistView) -> Iterable[Problem]:
    return ()  # check_file itself reports these two: they are about the run, not about a rule's verdict


rule("K000", summary="a rule crashed on this file (a bug in toolkit; the other rules still ran)",
     hint="please report this to toolkit's developers with the file", needs_archive=False)(_reported_by_the_stage)
rule("K001", summary="the file cannot be read at all", hint="check that the file exists and is readable",
     needs_archive=False)(_reported_by_the_stage)

"""The index's verdicts as check findings: the I codes (toolkit/indexstate.py judges, publish/remote.py reads the
index) registered beside the file rules, so `--list-codes`, the docs and the JSON know them, and `check --index`
reports them with the file's other findings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.check.report import Finding, Report
from toolkit.check.rules import RULES, rule
from toolkit.indexstate import HINTS, INDEX_RULES, Verdict

if TYPE_CHECKING:
    from toolkit.check.view import DistView


def _from_the_index(dist: DistView) -> Iterable[str]:
    return ()  # judged from the index's state (toolkit check --index, publish, release), not from the file


for _code, (_by, _level, _summary) in INDEX_RULES.items():
    rule(_code, refused_by=_by, level=_level, summary=_summary, hint=HINTS[_code],  # type: ignore[arg-type]
         needs_archive=False)(_from_the_index)


def finding(verdict: Verdict) -> Finding:
    r = RULES[verdict.code]
    return Finding(verdict.code, r.level, r.refused_by, verdict.message, r.hint)


def add_verdicts(report: Report, found: Mapping[Path, list[Verdict]]) -> None:
    """`toolkit check --index`: what the index will say joins each file's findings."""
    for f in report.files:
        f.findings.extend(finding(v) for v in found.get(f.path, []))

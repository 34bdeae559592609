"""`toolkit check` against the real tools: on generated wheels and sdists with one or two defects
(tests/defects.py), toolkit reports an error exactly when pip, uv, pypa/installer, twine or PyPI's
rules refuse the file (tests/oracles.py), or when the defect is one of toolkit's own refusals.

`python tests/test_check_oracle.py [COUNT] [SEED]` prints the agreement figures.
"""

from __future__ import annotations

import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from defects import Spec, build, generate
from oracles import verdicts

from toolkit.check import check_file

SEED = 12


@dataclass
class Outcome:
    spec: Spec
    path: Path
    oracles: dict[str, str | None]
    toolkit: list[str]  # "CODE: message" of each error

    @property
    def refused(self) -> bool:
        return self.spec.toolkit_refuses or any(self.oracles.values())

    @property
    def agrees(self) -> bool:
        return self.refused == bool(self.toolkit)

    def describe(self) -> str:
        who = {k: v for k, v in self.oracles.items() if v} or "none"
        return (f"{self.path.name} with {self.spec.defects or ['no defect']}:\n  refused by: {who}"
                f"{' (and toolkit policy)' if self.spec.toolkit_refuses else ''}\n  toolkit errors: "
                + ("\n    ".join(["", *self.toolkit]) if self.toolkit else "none"))


def judge(count: int, seed: int, folder: Path) -> list[Outcome]:
    specs = generate(seed, count)
    paths = []
    for i, spec in enumerate(specs):
        (folder / str(i)).mkdir()
        paths.append(build(spec, folder / str(i)))
    with ThreadPoolExecutor(max_workers=2) as pool:  # the tools run as subprocesses: two at a time
        answers = list(pool.map(verdicts, paths))
    outcomes = []
    for spec, path, oracle in zip(specs, paths, answers, strict=True):
        errors = [f"{f.code}: {f.message}" for f in check_file(path).errors]
        outcomes.append(Outcome(spec, path, oracle, errors))
    return outcomes


def figures(outcomes: list[Outcome]) -> str:
    false_errors = sum(1 for o in outcomes if o.toolkit and not o.refused)
    missed = sum(1 for o in outcomes if o.refused and not o.toolkit)
    agree = sum(1 for o in outcomes if o.agrees)
    refused = sum(1 for o in outcomes if o.refused)
    return (f"{len(outcomes)} files ({refused} refused by a tool or by toolkit's policy): {agree} agree, "
            f"{false_errors} false errors, {missed} missed refusals")


def _assert_agreement(outcomes: list[Outcome]) -> None:
    wrong = [o.describe() for o in outcomes if not o.agrees]
    assert not wrong, figures(outcomes) + "\n" + "\n".join(wrong)


def test_generated_files_get_the_real_tools_verdict(tmp_path: Path) -> None:
    outcomes = judge(30, SEED, tmp_path)
    assert sum(o.refused for o in outcomes) >= 10 and sum(not o.refused for o in outcomes) >= 5  # both kinds seen
    _assert_agreement(outcomes)


@pytest.mark.slow
def test_many_generated_files_get_the_real_tools_verdict(tmp_path: Path) -> None:
    _assert_agreement(judge(400, SEED + 1, tmp_path))


if __name__ == "__main__":
    n, seed = (int(sys.argv[1]) if len(sys.argv) > 1 else 40), (int(sys.argv[2]) if len(sys.argv) > 2 else SEED)
    with tempfile.TemporaryDirectory() as tmp:
        results = judge(n, seed, Path(tmp))
        for o in results:
            if not o.agrees:
                print(o.describe())
        print(figures(results))
        by_tool: dict[str, int] = {}
        for o in results:
            for tool in [k for k, v in o.oracles.items() if v] + (["toolkit policy"] if o.spec.toolkit_refuses else []):
                by_tool[tool] = by_tool.get(tool, 0) + 1
        print("refusals by tool:", ", ".join(f"{k} {v}" for k, v in sorted(by_tool.items())))

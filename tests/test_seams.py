"""The seams between stages, read from the source: every import of every module under toolkit/ (module-level
and inside functions), resolved to the module it names. Stages stay apart; what two stages share lives below
them (uploadform, binaries, dist, config, tags...), and only release and cli compose stages."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "toolkit"
STAGES = ("build", "repair", "check", "attest", "publish", "ci", "release")
COMPOSERS = ("release", "cli", "commands")  # they run stages one after another, so they may import them


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    line: int
    module: str  # the module imported (a submodule when `from package import submodule`)
    name: str | None  # the name taken from it, None for the module itself


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def imports(root: Path = ROOT) -> Iterator[Import]:
    """Every toolkit import in every module under `root`, at any depth of the syntax tree."""
    known = modules(root)
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(name, node.lineno, alias.name, None)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    if sub in known:  # `from toolkit import check` names the module toolkit.check
                        yield Import(name, node.lineno, sub, None)
                    else:
                        yield Import(name, node.lineno, base, alias.name)


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "toolkit" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in (*STAGES, "cli", "commands") else None


def crossings(found: Iterator[Import]) -> list[Import]:
    """The imports into a stage from outside it (another stage, cli, or a shared module)."""
    return [i for i in found if stage_of(i.importer) != (s := stage_of(i.module)) and s not in (None, "cli")]


def problems(found: list[Import]) -> dict[str, list[Import]]:
    """Each rule and the imports that break it; `found` are crossings."""
    between = [i for i in found if stage_of(i.importer) is not None]
    return {
        "cycle": [i for i in between if any(stage_of(i.importer) in g for g in cycles(between))],
        "private": [i for i in found if private(i)],
        "crossing": [i for i in between if stage_of(i.importer) not in COMPOSERS],
        "shared": [i for i in found if stage_of(i.importer) is None],
    }


def cycles(edges: list[Import]) -> list[list[str]]:
    """The strongly connected groups of two or more stages (Tarjan's algorithm: the graph is tiny)."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(str(stage_of(e.importer)), set()).add(str(stage_of(e.module)))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while (top := stack.pop()) != node:
                group.append(top)
            group.append(node)
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def private(i: Import) -> bool:
    """A private module (`check._members`) or a private name (`_names`) of a stage."""
    parts = i.module.split(".")[2:] + ([i.name] if i.name else [])
    return any(p.startswith("_") and not p.startswith("__") for p in parts)


def describe(found: list[Import]) -> str:
    return "\n".join(f"{i.importer}:{i.line} imports {i.module}{'.' + i.name if i.name else ''}" for i in found)


def test_no_cycle_between_stages() -> None:
    assert not (found := problems(crossings(imports()))["cycle"]), describe(found)


def test_no_stage_reaches_into_another_stages_private_names() -> None:
    assert not (found := problems(crossings(imports()))["private"]), describe(found)


def test_only_release_and_cli_import_stages() -> None:
    assert not (found := problems(crossings(imports()))["crossing"]), describe(found)


def test_shared_modules_import_no_stage() -> None:
    """What stages share sits below them: a shared module that imported a stage would tie that stage to all."""
    assert not (found := problems(crossings(imports()))["shared"]), describe(found)


@pytest.mark.parametrize(("files", "expected"), [
    ({"tags.py": "from toolkit.check import _x\n", "check/__init__.py": "\n"}, {"private", "shared"}),
    ({"publish/__init__.py": "def f():\n    from toolkit import check\n", "check/__init__.py": "from . import y\n",
      "check/y.py": "import toolkit.publish.z\n", "publish/z.py": "\n"}, {"cycle", "crossing"}),
    ({"release.py": "from toolkit.check import check\n", "check/__init__.py": "from ..dist import Dist\n",
      "dist.py": "\n", "cli.py": "from toolkit import release\n"}, set()),
    ({"release.py": "from toolkit.check._members import walk\n", "check/_members.py": "\n"}, {"private"}),
])
def test_the_walker_sees_what_it_must(tmp_path: Path, files: dict[str, str], expected: set[str]) -> None:
    """The rules on small made-up trees: a relative import, an import inside a function, a private module."""
    root = tmp_path / "toolkit"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    assert {rule for rule, found in problems(crossings(imports(root))).items() if found} == expected


def test_every_toolkit_import_names_a_module_that_exists() -> None:
    """A module moved or renamed leaves no import behind (one inside a function fails only when it runs)."""
    known = modules()
    stale = [i for i in imports() if i.module.startswith("toolkit") and i.module not in known]
    assert not stale, "\n".join(f"{i.importer}:{i.line} imports {i.module}" for i in stale)


def test_the_tests_and_benchmarks_import_only_modules_that_exist() -> None:
    """A test marked slow, or a benchmark, that imports a moved module fails only under .ci/run, or never."""
    known = modules()
    stale = []
    for folder in ("tests", "benchmarks", "examples"):
        for path in sorted((ROOT.parent / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
                stale += [f"{path.relative_to(ROOT.parent)}:{node.lineno} imports {n}" for n in names
                          if n.startswith("toolkit.") and n not in known]
    assert not stale, "\n".join(stale)

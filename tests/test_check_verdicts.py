"""Remembered verdicts (check/verdicts.py): a file's findings are kept by its sha256, its name and the rule set,
so that checking the same bytes again reads the verdict instead of judging them again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from distfactory import make_wheel, metadata_text

from toolkit.check import check_file
from toolkit.check.verdicts import file_digest, ruleset_version

BAD = metadata_text(extra="Requires_Dist: foo\n")  # twine refuses it (M101)


def _verdicts(cache: Path) -> list[Path]:
    return sorted((cache / "check-verdicts").rglob("*.json"))


def _check(cache: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TOOLKIT_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "toolkit", "check", *map(str, args)], capture_output=True, text=True,
                          check=False, env=env)


def test_a_second_check_reads_the_remembered_verdict(tmp_path: Path) -> None:
    cache, wheel = tmp_path / "cache", make_wheel(tmp_path)
    assert _check(cache, wheel).returncode == 0
    entry, = _verdicts(cache)
    assert entry.parent.name == ruleset_version() and entry.name.startswith(file_digest(wheel))
    # The same bytes again: the remembered verdict is what is reported (edited here to show it is read).
    doc = json.loads(entry.read_text())
    doc["findings"] = [{"code": "M101", "level": "error", "refused_by": "twine", "message": "remembered", "hint": None}]
    entry.write_text(json.dumps(doc))
    second = _check(cache, wheel)
    assert second.returncode == 1 and "M101 error [twine refuses]: remembered" in second.stdout


def test_other_bytes_or_another_name_are_judged_again(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (tmp_path / "a").mkdir()
    good = make_wheel(tmp_path / "a")
    assert _check(cache, good).returncode == 0
    bad = make_wheel(tmp_path, metadata=BAD)  # same name, other bytes
    assert "M101" in _check(cache, bad).stdout
    renamed = good.rename(tmp_path / "a" / "Demo_Pkg-1.0-py3-none-any.whl")  # same bytes, another name
    assert "N023 error [PyPI rejects]" in _check(cache, renamed).stdout
    assert len(_verdicts(cache)) == 3


def test_ignore_and_strict_apply_to_a_remembered_verdict(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, files={"demo_pkg/__init__.py": b"", "demo_pkg/__pycache__/x.cpython-312.pyc": b"\0"})
    first = [(f.code, f.level) for f in check_file(wheel).findings]
    assert ("C102", "warning") in first
    assert ("C102", "error") in [(f.code, f.level) for f in check_file(wheel, strict=True).findings]
    assert "C102" not in [f.code for f in check_file(wheel, ignore=["C102"]).findings]
    assert [(f.code, f.level) for f in check_file(wheel).findings] == first


def test_each_family_of_codes_is_found_where_rules_load_says() -> None:
    """load(prefixes) imports only the modules FAMILIES names for them: each module registers exactly its letters."""
    from toolkit.check.rules import FAMILIES, load_all

    registered: dict[str, set[str]] = {}
    for code, rule in load_all().items():
        registered.setdefault(rule.func.__module__, set()).add(code[0])
    assert registered.pop("toolkit.check.rules") == {"K"}
    assert registered == {module: set(letters) for module, letters in FAMILIES.items()}


def test_the_repair_gate_judges_what_repair_writes_only_and_remembers_no_verdict(tmp_path: Path) -> None:
    """A wheel whose metadata twine refuses (M101) passes the repair gate (repair takes the metadata from its input;
    `toolkit check` judges it), without the metadata rules even loaded, and leaves no partial verdict behind;
    a RECORD that does not match (R101) is refused."""
    import zipfile

    wheel = make_wheel(tmp_path, metadata=BAD)
    broken = tmp_path / "broken" / wheel.name
    broken.parent.mkdir()
    with zipfile.ZipFile(wheel) as zin, zipfile.ZipFile(broken, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            zout.writestr(item, data + b"# changed\n" if item.filename.endswith(".py") else data)
    script = ("import sys; from pathlib import Path; from toolkit.check import repair_gate; gate = repair_gate()\n"
              "print(gate(Path(sys.argv[1])), gate(Path(sys.argv[2])).code,"
              " 'toolkit.check.rules.metadata' in sys.modules, 'toolkit.check.rules.readme' in sys.modules)")
    env = {**os.environ, "TOOLKIT_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", script, str(wheel), str(broken)], capture_output=True, text=True,
                          check=True, env=env)
    assert proc.stdout.split() == ["None", "R101", "False", "False"]
    assert _verdicts(tmp_path / "cache") == []
    assert [f.code for f in check_file(wheel).errors] == ["M101"]  # `toolkit check` still judges every rule

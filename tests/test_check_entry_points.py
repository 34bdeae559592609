"""W114: entry_points.txt scripts that pip, uv or pypa/installer refuse to install, each named; every case is
also installed by the real tools (tests/oracles.py), so that the expectation is theirs, not toolkit's."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from distfactory import make_wheel
from oracles import installer_refuses, pip_refuses, uv_refuses

from toolkit.check import check_file
from toolkit.check.rules import load_all

EP = "demo_pkg-1.0.dist-info/entry_points.txt"

# entry_points.txt -> the installers that refuse it (in W114's order: pip, uv, pypa/installer)
CASES = {
    "[console_scripts]\ntool =\n": ["pip", "uv", "pypa/installer"],
    "[console_scripts]\ntool = not a valid :: reference\n": ["pip", "uv", "pypa/installer"],
    "[console_scripts]\ntool = %(x)s\n": ["pip", "uv", "pypa/installer"],
    "[console_scripts]\ntool = demo_pkg:f  # comment\n": ["uv", "pypa/installer"],
    "[console_scripts]\ntool = demo_pkg:f 100%\n": ["uv", "pypa/installer"],
    "[gui_scripts]\ntool = demo-pkg:f\n": ["pip", "pypa/installer"],
    "[console_scripts]\ntool = demo_pkg : f\n": ["pip"],
    "[console_scripts]\ntool = demo_pkg:f []\n": ["pip", "uv"],
    "[console_scripts]\n. = demo_pkg:f\n": ["pip", "uv"],
    "[console_scripts]\n.. = demo_pkg:f\n": ["pip", "uv", "pypa/installer"],
    "[DEFAULT]\nx = bad ::\n[console_scripts]\ntool = demo_pkg:f\n": ["uv", "pypa/installer"],
    "[console_scripts]\ntool = demo_pkg:f\n[gui_scripts]\ntool = demo_pkg:f\n": ["pypa/installer"],
    # found by the oracle (seed 13): a continuation line in any group stops importlib.metadata, so pip
    "[my.plugins]\nx = demo_pkg:f\n  more\n": ["pip"],
    # accepted by all three
    "[console_scripts]\ntool = demo_pkg:f [extra]\n": [],
    "[console_scripts]\ntool = demo_pkg.core:main.run\n": [],
    "[my.plugins]\nx = not valid ::\n": [],
}


def _wheel(folder: Path, text: str) -> Path:
    return make_wheel(folder, files={"demo_pkg/__init__.py": b"def f(): pass\n", EP: text.encode()})


def _real_refusers(path: Path) -> list[str]:
    answers = {"pip": pip_refuses(path), "uv": uv_refuses(path), "pypa/installer": installer_refuses(path)}
    return [tool for tool, why in answers.items() if why]


def _wheels(folder: Path) -> list[Path]:
    paths = []
    for i, text in enumerate(CASES):
        (folder / str(i)).mkdir()
        paths.append(_wheel(folder / str(i), text))
    return paths


def test_w114_names_the_installers_that_refuse(tmp_path: Path) -> None:
    for (text, expected), path in zip(CASES.items(), _wheels(tmp_path), strict=True):
        findings = [f for f in check_file(path).findings if f.code == "W114"]
        named = [tool for tool in ("pip", "uv", "pypa/installer") if any(f"{tool} refuses" in f.message for f in findings)]
        assert named == expected, (text, [f.message for f in findings])
        assert all(f.level == "error" and f.refused_by == "installer" for f in findings)


@pytest.mark.slow
def test_the_real_installers_refuse_what_w114_says(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        real = list(pool.map(_real_refusers, _wheels(tmp_path)))
    for (text, expected), refusers in zip(CASES.items(), real, strict=True):
        assert refusers == expected, f"the installers changed their verdict on {text!r}: {refusers}"


def test_w114_message_names_the_entry_and_why(tmp_path: Path) -> None:
    finding, = [f for f in check_file(_wheel(tmp_path, "[console_scripts]\ntool = %(x)s\n")).findings
                if f.code == "W114"]
    assert finding.message.startswith("entry_points.txt [console_scripts] tool = '%(x)s': ")
    assert "pypa/installer refuses it (InterpolationMissingOptionError" in finding.message
    assert "module:function" in (finding.hint or "")


@pytest.mark.parametrize("text", ["[console_scripts]\ntool: demo_pkg:f\n", "tool = demo_pkg:f\n"])
def test_w114_leaves_a_broken_ini_to_w004(tmp_path: Path, text: str) -> None:
    codes = [f.code for f in check_file(_wheel(tmp_path, text)).findings]
    assert "W004" in codes and "W114" not in codes


def test_w114_is_listed_with_who_refuses() -> None:
    rule = load_all()["W114"]
    assert (rule.refused_by, rule.level, rule.applies) == ("installer", "error", "wheel")

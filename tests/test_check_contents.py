"""Contents rules (C101-C106): what a wheel or sdist should not carry; warnings, never PyPI rejections."""

from __future__ import annotations

from pathlib import Path

import pytest
from distfactory import make_sdist, make_wheel

from toolkit.check import check_file

DI = "demo_pkg-1.0.dist-info"


def warnings(path: Path) -> list[tuple[str, str]]:
    found = [f for f in check_file(path).findings if f.code.startswith("C1")]
    assert all(f.level == "warning" and not f.pypi_rejects for f in found)
    return [(f.code, f.message) for f in found]


def test_a_plain_wheel_and_sdist_have_no_contents_warnings(tmp_path: Path) -> None:
    assert warnings(make_wheel(tmp_path)) == []
    assert warnings(make_sdist(tmp_path)) == []


def test_c101_the_same_bytes_under_several_names(tmp_path: Path) -> None:
    body = b"def helper():\n    return 42\n"
    path = make_wheel(tmp_path, files={
        "demo_pkg/__init__.py": b"",
        "demo_pkg/util.py": body,
        "demo_pkg/vendored/util.py": body,
        "demo_pkg/sub/__init__.py": b"",  # empty, and __init__.py: never reported
        "demo_pkg/other/__init__.py": b"# -*- coding: utf-8 -*-\n",
        "demo_pkg/other/mod.py": b"\n",  # trivial content
        "demo_pkg/third/mod.py": b"\n",
        "demo_pkg/LICENSE": b"MIT License\n",
        f"{DI}/licenses/LICENSE": b"MIT License\n",  # .dist-info files are placed by the spec
    })
    assert warnings(path) == [("C101", f"the same {len(body)}-byte file is in the wheel 2 times: "
                                       "demo_pkg/util.py, demo_pkg/vendored/util.py")]


def test_c102_bytecode_in_a_wheel_and_an_sdist(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, files={
        "demo_pkg/__init__.py": b"",
        "demo_pkg/__pycache__/__init__.cpython-311.pyc": b"\x00pyc",
        "demo_pkg/old.pyo": b"\x00pyo",
    })
    assert warnings(wheel) == [("C102", "2 compiled bytecode file(s): demo_pkg/__pycache__/__init__.cpython-311.pyc, "
                                        "demo_pkg/old.pyo")]
    sdist = make_sdist(tmp_path, files={"pyproject.toml": b"", "src/a.pyc": b"\x00"})
    assert warnings(sdist) == [("C102", "1 compiled bytecode file(s): demo_pkg-1.0/src/a.pyc")]


@pytest.mark.parametrize("name, expected", [
    ("tests/__init__.py", [("C103", "the wheel installs a top-level 'tests' package")]),
    ("test/test_x.py", [("C103", "the wheel installs a top-level 'test' package")]),
    ("demo_pkg-1.0.data/purelib/tests/test_x.py", [("C103", "the wheel installs a top-level 'tests' package")]),
    ("demo_pkg/tests/test_x.py", []),  # inside the package: fine
    ("src/demo_pkg/__init__.py", [("C104", "the wheel installs a top-level 'src' folder: its packages import "
                                           "as src.<name>")]),
])
def test_c103_c104_top_level_tests_and_src(tmp_path: Path, name: str, expected: list[tuple[str, str]]) -> None:
    path = make_wheel(tmp_path, files={"demo_pkg/__init__.py": b"", name: b"x = 1\n"})
    assert warnings(path) == expected


def test_c103_is_not_applied_to_sdists(tmp_path: Path) -> None:
    assert warnings(make_sdist(tmp_path, files={"pyproject.toml": b"", "tests/test_x.py": b""})) == []


@pytest.mark.parametrize("files, empty", [
    ({}, True),
    ({"demo_pkg-1.0.data/data/share/doc.txt": b"doc"}, True),
    ({"demo_pkg-1.0.data/scripts/tool": b"#!python\n"}, True),
    ({"demo_pkg-stubs/__init__.pyi": b"x: int\n"}, False),  # a stub-only package
    ({"demo_pkg-1.0.data/platlib/_fast.so": b"\x7fELF"}, False),
    ({"demo.pth": b"import demo\n"}, False),
])
def test_c105_a_wheel_without_modules(tmp_path: Path, files: dict[str, bytes], empty: bool) -> None:
    found = warnings(make_wheel(tmp_path, files=files))
    assert found == ([("C105", "the wheel holds no Python module or package outside .dist-info")] if empty else [])


def test_c106_leftovers(tmp_path: Path) -> None:
    files = {
        "demo_pkg/__init__.py": b"",
        "demo_pkg/.DS_Store": b"\0",
        "demo_pkg/core.py.orig": b"a = 1",
        "demo_pkg/core.py.rej": b"a = 2",
        "demo_pkg/core.py~": b"a = 3",
        "demo_pkg/.git/config": b"[core]",
        "demo_pkg/.gitignore": b"*.pyc",  # not junk
    }
    assert warnings(make_wheel(tmp_path, files=files)) == [
        ("C106", "5 leftover file(s): demo_pkg/.DS_Store, demo_pkg/core.py.orig, demo_pkg/core.py.rej, "
                 "demo_pkg/core.py~, demo_pkg/.git/config"),
    ]
    sdist = make_sdist(tmp_path, files={"pyproject.toml": b"", ".hg/store": b"", "a/Thumbs.db": b"",
                                        "b/c.swp": b"", "d/e.py": b""})
    assert warnings(sdist) == [("C106", "3 leftover file(s): demo_pkg-1.0/.hg/store, demo_pkg-1.0/a/Thumbs.db, "
                                        "demo_pkg-1.0/b/c.swp")]


def test_long_lists_are_shortened(tmp_path: Path) -> None:
    files = {"demo_pkg/__init__.py": b""} | {f"demo_pkg/m{i}.pyc": b"" for i in range(8)}
    (code, message), = warnings(make_wheel(tmp_path, files=files))
    assert message == ("8 compiled bytecode file(s): demo_pkg/m0.pyc, demo_pkg/m1.pyc, demo_pkg/m2.pyc, "
                       "demo_pkg/m3.pyc, demo_pkg/m4.pyc and 3 more")

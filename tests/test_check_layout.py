"""Layout rules: PyPI's sdist and wheel layout checks (S, W, X001, I009) with PyPI's messages,
and toolkit's consistency rules between filename, WHEEL and METADATA (W1xx, S1xx)."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest
from distfactory import make_sdist, make_wheel, metadata_text

from toolkit.check import check_file
from toolkit.check.report import Finding

LAYOUT = ("S", "W", "X", "I009")
INVALID = "Invalid distribution file. "
LICENSE_24 = metadata_text(extra="License-File: LICENSE\n")


def found(path: Path, *prefixes: str) -> list[Finding]:
    return [f for f in check_file(path).findings if f.code.startswith(prefixes or LAYOUT)]


def pairs(path: Path, *prefixes: str) -> list[tuple[str, str]]:
    return [(f.code, f.message) for f in found(path, *prefixes)]


def tar_of(path: Path, names: dict[str, bytes]) -> Path:
    """A .tar.gz with exactly these member names (tests about odd names)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in names.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_good_sdist_and_wheel_have_no_layout_findings(tmp_path: Path) -> None:
    assert pairs(make_sdist(tmp_path)) == []
    assert pairs(make_wheel(tmp_path)) == []


# -- S: sdist layout


def test_s001_two_top_level_folders(tmp_path: Path) -> None:
    path = tar_of(tmp_path / "demo_pkg-1.0.tar.gz", {"demo_pkg-1.0/PKG-INFO": b"", "other/x.py": b""})
    finding, = found(path, "S001")
    assert (finding.message, finding.pypi_rejects, finding.level) == (
        INVALID + "Incorrect number of top-level directories in sdist", True, "error")


def test_s001_files_at_the_root(tmp_path: Path) -> None:
    path = tar_of(tmp_path / "demo_pkg-1.0.tar.gz", {"PKG-INFO": b"", "setup.py": b""})
    assert pairs(path, "S00") == [("S001", INVALID + "Incorrect number of top-level directories in sdist")]


def test_s001_absolute_and_relative_names_mixed(tmp_path: Path) -> None:
    path = tar_of(tmp_path / "demo_pkg-1.0.tar.gz", {"/demo_pkg-1.0/PKG-INFO": b"", "demo_pkg-1.0/x.py": b""})
    finding, = found(path, "S001")
    assert "HTTP 500" in (finding.hint or "")


def test_s002_pkg_info_missing(tmp_path: Path) -> None:
    path = tar_of(tmp_path / "demo_pkg-1.0.tar.gz", {"demo_pkg-1.0/setup.py": b"", "demo_pkg-1.0/a.py": b""})
    assert pairs(path, "S00") == [("S002", INVALID + "PKG-INFO not found at demo_pkg-1.0/PKG-INFO")]


def test_s002_a_lone_pkg_info_is_its_own_top(tmp_path: Path) -> None:
    path = make_sdist(tmp_path, files={})
    assert pairs(path, "S00") == [("S002", INVALID + "PKG-INFO not found at demo_pkg-1.0/PKG-INFO/PKG-INFO")]


def test_s002_dot_slash_names_are_not_found(tmp_path: Path) -> None:
    # commonpath drops the "./", the member lookup does not: PyPI refuses such an sdist.
    path = make_sdist(tmp_path, top="./demo_pkg-1.0")
    assert pairs(path, "S00") == [("S002", INVALID + "PKG-INFO not found at demo_pkg-1.0/PKG-INFO")]


def test_s003_license_file_missing_from_sdist(tmp_path: Path) -> None:
    path = make_sdist(tmp_path, pkg_info=LICENSE_24)
    finding, = found(path, "S003")
    assert finding.message == ("License-File LICENSE does not exist in distribution file demo_pkg-1.0.tar.gz "
                               "at demo_pkg-1.0/LICENSE")
    assert finding.pypi_rejects


def test_s003_license_file_present_or_not_sent(tmp_path: Path) -> None:
    present = make_sdist(tmp_path, pkg_info=LICENSE_24, files={"pyproject.toml": b"", "LICENSE": b"MIT"})
    assert pairs(present, "S003") == []
    # Below Metadata-Version 2.4 twine does not send License-File, so PyPI does not look for it.
    old = make_sdist(tmp_path, filename="old.tar.gz", pkg_info=metadata_text(mv="2.3", extra="License-File: X\n"))
    assert pairs(old, "S003") == []


def test_s101_defers_to_pypi_codes_when_the_form_carries_the_name(tmp_path: Path) -> None:
    # A plain mismatch is N011/N012 (PyPI's codes, from the form); S101 must not say it again.
    path = make_sdist(tmp_path, pkg_info=metadata_text("other-pkg", "2.0"))
    assert pairs(path, "S101") == []


def test_s101_reports_what_the_form_cannot_show(tmp_path: Path) -> None:
    # PyPI drops `Name: UNKNOWN` from the form; the file still names itself UNKNOWN inside.
    path = make_sdist(tmp_path, pkg_info=metadata_text("UNKNOWN", "1.0"))
    assert pairs(path, "S101") == [("S101", "PKG-INFO Name is 'UNKNOWN', the filename says 'demo-pkg'")]


def test_s102_sdist_without_pyproject(tmp_path: Path) -> None:
    path = make_sdist(tmp_path, files={"setup.py": b""})
    finding, = found(path, "S102")
    assert finding.level == "warning" and not finding.pypi_rejects
    assert finding.message == "the sdist has no pyproject.toml (looked for demo_pkg-1.0/pyproject.toml)"


# -- W: wheel layout


def test_w001_dist_info_spelled_differently_from_filename(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, filename="demo_pkg-1.0.0-py3-none-any.whl")
    assert pairs(path, "W00") == [
        ("W001", INVALID + "WHEEL not found at demo_pkg-1.0.0.dist-info/WHEEL"),
        ("W003", "Wheel 'demo_pkg-1.0.0-py3-none-any.whl' does not contain the required RECORD file: "
                 "demo_pkg-1.0.0.dist-info/RECORD"),
        ("W005", "Wheel 'demo_pkg-1.0.0-py3-none-any.whl' does not contain the required METADATA file: "
                 "demo_pkg-1.0.0.dist-info/METADATA"),
    ]


def test_w001_filename_without_name_and_version(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, filename="demo.whl")
    assert pairs(path, "W00") == [("W001", INVALID + "Unable to parse name and version from wheel filename")]


def test_w002_license_file_missing_from_wheel(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, metadata=LICENSE_24)
    assert pairs(path, "W002") == [("W002", "License-File LICENSE does not exist in distribution file "
                                            "demo_pkg-1.0-py3-none-any.whl at demo_pkg-1.0.dist-info/licenses/LICENSE")]
    ok = make_wheel(tmp_path, filename="demo_pkg-1.0-py2-none-any.whl", metadata=LICENSE_24,
                    files={"demo_pkg/__init__.py": b"", "demo_pkg-1.0.dist-info/licenses/LICENSE": b"MIT"})
    assert pairs(ok, "W002") == []


@pytest.mark.parametrize("record, why", [
    (False, "demo_pkg-1.0.dist-info/RECORD is missing"),
    ("demo_pkg/caf\xe9.py,,\n", None),  # non-ASCII is fine in UTF-8
    ("x" * 200_000 + ",,\n", "is not valid CSV (field larger than field limit (131072))"),
])
def test_w003_record_missing_or_unreadable(tmp_path: Path, record: bool | str, why: str | None) -> None:
    path = make_wheel(tmp_path, record=record)
    got = found(path, "W003")
    if why is None:
        assert got == []
        return
    finding, = got
    assert finding.message == ("Wheel 'demo_pkg-1.0-py3-none-any.whl' does not contain the required RECORD "
                               "file: demo_pkg-1.0.dist-info/RECORD")
    assert why in (finding.hint or "")


def test_w003_record_not_utf8(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, record=False)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("demo_pkg-1.0.dist-info/RECORD", b"caf\xe9.py,,\n")
    finding, = found(path, "W003")
    assert "not UTF-8" in (finding.hint or "")


ENTRY_POINTS_MESSAGE = ("Wheel 'demo_pkg-1.0-py3-none-any.whl' has invalid entry points defined in the "
                        "entry_points.txt file")


@pytest.mark.parametrize("text", [
    "[console_scripts]\ndemo: demo_pkg:main\n",  # ':' is not a delimiter
    "[console_scripts]\ndemo\n",  # key without value
    "demo = demo_pkg:main\n",  # before any section
    "[console_scripts]\ndemo = a:b\ndemo = a:c\n",  # duplicate key
    "[console_scripts]\na = a:b\n[console_scripts]\nb = a:c\n",  # duplicate section
    "[console_scripts]\nmy tool = demo_pkg:main\n",  # space in a script name
    "[gui_scripts]\nbin/tool = demo_pkg:main\n",  # '/' in a script name
    "[DEFAULT]\nbad name = x\n[console_scripts]\nok = demo_pkg:main\n",  # DEFAULT keys count too
])
def test_w004_invalid_entry_points(tmp_path: Path, text: str) -> None:
    path = make_wheel(tmp_path, files={"demo_pkg/__init__.py": b"",
                                       "demo_pkg-1.0.dist-info/entry_points.txt": text.encode()})
    finding, = found(path, "W004")
    assert finding.message == ENTRY_POINTS_MESSAGE and finding.pypi_rejects and finding.hint


@pytest.mark.parametrize("text", [
    "[console_scripts]\ndemo = demo_pkg:main\nDemo = demo_pkg:other\n",  # case-sensitive: two names
    "[my.plugins]\nany name at all = demo_pkg:plugin\n",  # only script names are checked
    "[console_scripts]\ndémo-1.x_y = demo_pkg:main\n",  # \w is Unicode
])
def test_w004_valid_entry_points(tmp_path: Path, text: str) -> None:
    path = make_wheel(tmp_path, files={"demo_pkg/__init__.py": b"",
                                       "demo_pkg-1.0.dist-info/entry_points.txt": text.encode()})
    assert pairs(path, "W004") == []


def test_w004_not_utf8(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, files={"demo_pkg/__init__.py": b"",
                                       "demo_pkg-1.0.dist-info/entry_points.txt": b"[console_scripts]\nd\xe9 = a:b\n"})
    finding, = found(path, "W004")
    assert finding.hint == "entry_points.txt is not UTF-8"


def test_w005_metadata_missing(tmp_path: Path) -> None:
    path = make_wheel(tmp_path)
    good = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            if not info.filename.endswith("METADATA"):
                dst.writestr(info, src.read(info))
    assert pairs(path, "W00") == [("W005", "Wheel 'demo_pkg-1.0-py3-none-any.whl' does not contain the required "
                                           "METADATA file: demo_pkg-1.0.dist-info/METADATA")]


# -- W1xx: toolkit's consistency rules


def wheel_file(tags: str, purelib: str = "true", version: str = "1.0") -> str:
    lines = "".join(f"Tag: {t}\n" for t in tags.split())
    return f"Wheel-Version: {version}\nGenerator: test\nRoot-Is-Purelib: {purelib}\n{lines}"


def test_w101_tag_lines_differ_from_filename(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, tag="py2.py3-none-any", wheel_file=wheel_file("py3-none-any cp311-none-any"))
    finding, = found(path, "W101")
    assert finding.message == ("WHEEL Tag lines differ from the filename's tags: in the filename but not in "
                               "WHEEL: py2-none-any; in WHEEL but not in the filename: cp311-none-any")
    assert not finding.pypi_rejects


def test_w101_same_tags_in_any_order(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, tag="py2.py3-none-any", wheel_file=wheel_file("py3-none-any py2-none-any"))
    assert pairs(path, "W10") == []


def test_a_wheel_version_installers_take_passes(tmp_path: Path) -> None:
    # installer takes anything starting "1.", pip any dot-separated integers of major 1: both take 1.0.0
    path = make_wheel(tmp_path, wheel_file="Wheel-Version: 1.0.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    assert check_file(path).errors == []


@pytest.mark.parametrize("text, code, message", [
    (wheel_file("py3-none-any", version="2.0"), "W102",
     "WHEEL Wheel-Version is '2.0': pip, uv and installer install 1.x wheels only"),
    ("Root-Is-Purelib: true\nTag: py3-none-any\n", "W102", "WHEEL has no Wheel-Version: pip and installer refuse "
                                                          "the wheel"),
    (wheel_file("py3-none-any", purelib="yes"), "W108", "WHEEL Root-Is-Purelib is 'yes', not true or false"),
    ("Wheel-Version: 1.0\nRoot-Is-Purelib: true\n", "W107", "WHEEL has no Tag lines"),
    # ninja 1.11.1.1 on PyPI: a blank line ends WHEEL's header; pip installs it, so a warning at most
    ("Wheel-Version: 1.0\nRoot-Is-Purelib: false\n\nTag: py3-none-any\n", "W107",
     "WHEEL has its Tag lines after a blank line, which ends the header: readers of WHEEL see no tags"),
])
def test_wheel_file_read_as_installers_read_it(tmp_path: Path, text: str, code: str, message: str) -> None:
    path = make_wheel(tmp_path, wheel_file=text)
    found = [f for f in check_file(path).findings if f.code.startswith("W1")]
    assert [(f.code, f.message) for f in found if f.code != "W103"] == [(code, message)]
    assert found[0].level == ("warning" if code == "W107" else "error")
    assert found[0].refused_by == ("installer" if code == "W102" else "toolkit")


SO = "demo_pkg/_speed.cpython-311-x86_64-linux-gnu.so"


def test_w103_purelib_true_with_extension_modules(tmp_path: Path) -> None:
    tag = "cp311-cp311-manylinux_2_17_x86_64"
    path = make_wheel(tmp_path, tag=tag, wheel_file=wheel_file(tag, purelib="true"),
                      files={"demo_pkg/__init__.py": b"", SO: b"\x7fELF"})
    finding, = found(path, "W103")
    assert finding.level == "warning"
    assert finding.message == f"WHEEL says Root-Is-Purelib: true, but the wheel holds extension modules ({SO})"
    assert pairs(path, "W104") == []


def test_w103_purelib_false_on_a_pure_wheel(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, wheel_file=wheel_file("py3-none-any", purelib="false"))
    assert pairs(path, "W103") == [("W103", "WHEEL says Root-Is-Purelib: false, but the wheel is pure "
                                            "(platform 'any', no extension modules)")]


def test_w104_pure_tag_with_extension_modules(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, wheel_file=wheel_file("py3-none-any", purelib="false"),
                      files={"demo_pkg/__init__.py": b"", SO: b"\x7fELF"})
    finding, = found(path, "W104")
    assert finding.level == "error" and not finding.pypi_rejects
    assert finding.message == f"the wheel is tagged for any platform (py3-none-any) but holds extension modules ({SO})"


def test_w105_defers_to_pypi_codes_and_reports_the_rest(tmp_path: Path) -> None:
    mismatch = make_wheel(tmp_path, metadata=metadata_text("demo-pkg", "1.1"))
    assert pairs(mismatch, "W105") == []  # N024 says it, from the form
    unknown = make_wheel(tmp_path, filename="demo_pkg-1.0-py2-none-any.whl", metadata=metadata_text("UNKNOWN"))
    assert pairs(unknown, "W105") == [("W105", "METADATA Name is 'UNKNOWN', the filename says 'demo-pkg'")]


# -- X001 and I009


PYARMOR = b"from pyarmor_runtime import __pyarmor__\n__pyarmor__(__name__, __file__, b'PY000000')\n"
PYE = b"---BEGIN PYE FILE---\nABCDEF\n---END PYE FILE---\n"
PYARMOR_MESSAGE = (INVALID + "PyArmor-encrypted content is not allowed. "
                   "See https://pypi.org/policy/acceptable-use-policy/ for more information.")


def test_x001_pyarmor_in_a_wheel(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, files={"demo_pkg/__init__.py": PYARMOR})
    finding, = found(path, "X001")
    assert (finding.message, finding.pypi_rejects, finding.hint) == (
        PYARMOR_MESSAGE, True, "found in demo_pkg/__init__.py")


def test_x001_sourcedefender_in_an_sdist(tmp_path: Path) -> None:
    path = make_sdist(tmp_path, files={"pyproject.toml": b"", "src/mod.PYE": PYE})
    assert pairs(path, "X001") == [("X001", INVALID + "SourceDefender-encrypted content is not allowed. "
                                            "See https://pypi.org/policy/acceptable-use-policy/ for more information.")]


@pytest.mark.parametrize("files", [
    {"demo_pkg/__init__.py": b"---BEGIN PYE FILE---\n"},  # SourceDefender needs both markers
    {"demo_pkg/__init__.py": b"", "demo_pkg/notes.txt": PYARMOR},  # only .py and .pye are scanned
    {"demo_pkg/__init__.py": PYARMOR + b"#" * (5 * 1024 * 1024)},  # over 5 MiB: not scanned
])
def test_x001_not_matched(tmp_path: Path, files: dict[str, bytes]) -> None:
    assert pairs(make_wheel(tmp_path, files=files), "X001") == []


def big_wheel(folder: Path, blob_size: int) -> Path:
    """A real wheel with one stored member of `blob_size` zero bytes, streamed (no big buffer)."""
    path = make_wheel(folder)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_STORED) as zf:
        info = zipfile.ZipInfo("demo_pkg/blob.bin", (2020, 1, 1, 0, 0, 0))
        with zf.open(info, "w", force_zip64=True) as f:
            chunk = b"\0" * (1 << 20)
            for _ in range(blob_size >> 20):
                f.write(chunk)
            f.write(b"\0" * (blob_size & ((1 << 20) - 1)))
    return path


def test_i009_file_over_100_mib(tmp_path: Path) -> None:
    limit = 100 * 1024 * 1024
    path = big_wheel(tmp_path, limit + 1)
    finding, = found(path, "I009")
    assert finding.message == ("File too large. Limit for project 'demo-pkg' is 100 MB. See "
                               "https://docs.pypi.org/project-management/storage-limits"
                               "#requesting-a-file-size-limit-increase for more information.")
    assert finding.pypi_rejects
    exactly = limit + 1 - (path.stat().st_size - limit)  # the same wheel, exactly 100 MiB long
    path.unlink()
    path = big_wheel(tmp_path, exactly)
    assert path.stat().st_size == limit
    assert found(path, "I009") == []


# -- real builds: what backends make must pass every rule of this brief


MINE = ("S", "W", "X001", "I009", "R1", "C1")

PYPROJECTS = {
    "hatchling": """
        [build-system]
        requires = ["hatchling>=1.27"]
        build-backend = "hatchling.build"
        """,
    "setuptools": """
        [build-system]
        requires = ["setuptools>=77"]
        build-backend = "setuptools.build_meta"
        [tool.setuptools.packages.find]
        where = ["src"]
        """,
}


@pytest.mark.slow
@pytest.mark.parametrize("backend", sorted(PYPROJECTS))
def test_real_builds_have_no_findings(tmp_path: Path, backend: str) -> None:
    src = tmp_path / "proj"
    (src / "src" / "tiny_demo").mkdir(parents=True)
    (src / "src" / "tiny_demo" / "__init__.py").write_text("def main() -> None:\n    print('hi')\n")
    (src / "LICENSE").write_text("MIT License\n")
    (src / "README.md").write_text("# tiny\n\nA tiny demo.\n")
    (src / "pyproject.toml").write_text(textwrap.dedent(PYPROJECTS[backend]) + textwrap.dedent("""
        [project]
        name = "tiny-demo"
        version = "0.1.0"
        description = "A tiny demo"
        readme = "README.md"
        license = "MIT"
        license-files = ["LICENSE"]
        [project.scripts]
        tiny-demo = "tiny_demo:main"
        [project.entry-points."tiny.plugins"]
        first = "tiny_demo:main"
        """))
    out = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--installer", "uv", "-o", str(out), str(src)],
                   check=True, capture_output=True)
    built = sorted(out.iterdir())
    assert sorted(p.suffix for p in built) == [".gz", ".whl"]
    for path in built:
        assert [(f.code, f.message) for f in check_file(path).findings if f.code.startswith(MINE)] == []

"""What goes up and who refuses it: the metadata twine really sends (sent.py), twine's own refusals
(M101, M103, M104, W112), the installers' (W102, W109-W111), and `--strict` against `twine check --strict`.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from distfactory import make_wheel, metadata_text, record_line

from toolkit.check import check_file
from toolkit.check.rules import RULES, load_all

SEE = " See https://packaging.python.org/specifications/core-metadata for more information."
BAD_REQUIRES_PYTHON = "Requires-Python: 3.8\n"
M011 = "'3.8' is invalid for 'requires-python'." + SEE


def errors(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for f in check_file(path).errors:
        found.setdefault(f.code, []).append(f.message)
    return found


def sdist(folder: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], name: str = "demo_pkg-1.0.tar.gz") -> Path:
    path = folder / name
    with tarfile.open(path, "w:gz") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                tar.addfile(info, io.BytesIO(member[1]))
    return path


def link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


PKG_INFO = metadata_text(extra=BAD_REQUIRES_PYTHON).encode()


def test_a_top_folder_starting_with_a_dot_gets_every_metadata_rule(tmp_path: Path) -> None:
    path = sdist(tmp_path, [(".demo_pkg-1.0/PKG-INFO", PKG_INFO), (".demo_pkg-1.0/pyproject.toml", b"")])
    # PyPI and twine take the folder as it is: only the metadata defect is an error
    assert errors(path) == {"M011": [M011]}


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE], ids=["symlink", "hard link"])
def test_pkg_info_as_a_link_is_twines_refusal_and_is_still_judged(tmp_path: Path, kind: bytes) -> None:
    target = "meta/PKG-INFO" if kind == tarfile.SYMTYPE else "demo_pkg-1.0/meta/PKG-INFO"
    path = sdist(tmp_path, [("demo_pkg-1.0/meta/PKG-INFO", PKG_INFO), link("demo_pkg-1.0/PKG-INFO", target, kind)])
    found = errors(path)
    assert found.pop("M011") == [M011]  # the defect behind the link is reported
    assert found == {"M104": ["twine refuses to upload this file: PKG-INFO is not a regular file: demo_pkg-1.0.tar.gz; "
                              "the metadata checks judged demo_pkg-1.0/meta/PKG-INFO instead"]}
    assert next(f for f in check_file(path).errors if f.code == "M104").refused_by == "twine"


def test_pkg_info_as_a_folder_is_twines_refusal(tmp_path: Path) -> None:
    folder = tarfile.TarInfo("demo_pkg-1.0/PKG-INFO")
    folder.type = tarfile.DIRTYPE
    path = sdist(tmp_path, [folder, ("demo_pkg-1.0/PKG-INFO/PKG-INFO", PKG_INFO), ("demo_pkg-1.0/setup.py", b"")])
    assert errors(path) == {"M104": ["twine refuses to upload this file: PKG-INFO is not a regular file: "
                                     "demo_pkg-1.0.tar.gz; the metadata checks (M, D) could not run"]}


def test_names_starting_with_dot_slash_are_refused_and_judged(tmp_path: Path) -> None:
    path = sdist(tmp_path, [("./demo_pkg-1.0/PKG-INFO", PKG_INFO), ("./demo_pkg-1.0/setup.py", b"")])
    found = errors(path)
    assert found["S002"] == ["Invalid distribution file. PKG-INFO not found at demo_pkg-1.0/PKG-INFO"]
    assert found["M011"] == [M011] and "M104" in found


def test_a_stray_metadata_file_is_what_twine_sends(tmp_path: Path) -> None:
    stray = metadata_text("-other").encode()
    path = make_wheel(tmp_path, files={"demo_pkg/__init__.py": b"", "METADATA": stray})
    found = errors(path)
    assert found["W112"] == ["twine sends METADATA as the metadata of this wheel, not "
                             "demo_pkg-1.0.dist-info/METADATA: PyPI judges that file, and the metadata checks here "
                             "judge it too"]
    # PyPI's verdict on what is really sent, in PyPI's words
    assert found["M004"] == ["'-other' is an invalid value for Name. Error: Start and end with a letter or numeral "
                             "containing only ASCII numeric and '.', '_' and '-'." + SEE]


def test_a_module_named_like_metadata_is_picked_when_it_holds_the_marker(tmp_path: Path) -> None:
    module = b'"""Metadata-Version: 2.1 is what we write."""\n'
    path = make_wheel(tmp_path, files={"demo_pkg/__init__.py": b"", "demo_pkg/METADATA_tools.py": module})
    assert "W112" in errors(path)
    path.unlink()
    harmless = make_wheel(tmp_path, files={"demo_pkg/__init__.py": b"", "demo_pkg/METADATA_tools.py": b"x = 1\n"})
    assert check_file(harmless).errors == []


def test_a_later_lookalike_is_a_warning(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, files={"zzz/METADATA": metadata_text().encode(), "demo_pkg/__init__.py": b""})
    report = check_file(path)
    assert report.errors == []
    assert [f.code for f in report.findings if f.code.startswith("W")] == ["W113"]


@pytest.mark.parametrize(("files", "code", "text"), [
    ({"other-1.0.dist-info/INSTALLER": b"pip\n"}, "W109", "multiple .dist-info directories found"),
    ({"demo_pkg-1.0.data/foo/x.txt": b"x"}, "W110", "'foo' is not a scheme"),
    ({"demo_pkg-1.0.data/x.txt": b"x"}, "W110", "'x.txt' is not a scheme"),
])
def test_installer_refusals(tmp_path: Path, files: dict[str, bytes], code: str, text: str) -> None:
    path = make_wheel(tmp_path, files={"demo_pkg/__init__.py": b"", **files})
    [finding] = [f for f in check_file(path).errors]
    assert (finding.code, finding.refused_by) == (code, "installer") and text in finding.message


def test_metadata_not_utf8_is_refused_by_pip_and_twine(tmp_path: Path) -> None:
    text = metadata_text(extra="Author: J\udce9r\n").encode("utf-8", "surrogateescape")
    path = tmp_path / "demo_pkg-1.0-py3-none-any.whl"
    members = {"demo_pkg/__init__.py": b"", "demo_pkg-1.0.dist-info/METADATA": text,
               "demo_pkg-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    rows = [record_line(n, d) for n, d in members.items()] + ["demo_pkg-1.0.dist-info/RECORD,,"]
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr("demo_pkg-1.0.dist-info/RECORD", "\n".join(rows) + "\n")
    found = {f.code: f for f in check_file(path).errors}
    assert found["W111"].refused_by == "installer" and "not UTF-8" in found["W111"].message
    assert found["M101"].message == ("twine refuses to upload this file: Invalid distribution metadata: "
                                     "unrecognized or malformed field 'author'")


def test_misspelt_header_is_twines_refusal(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, metadata=metadata_text(extra="Requires_Dist: foo\n"))
    [finding] = check_file(path).errors
    assert (finding.code, finding.level, finding.refused_by) == ("M101", "error", "twine")
    assert "'requires_dist'" in finding.message


@pytest.mark.parametrize("field", [
    "Summary: A demo\u2028package", "Summary: A\x85b", "Summary: A\x1cb", "Summary: A\x0bb", "Summary: A\u2029b",
    "Description-Content-Type: text/markdown; variant=GFM; variant=CommonMark",
    "Description-Content-Type: text/markdown; charset=UTF-8; charset=utf-8",
], ids=["U+2028", "U+0085", "U+001C", "VT", "U+2029", "variant twice", "charset twice"])
def test_twine_7_refusals(tmp_path: Path, field: str) -> None:
    from oracles import twine_form

    key = field.split(":", 1)[0]
    text = "".join(line + "\n" for line in metadata_text().splitlines() if not line.startswith(key + ":"))
    path = make_wheel(tmp_path, metadata=text.replace("\n\n", f"\n{field}\n\n", 1))
    [finding] = check_file(path).errors
    assert (finding.code, finding.refused_by) == ("M103", "twine")
    assert finding.message.startswith("twine refuses to upload this file: Invalid distribution metadata: ")
    assert twine_form(path)[1] is not None, "the installed twine accepts it: the test extra's floor is too low"


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "toolkit", "check", *map(str, args)], capture_output=True,
                          text=True, check=False)


def test_strict_is_not_weaker_than_twine_check_strict(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, metadata=metadata_text(description=None))
    twine = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(path)], capture_output=True,
                           text=True, check=False)
    assert twine.returncode == 1  # `long_description` missing
    assert _cli(path).returncode == 0
    strict = _cli("--strict", path)
    assert strict.returncode == 1 and "D101 error" in strict.stdout


def test_text_output_names_who_refuses(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, metadata=metadata_text(extra="Requires_Dist: foo\n"))
    out = _cli(path).stdout
    assert "M101 error [twine refuses]: twine refuses to upload this file" in out


def test_every_code_the_stage_emits_is_registered() -> None:
    from toolkit.check import INTERNAL, UNREADABLE

    load_all()
    assert {INTERNAL, UNREADABLE} <= set(RULES) and RULES[INTERNAL].level == "error"

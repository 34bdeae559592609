"""RECORD rules (R101-R106): a wheel's RECORD against the files it really holds."""

from __future__ import annotations

import base64
import hashlib
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from distfactory import make_wheel, record_line

from toolkit.check import check_file
from toolkit.check.rules import load_all
from toolkit.check.view import DistView

DI = "demo_pkg-1.0.dist-info"
INIT = b"x = 1\n"


def findings(path: Path, prefix: str = "R") -> list[tuple[str, str]]:
    return [(f.code, f.message) for f in check_file(path).findings if f.code.startswith(prefix)]


INIT_ROW = record_line("demo_pkg/__init__.py", INIT)


def wheel_with_record(tmp_path: Path, *rows: str, files: dict[str, bytes] | None = None, own: bool = True) -> Path:
    """A wheel holding `files` (default: demo_pkg/__init__.py) whose RECORD is: METADATA, WHEEL (rows 1-2),
    then `rows` (from row 3), then RECORD's own row unless `own` is False."""
    files = {"demo_pkg/__init__.py": INIT} if files is None else files
    probe = make_wheel(tmp_path, files={}, filename="probe.whl")
    with zipfile.ZipFile(probe) as zf:
        head = [record_line(n, zf.read(n)) for n in (f"{DI}/METADATA", f"{DI}/WHEEL")]
    probe.unlink()
    text = "\n".join(head + list(rows) + ([f"{DI}/RECORD,,"] if own else [])) + "\n"
    return make_wheel(tmp_path, files=files, record=text)


def test_a_wheel_with_a_true_record_has_no_record_findings(tmp_path: Path) -> None:
    assert findings(make_wheel(tmp_path)) == []


def test_r101_hash_and_size_that_do_not_match_the_file(tmp_path: Path) -> None:
    wrong_hash = record_line("demo_pkg/__init__.py", b"x = 2\n")
    path = wheel_with_record(tmp_path, wrong_hash)
    claimed, real = wrong_hash.split(",")[1], INIT_ROW.split(",")[1]
    assert findings(path) == [("R101", f"demo_pkg/__init__.py: RECORD says {claimed}, the file has {real}")]

    path = wheel_with_record(tmp_path, INIT_ROW[: -len("6")] + "7")
    assert findings(path) == [("R101", "demo_pkg/__init__.py: RECORD says 7 bytes, the file has 6")]


def test_r101_checks_a_stronger_hash_with_its_own_algorithm(tmp_path: Path) -> None:
    def sha512(data: bytes) -> str:
        return base64.urlsafe_b64encode(hashlib.sha512(data).digest()).rstrip(b"=").decode()

    ok = wheel_with_record(tmp_path, f"demo_pkg/__init__.py,sha512={sha512(INIT)},6")
    assert findings(ok) == []
    bad = wheel_with_record(tmp_path, f"demo_pkg/__init__.py,sha512={sha512(b'no')},6")
    assert findings(bad) == [("R101", f"demo_pkg/__init__.py: RECORD says sha512={sha512(b'no')}, "
                                      f"the file has sha512={sha512(INIT)}")]


def test_r101_a_member_that_cannot_be_inflated(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, files={"demo_pkg/__init__.py": b"payload = 'abcdefgh'\n"})
    with zipfile.ZipFile(path) as zf:  # rewrite stored, then damage the member's bytes (CRC no longer matches)
        members = {n: zf.read(n) for n in zf.namelist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    data = path.read_bytes()
    path.write_bytes(data.replace(b"abcdefgh", b"abcdefgX", 1))
    (code, message), = findings(path)
    assert code == "R101"
    assert message == "demo_pkg/__init__.py: cannot be inflated to check it against RECORD (CRC-32 mismatch)"


def test_r102_files_missing_from_record_including_record_itself(tmp_path: Path) -> None:
    path = wheel_with_record(tmp_path, INIT_ROW, own=False)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("demo_pkg/extra.py", b"y = 2\n")
        zf.writestr(f"{DI}/RECORD.jws", b"{}")  # signatures are never listed
        zf.writestr("demo_pkg/sub/", b"")  # directories are ignored
    assert findings(path) == [
        ("R102", f"{DI}/RECORD is in the wheel but not in RECORD"),
        ("R102", "demo_pkg/extra.py is in the wheel but not in RECORD"),
    ]


def test_r102_many_missing_files_are_capped(tmp_path: Path) -> None:
    files = {f"demo_pkg/m{i:02}.py": b"" for i in range(25)}
    path = make_wheel(tmp_path, files=files, record="")
    got = findings(path)
    assert len(got) == 21
    assert got[-1] == ("R102", "... and 8 more like the above")  # 25 modules + METADATA, WHEEL, RECORD


def test_r103_rows_naming_absent_files_directories_and_signatures(tmp_path: Path) -> None:
    path = wheel_with_record(tmp_path, INIT_ROW, "demo_pkg/gone.py,,", f"{DI}/RECORD.p7s,,", "demo_pkg/sub/,,")
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(f"{DI}/RECORD.p7s", b"sig")
        zf.writestr("demo_pkg/sub/", b"")
    got = [m for c, m in findings(path) if c == "R103"]
    assert got == [
        "RECORD lists demo_pkg/gone.py, which is not in the wheel",
        f"RECORD lists the signature file {DI}/RECORD.p7s, which must not be listed",
        "RECORD lists the directory demo_pkg/sub/; it lists files only (uninstalling the wheel would remove the "
        "whole folder)",
    ]


@pytest.mark.parametrize(("row", "codes"), [("demo_pkg/,,", ["R103"]), ("../outside.py,,", ["R103", "R104"])])
def test_rows_naming_no_file_are_toolkits_refusal_not_the_installers(tmp_path: Path, row: str, codes: list[str]) -> None:
    # Found by the oracle (seed 13): pip and installer take these rows (they hash the files they install only);
    # toolkit refuses them (uninstall would remove what they name), with no R106 installer refusal.
    from oracles import installer_refuses, pip_refuses

    path = wheel_with_record(tmp_path, INIT_ROW, row)
    assert (pip_refuses(path), installer_refuses(path)) == (None, None)
    assert [(f.code, f.refused_by) for f in check_file(path).errors] == [(c, "toolkit") for c in codes]


def test_backslashes_in_record_read_as_slashes(tmp_path: Path) -> None:
    path = wheel_with_record(tmp_path, record_line("demo_pkg\\__init__.py", INIT))
    assert findings(path) == []


@pytest.mark.parametrize("row", ["../evil.py,,", "/etc/passwd,,", "C:/x.py,,", "demo_pkg/../../up.py,,"])
def test_r104_rows_escaping_the_wheel(tmp_path: Path, row: str) -> None:
    path = wheel_with_record(tmp_path, INIT_ROW, row)
    shown = row.split(",")[0]
    assert ("R104", f"RECORD row 4 names {shown!r}, a path outside the wheel") in findings(path)


@pytest.mark.parametrize("algo", ["md5", "sha1", "sha224"])
def test_r104_weak_hashes(tmp_path: Path, algo: str) -> None:
    digest = base64.urlsafe_b64encode(hashlib.new(algo, INIT).digest()).rstrip(b"=").decode()
    path = wheel_with_record(tmp_path, f"demo_pkg/__init__.py,{algo}={digest},6")
    assert findings(path) == [("R104", f"demo_pkg/__init__.py: RECORD uses {algo}, which the wheel spec forbids "
                                       "(it requires sha256 or stronger)")]


def test_r105_duplicate_rows(tmp_path: Path) -> None:
    path = wheel_with_record(tmp_path, INIT_ROW, INIT_ROW)
    assert findings(path) == [("R105", "RECORD lists demo_pkg/__init__.py 2 times (rows 3, 4)")]


def test_r106_rows_installers_cannot_read(tmp_path: Path) -> None:
    rows = [
        "",
        "demo_pkg/a.py,sha256=x",
        "demo_pkg/b.py,sha256,1",
        "demo_pkg/c.py,nosuchhash=abc,1",
        "demo_pkg/d.py,,one",
        "demo_pkg/e.py,,",
    ]
    files = {"demo_pkg/__init__.py": INIT} | {f"demo_pkg/{c}.py": b"" for c in "abcde"}
    path = wheel_with_record(tmp_path, INIT_ROW, *rows, files=files)
    got = [m for c, m in findings(path) if c == "R106"]
    assert got == [
        "RECORD row 4 is an empty line: pip, installer and PyPI's upload check fail on it",
        "RECORD row 5 ('demo_pkg/a.py') has 2 fields, not 3 (path,hash,size)",
        "RECORD row 6 ('demo_pkg/b.py') is invalid: `hash` does not follow the required format",
        "RECORD row 7 ('demo_pkg/c.py') is invalid: invalid hash algorithm 'nosuchhash'",
        "RECORD row 8 ('demo_pkg/d.py') is invalid: `size` cannot be non-integer",
        "RECORD row 9 (demo_pkg/e.py) has no hash",
    ]


def test_r106_record_own_row_must_be_empty(tmp_path: Path) -> None:
    path = wheel_with_record(tmp_path, INIT_ROW, f"{DI}/RECORD,sha256=abc,12", own=False)
    assert findings(path) == [("R106", "RECORD row 4: RECORD's own row must leave hash and size empty")]


def test_no_record_is_left_to_w003(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, record=False)
    assert findings(path) == []
    assert [f.code for f in check_file(path).findings if f.code == "W003"] == ["W003"]


def test_large_member_is_hashed_in_bounded_memory(tmp_path: Path) -> None:
    zeros = b"\0" * (50 * 1024 * 1024)
    path = make_wheel(tmp_path, files={"demo_pkg/__init__.py": INIT, "demo_pkg/zeros.bin": zeros})
    del zeros
    r101 = load_all()["R101"]
    tracemalloc.start()
    try:
        found = list(r101.run(DistView(path)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found == []
    assert peak < 8 * 1024 * 1024, f"hashing a 50 MB member used {peak} bytes"
    assert findings(path) == []


def test_large_member_with_a_wrong_size_is_found(tmp_path: Path) -> None:
    zeros = b"\0" * (20 * 1024 * 1024)
    path = wheel_with_record(tmp_path, INIT_ROW, record_line("demo_pkg/zeros.bin", zeros[:-1]),
                             files={"demo_pkg/__init__.py": INIT, "demo_pkg/zeros.bin": zeros})
    r101 = [m for c, m in findings(path) if c == "R101"]
    assert len(r101) == 1 and r101[0].startswith("demo_pkg/zeros.bin: RECORD says sha256=")

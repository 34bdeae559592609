"""The repair stage on Windows and macOS wheels: a Windows extension and DLL cross-compiled here
with mingw-w64 and repaired with delvewheel on any host; a real macOS wheel from PyPI with its
vendored dylibs taken out, repaired on any host (repairwheel off macOS), its load commands and code
signatures read back with tests/machocheck.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from machocheck import bad_signatures, slices, unresolved
from projects import listing, run_toolkit, sha256
from pypi_corpus import CorpusError, Pin, corpus_dir, ensure_corpus
from test_repair_support import MINGW, make_wheel, needs_mingw, refused, sbom_of

from toolkit.dist import read_manifest

# -- Windows, cross-compiled ----------------------------------------------------------------------------------------

HELPER_C = "__declspec(dllexport) int helper_add(int a, int b) { return a + b; }\n"
# No Python.h for Windows here: the module only has to be a PE that imports helper.dll, as a real one does.
EXT_C = ("__declspec(dllimport) int helper_add(int a, int b);\n"
         "__declspec(dllexport) void *PyInit__ext(void) { return (void *)(long long)helper_add(2, 3); }\n")
PYD = "winext/_ext.cp311-win_amd64.pyd"


def mingw(folder: Path, *args: str) -> None:
    subprocess.run([MINGW, *args], cwd=folder, check=True, capture_output=True)


@pytest.fixture
def windows_wheel(tmp_path: Path) -> tuple[Path, Path]:
    """(a win_amd64 wheel whose extension imports helper.dll, the folder that holds helper.dll)."""
    dlls = tmp_path / "dlls"
    dlls.mkdir()
    (dlls / "helper.c").write_text(HELPER_C)
    (dlls / "ext.c").write_text(EXT_C)
    mingw(dlls, "-shared", "-o", "helper.dll", "helper.c", "-Wl,--out-implib,libhelper.a")
    mingw(dlls, "-shared", "-o", "_ext.pyd", "ext.c", "-L.", "-lhelper")
    files = {"winext/__init__.py": b"", PYD: (dlls / "_ext.pyd").read_bytes()}
    (dlls / "_ext.pyd").unlink()
    return make_wheel(tmp_path / "dist", "winext", "1.0", "cp311-cp311-win_amd64", files), dlls


def pe_imports(data: bytes) -> list[str]:
    import pefile

    pe = pefile.PE(data=data)
    return [entry.dll.decode() for entry in pe.DIRECTORY_ENTRY_IMPORT]


@needs_mingw
def test_a_windows_wheel_is_repaired_with_delvewheel_on_this_host(windows_wheel: tuple[Path, Path]) -> None:
    wheel, dlls = windows_wheel
    proc = run_toolkit("repair", wheel, "-L", dlls, "-o", wheel.parent.parent / "out")
    assert proc.returncode == 0, proc.stderr
    (repaired,) = (wheel.parent.parent / "out").glob("*.whl")
    assert repaired.name == wheel.name  # delvewheel keeps the tag: win_amd64 is already the most compatible
    assert proc.stdout.strip().endswith("vendored: helper.dll")
    with zipfile.ZipFile(repaired) as zf:
        names = zf.namelist()
        (vendored,) = [n for n in names if n.startswith("winext.libs/") and n.endswith(".dll")]
        assert re.fullmatch(r"winext\.libs/helper-[0-9a-f]{32}\.dll", vendored)  # a mangled name
        assert zf.read(vendored) == (dlls / "helper.dll").read_bytes()
        imports = pe_imports(zf.read(PYD))
    assert vendored.rsplit("/", 1)[1] in imports and "helper.dll" not in imports  # the import is patched
    sbom = sbom_of(repaired)
    assert [(c["name"], c["properties"][1]["value"]) for c in sbom["components"]] == [("helper.dll", vendored)]
    check = run_toolkit("check", repaired)
    assert check.returncode == 0, check.stdout


@needs_mingw
def test_a_repaired_windows_wheel_is_not_repaired_again(windows_wheel: tuple[Path, Path], tmp_path: Path) -> None:
    wheel, dlls = windows_wheel
    assert run_toolkit("repair", wheel, "-L", dlls, "-o", tmp_path / "out").returncode == 0
    (repaired,) = (tmp_path / "out").glob("*.whl")
    before = listing(tmp_path / "out")
    again = run_toolkit("repair", repaired)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"unchanged: needs nothing  {repaired.name}"
    assert listing(tmp_path / "out") == before


@needs_mingw
def test_a_windows_wheel_repaired_in_place_replaces_its_input_and_the_manifest_says_so(
        windows_wheel: tuple[Path, Path]) -> None:
    wheel, dlls = windows_wheel
    before = sha256(wheel)
    proc = run_toolkit("repair", wheel, "-L", dlls)  # no -o: what `release` and `build --repair` do
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"repaired {wheel.name} -> {wheel.resolve()}  vendored: helper.dll"
    assert sorted(p.name for p in wheel.parent.glob("*.whl")) == [wheel.name]
    with zipfile.ZipFile(wheel) as zf:
        assert any(n.startswith("winext.libs/helper-") for n in zf.namelist())
    (entry,) = [d for d in read_manifest(wheel.parent) if d.path.name == wheel.name]
    assert entry.sha256 == sha256(wheel) != before
    assert entry.origin["replaced"] == f"{wheel.name} sha256:{before}"
    assert run_toolkit("check", wheel).returncode == 0


@pytest.fixture
def dll_free_wheel(tmp_path: Path) -> Path:
    """A win_amd64 wheel whose extension imports no DLL but the system's."""
    (tmp_path / "solo.c").write_text("__declspec(dllexport) void *PyInit__ext(void) { return (void *)0; }\n")
    mingw(tmp_path, "-shared", "-o", "_ext.pyd", "solo.c")
    files = {"solo/__init__.py": b"", "solo/_ext.cp311-win_amd64.pyd": (tmp_path / "_ext.pyd").read_bytes()}
    return make_wheel(tmp_path / "dist", "solo", "1.0", "cp311-cp311-win_amd64", files)


@needs_mingw
def test_a_windows_wheel_needing_no_dll_is_unchanged_in_place_and_with_an_output_folder(
        dll_free_wheel: Path, tmp_path: Path) -> None:
    wheel = dll_free_wheel
    before = listing(wheel.parent)
    proc = run_toolkit("repair", wheel)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"unchanged: needs nothing  {wheel.name}"
    assert listing(wheel.parent) == before
    out = run_toolkit("repair", wheel, "-o", tmp_path / "out")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"unchanged: needs nothing  {wheel.name} -> {tmp_path / 'out' / wheel.name}"
    assert sha256(tmp_path / "out" / wheel.name) == sha256(wheel)  # a copy: no SBOM of nothing added


@needs_mingw
def test_a_missing_dll_names_it_and_the_binary(windows_wheel: tuple[Path, Path], tmp_path: Path) -> None:
    wheel, _dlls = windows_wheel
    empty = tmp_path / "empty"
    empty.mkdir()
    error = refused(wheel, "-L", empty)
    assert error.startswith(f"error: helper.dll is not found: {PYD} needs it; searched {empty}")


@needs_mingw
def test_show_lists_the_dll_imports_and_what_delvewheel_would_copy(windows_wheel: tuple[Path, Path]) -> None:
    wheel, dlls = windows_wheel
    proc = run_toolkit("repair", "--show", wheel, "-L", dlls, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (doc,) = json.loads(proc.stdout)
    assert doc["binaries"][0]["member"] == PYD and "helper.dll" in doc["binaries"][0]["needs"]
    assert doc["vendor"] == [{"library": "helper.dll", "from": str(dlls / "helper.dll")}]
    assert doc["best_tag"] == "win_amd64"


# -- macOS, a real wheel from PyPI ----------------------------------------------------------------------------------

# pyzmq vendors libzmq in zmq/.dylibs (delocate's folder); abi3, so one file serves every CPython >= 3.12.
MAC_PIN = Pin("pyzmq-27.3.0-cp312-abi3-macosx_10_15_universal2.whl",
              "15155fd8f308d3bd47f67a8f6cc809f9db90abbf63c514c384a17622e2cf080f", 1232964,
              "a macOS wheel with a vendored dylib")


@pytest.fixture(scope="session")
def mac_wheel_file() -> Path:
    try:
        (path,) = ensure_corpus(corpus_dir().parent / "repair", [MAC_PIN])
    except CorpusError as exc:
        pytest.fail(f"cannot get {MAC_PIN.filename}: {exc}", pytrace=False)
    return path


@pytest.fixture
def unvendored(mac_wheel_file: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(the wheel without its .dylibs folder, a folder holding the dylibs taken out)."""
    libs = tmp_path / "libs"
    libs.mkdir()
    out = tmp_path / "dist" / MAC_PIN.filename
    out.parent.mkdir()
    with zipfile.ZipFile(mac_wheel_file) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        record = zin.read("pyzmq-27.3.0.dist-info/RECORD").decode()
        for info in zin.infolist():
            if info.is_dir():
                continue
            if "/.dylibs/" in info.filename:
                (libs / info.filename.rsplit("/", 1)[1]).write_bytes(zin.read(info))
                record = "".join(line + "\n" for line in record.splitlines() if "/.dylibs/" not in line)
            elif not info.filename.endswith("RECORD"):
                zout.writestr(info, zin.read(info))
        zout.writestr("pyzmq-27.3.0.dist-info/RECORD", record)
    assert list(libs.iterdir())
    return out, libs


def test_show_reads_a_macos_wheel_on_any_host(unvendored: tuple[Path, Path]) -> None:
    wheel, libs = unvendored
    proc = run_toolkit("repair", "--show", wheel, "-L", libs, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (doc,) = json.loads(proc.stdout)
    needs = {n for b in doc["binaries"] for n in b["needs"]}
    assert "@loader_path/../../.dylibs/libzmq.5.dylib" in needs
    # libzmq, which the extension loads, and libsodium, which libzmq loads, both from the -L folder
    assert sorted(Path(v["from"]).name for v in doc["vendor"]) == ["libsodium.26.dylib", "libzmq.5.dylib"]
    assert doc["best_tag"] == "macosx_10_15_universal2"  # what the wheel's binaries are built for


def relink_to(wheel: Path, libs: Path, tmp: Path) -> Path:
    """Point the extension's load command at the library in `libs` (an absolute install name, as a fresh build
    linking a library outside the wheel has), re-signed ad hoc, in a new wheel: with Apple's tools on macOS,
    with repairwheel's Python ones elsewhere."""
    member = "zmq/backend/cython/_zmq.abi3.so"
    ext = tmp / "_zmq.abi3.so"
    with zipfile.ZipFile(wheel) as zf:
        ext.write_bytes(zf.read(member))
        others = {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir() and i.filename != member}
    old, new = "@loader_path/../../.dylibs/libzmq.5.dylib", str(libs / "libzmq.5.dylib")
    if sys.platform == "darwin":
        subprocess.run(["install_name_tool", "-change", old, new, str(ext)], check=True, capture_output=True)
        subprocess.run(["codesign", "--force", "--sign", "-", str(ext)], check=True, capture_output=True)
    else:
        from repairwheel.macos.machotools import set_install_name

        set_install_name(str(ext), old, new, ad_hoc_sign=True)
    out = tmp / "relinked" / wheel.name
    out.parent.mkdir()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in others.items():
            zf.writestr(name, data if not name.endswith("RECORD") else _without(data, member))
        zf.writestr(member, ext.read_bytes())
    return out


def _without(record: bytes, member: str) -> bytes:
    return b"".join(line + b"\n" for line in record.splitlines() if not line.startswith(member.encode() + b","))


def test_the_signature_reader_accepts_pypis_wheel_and_catches_one_changed_byte(mac_wheel_file: Path,
                                                                              tmp_path: Path) -> None:
    assert bad_signatures(mac_wheel_file) == [] and unresolved(mac_wheel_file) == []
    member = "zmq/backend/cython/_zmq.abi3.so"
    with zipfile.ZipFile(mac_wheel_file) as zf:
        data = bytearray(zf.read(member))
    first = next(iter(slices(bytes(data))))
    data[first.offset + 5000] ^= 0xFF  # a byte of code in the first slice
    changed = make_wheel(tmp_path, "changed", "1.0", "cp312-abi3-macosx_10_15_universal2", {member: bytes(data)})
    assert bad_signatures(changed) == [f"{member} ({first.header.cputype}): page 1 does not match its hash"]


def test_a_macos_wheel_gets_its_dylibs_back_on_any_host(unvendored: tuple[Path, Path], tmp_path: Path) -> None:
    wheel, libs = unvendored
    relinked = relink_to(wheel, libs, tmp_path)
    assert unresolved(relinked) == [f"zmq/backend/cython/_zmq.abi3.so: {libs / 'libzmq.5.dylib'}"]
    proc = run_toolkit("repair", relinked, "-L", libs, "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    (repaired,) = (tmp_path / "out").glob("*.whl")
    with zipfile.ZipFile(repaired) as zf:
        vendored = sorted(n.rsplit("/", 1)[1] for n in zf.namelist() if "/.dylibs/" in n)
    assert vendored == ["libsodium.26.dylib", "libzmq.5.dylib"]
    assert proc.stdout.strip().endswith("vendored: libsodium.26.dylib, libzmq.5.dylib")
    # what the macOS loader checks: every load command resolves inside the wheel, every slice's signature holds
    assert unresolved(repaired) == []
    assert bad_signatures(repaired) == []
    sbom = sbom_of(repaired)
    assert sorted(c["name"].rsplit("/", 1)[-1] for c in sbom["components"]) == vendored


def test_a_macos_wheel_missing_a_dylib_names_it_and_the_binary(unvendored: tuple[Path, Path], tmp_path: Path) -> None:
    wheel, libs = unvendored
    assert refused(wheel, "-L", libs) == (f"error: @loader_path/../../.dylibs/libzmq.5.dylib is not found: "
                                          f"zmq/backend/cython/_zmq.abi3.so needs it; searched {libs}")

"""The repair stage on Windows and macOS wheels: a Windows extension and DLL cross-compiled here
with mingw-w64 and repaired with delvewheel on any host; real macOS wheels from PyPI with their
vendored dylibs taken out, repaired on any host (delocate on macOS, macholib and an ad-hoc
re-signing elsewhere) and read back with toolkit's Mach-O verifier."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from projects import listing, run_toolkit, sha256
from pypi_corpus import CorpusError, Pin, corpus_dir, ensure_corpus
from test_repair_support import MINGW, make_wheel, needs_mingw, refused

from toolkit.binaries.macho import read_macho
from toolkit.binaries.macverify import is_macho, loads, macho_problems
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
        sbom = json.loads(zf.read("winext-1.0.dist-info/sboms/toolkit.cdx.json"))
    assert vendored.rsplit("/", 1)[1] in imports and "helper.dll" not in imports  # the import is patched
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


# The same project's arm64 build (thin Mach-O files, the arch whose loader kills a file with a stale signature).
ARM_PIN = Pin("pyzmq-27.3.0-pp311-pypy311_pp80-macosx_11_0_arm64.whl",
              "8f15e7f2b5cc6459c45619e06e61f02fd1d9138b677b56e7a677232251a873b7", 632029,
              "a thin arm64 macOS wheel with vendored dylibs")
MAC_PINS = {"universal2": MAC_PIN, "arm64": ARM_PIN}
DYLIBS = ["libsodium.26.dylib", "libzmq.5.dylib"]


def pinned(pin: Pin) -> Path:
    try:
        (path,) = ensure_corpus(corpus_dir().parent / "repair", [pin])
    except CorpusError as exc:
        pytest.fail(f"cannot get {pin.filename}: {exc}", pytrace=False)
    return path


@pytest.fixture(scope="session")
def mac_wheel_file() -> Path:
    return pinned(MAC_PIN)


def unvendor(wheel_file: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(the wheel without its .dylibs folder, a folder holding the dylibs taken out)."""
    libs = tmp_path / "libs"
    libs.mkdir()
    out = tmp_path / "dist" / wheel_file.name
    out.parent.mkdir()
    with zipfile.ZipFile(wheel_file) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
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


@pytest.fixture
def unvendored(mac_wheel_file: Path, tmp_path: Path) -> tuple[Path, Path]:
    return unvendor(mac_wheel_file, tmp_path)


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
    """On macOS: point the extension's load command at the library in `libs` (an absolute install name,
    as a fresh build linking a library outside the wheel has), re-signed ad hoc, in a new wheel."""
    member = "zmq/backend/cython/_zmq.abi3.so"
    ext = tmp / "_zmq.abi3.so"
    with zipfile.ZipFile(wheel) as zf:
        ext.write_bytes(zf.read(member))
        others = {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir() and i.filename != member}
    subprocess.run(["install_name_tool", "-change", "@loader_path/../../.dylibs/libzmq.5.dylib",
                    str(libs / "libzmq.5.dylib"), str(ext)], check=True, capture_output=True)
    subprocess.run(["codesign", "--force", "--sign", "-", str(ext)], check=True, capture_output=True)
    out = tmp / "relinked" / wheel.name
    out.parent.mkdir()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in others.items():
            zf.writestr(name, data if not name.endswith("RECORD") else _without(data, member))
        zf.writestr(member, ext.read_bytes())
    return out


def _without(record: bytes, member: str) -> bytes:
    return b"".join(line + b"\n" for line in record.splitlines() if not line.startswith(member.encode() + b","))


@pytest.mark.skipif(sys.platform != "darwin", reason="delocate needs macOS's install_name_tool and codesign")
def test_a_macos_wheel_gets_its_dylibs_back_on_macos(unvendored: tuple[Path, Path], tmp_path: Path) -> None:
    wheel, libs = unvendored
    relinked = relink_to(wheel, libs, tmp_path)
    proc = run_toolkit("repair", relinked, "-L", libs, "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    (repaired,) = (tmp_path / "out").glob("*.whl")
    with zipfile.ZipFile(repaired) as zf:
        vendored = sorted(n.rsplit("/", 1)[1] for n in zf.namelist() if "/.dylibs/" in n)
        sbom = json.loads(zf.read("pyzmq-27.3.0.dist-info/sboms/toolkit.cdx.json"))
    assert vendored == ["libsodium.26.dylib", "libzmq.5.dylib"]
    assert sorted(c["name"].rsplit("/", 1)[-1] for c in sbom["components"]) == vendored


# -- macOS wheels off macOS: macholib's edits, the ad-hoc signatures redone, read back by toolkit's verifier ---------

EXT = {"universal2": "zmq/backend/cython/_zmq.abi3.so", "arm64": "zmq/backend/cffi/_cffi.pypy311-pp80-darwin.so"}
OPT = "/opt/zmq/lib"
SECOND = "zmq/_second.so"  # where a build of libzmq outside the wheel would have its install names


def members_of(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}


def machos(members: dict[str, bytes]) -> dict[str, bytes]:
    return {name: data for name, data in members.items() if is_macho(data)}


def slices(data: bytes) -> list:
    return read_macho(data).headers


def macholib_edit(data: bytes, renames: dict[str, str], new_id: str | None = None) -> bytes:
    """Install names changed with macholib and nothing else: the signatures are left as they were (stale)."""
    macho = read_macho(data)
    out = io.BytesIO(data)
    for header in macho.headers:
        header.rewriteLoadCommands(renames.get)
        if new_id:
            header.rewriteInstallNameCommand(new_id.encode())
        header.write(out)
    return out.getvalue()


def relink_here(wheel: Path, libs: Path, arch: str) -> None:
    """As a fresh build linking libzmq outside the wheel leaves it: the extension loads libs/libzmq.5.dylib,
    the libraries' ids and libzmq's load of libsodium name /opt/zmq/lib (edited in place, signatures stale)."""
    for base in DYLIBS:
        lib = libs / base
        lib.write_bytes(macholib_edit(lib.read_bytes(), {"@loader_path/libsodium.26.dylib": f"{OPT}/{DYLIBS[0]}"},
                                      f"{OPT}/{base}"))
    members = members_of(wheel)
    members[EXT[arch]] = macholib_edit(members[EXT[arch]], {"@loader_path/../../.dylibs/libzmq.5.dylib":
                                                            str(libs / "libzmq.5.dylib")})
    members[SECOND] = members[EXT[arch]]  # a second extension, higher up: its install name will be new
    record = "pyzmq-27.3.0.dist-info/RECORD"
    members[record] = _without(members[record], EXT[arch])
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


@pytest.mark.skipif(sys.platform == "darwin", reason="on macOS delocate repairs macOS wheels (the test above)")
@pytest.mark.parametrize("arch", sorted(MAC_PINS))
def test_a_macos_wheel_is_repaired_off_macos_and_reads_back_as_apple_signed_it(arch: str, tmp_path: Path) -> None:
    original = pinned(MAC_PINS[arch])
    wheel, libs = unvendor(original, tmp_path)
    relink_here(wheel, libs, arch)
    before = macho_problems(members_of(wheel))
    assert f"{EXT[arch]}: loads {libs}/libzmq.5.dylib, which is not in the wheel" in before
    assert any("signature does not match the bytes" in p for p in before)  # macholib's edit left it stale

    proc = run_toolkit("repair", wheel, "-L", libs, "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("vendored: libsodium.26.dylib, libzmq.5.dylib")
    (repaired,) = (tmp_path / "out").glob("*.whl")
    members = members_of(repaired)
    assert macho_problems(members) == []  # every load resolves inside the wheel, every signature verifies
    ext = slices(members[EXT[arch]])
    assert all([n for _k, n in loads(h)] == ["@loader_path/../../.dylibs/libzmq.5.dylib",
                                              "/usr/lib/libSystem.B.dylib"] for h in ext)
    # The second extension's new install name, and its slices re-signed for it (the verifier above).
    assert all([n for _k, n in loads(h)][0] == "@loader_path/.dylibs/libzmq.5.dylib" for h in slices(members[SECOND]))
    # The others' install names are back where delocate put them on a Mac, and each re-signed slice is the
    # very file codesign wrote there: byte for byte what PyPI serves.
    assert machos(members) == {**machos(members_of(original)), SECOND: members[SECOND]}
    sbom = json.loads(members["pyzmq-27.3.0.dist-info/sboms/toolkit.cdx.json"])
    assert sorted(c["name"].rsplit("/", 1)[-1] for c in sbom["components"]) == DYLIBS


@pytest.mark.skipif(sys.platform == "darwin", reason="on macOS delocate repairs macOS wheels")
def test_the_pypi_wheel_without_its_dylibs_gets_them_back_off_macos(unvendored: tuple[Path, Path],
                                                                     mac_wheel_file: Path) -> None:
    wheel, libs = unvendored
    proc = run_toolkit("repair", wheel, "-L", libs, "-o", wheel.parent.parent / "out")
    assert proc.returncode == 0, proc.stderr
    (repaired,) = (wheel.parent.parent / "out").glob("*.whl")
    members = members_of(repaired)
    assert sorted(n.rsplit("/", 1)[1] for n in members if "/.dylibs/" in n) == DYLIBS
    assert macho_problems(members) == []
    assert machos(members) == machos(members_of(mac_wheel_file))


def test_a_macos_wheel_whose_dylib_is_nowhere_is_refused_in_one_line(unvendored: tuple[Path, Path]) -> None:
    wheel, _libs = unvendored
    assert refused(wheel) == (
        f"error: {wheel.name}: zmq/backend/cython/_zmq.abi3.so loads @loader_path/../../.dylibs/libzmq.5.dylib, "
        "which is neither in the wheel nor in the library folders")


@pytest.mark.skipif(sys.platform == "darwin", reason="on macOS delocate re-signs with codesign")
def test_a_dylib_signed_with_a_certificate_is_refused_off_macos(tmp_path: Path) -> None:
    from toolkit.binaries.codesign import slice_signature

    wheel, libs = unvendor(pinned(ARM_PIN), tmp_path)
    relink_here(wheel, libs, "arm64")
    lib = bytearray((libs / "libzmq.5.dylib").read_bytes())
    (header,) = slices(bytes(lib))
    directory = slice_signature(header, lib).directories[0]  # type: ignore[union-attr]
    lib[directory.offset + 12:directory.offset + 16] = bytes(4)  # flags: no longer ad hoc, as a Developer ID one
    (libs / "libzmq.5.dylib").write_bytes(lib)
    assert refused(wheel, "-L", libs) == (
        f"error: {wheel.name}: zmq/.dylibs/libzmq.5.dylib is signed with a certificate, which an edit of its load "
        "commands breaks")


def built_for_macos(data: bytes, major: int) -> bytes:
    """The x86_64 slice's LC_BUILD_VERSION says macOS `major`.0, as a dylib built on a newer Mac would."""
    macho = read_macho(data)
    out = io.BytesIO(data)
    for header in macho.headers:
        for lc, cmd, _data in header.commands:
            if lc.cmd == 0x32 and header.header.cputype == 0x01000007:  # LC_BUILD_VERSION, x86_64
                cmd.minos = major << 16
        header.write(out)
    return out.getvalue()


@pytest.mark.skipif(sys.platform == "darwin", reason="on macOS delocate repairs macOS wheels")
def test_a_dylib_built_for_a_newer_macos_raises_the_tag_off_macos(tmp_path: Path) -> None:
    wheel, libs = unvendor(pinned(MAC_PIN), tmp_path)
    relink_here(wheel, libs, "universal2")
    lib = libs / "libsodium.26.dylib"
    lib.write_bytes(built_for_macos(lib.read_bytes(), 12))
    proc = run_toolkit("repair", wheel, "-L", libs, "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    (repaired,) = (tmp_path / "out").glob("*.whl")
    assert repaired.name == "pyzmq-27.3.0-cp312-abi3-macosx_12_0_universal2.whl"  # as delocate names it
    members = members_of(repaired)
    assert "Tag: cp312-abi3-macosx_12_0_universal2" in members["pyzmq-27.3.0.dist-info/WHEEL"].decode()
    assert macho_problems(members) == []

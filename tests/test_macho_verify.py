"""toolkit's Mach-O verifier (toolkit/binaries/macverify.py, codesign.py) on real macOS wheels
from PyPI: the signatures Apple's codesign and ld wrote verify, a changed bit or a missing dylib is
named, and the repair stage refuses a macOS wheel that would not load."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from pypi_corpus import PINS, CorpusError, corpus_dir, ensure_corpus
from test_repair_platforms import MAC_PIN, MAC_PINS, members_of, pinned, slices

from toolkit.binaries.codesign import slice_signature
from toolkit.binaries.macverify import is_macho, macho_problems
from toolkit.errors import RepairError
from toolkit.repair.macos_anyhost import verify

CPU_TYPE_ARM64 = 0x0100000C
# Every macOS wheel of the corpus: thin x86_64 and arm64, universal2, the old intel (i386 + x86_64, unsigned).
CORPUS_MAC = sorted(p.filename for p in PINS if "-macosx_" in p.filename)


def signatures(members: dict[str, bytes]) -> list[object]:
    return [slice_signature(h, data) for data in members.values() if is_macho(data) for h in slices(data)]


@pytest.mark.parametrize("arch", sorted(MAC_PINS))
def test_the_signatures_delocate_and_codesign_wrote_verify(arch: str) -> None:
    members = members_of(pinned(MAC_PINS[arch]))
    assert macho_problems(members) == []
    found = signatures(members)  # every slice is signed (codesign, ad hoc): each was checked
    assert len(found) == {"universal2": 6, "arm64": 3}[arch] and all(found)


@pytest.mark.parametrize("filename", CORPUS_MAC)
def test_every_macos_wheel_of_the_corpus_verifies(filename: str) -> None:
    try:
        (path,) = ensure_corpus(corpus_dir(), [p for p in PINS if p.filename == filename])
    except CorpusError as exc:
        pytest.fail(f"cannot get {filename}: {exc}", pytrace=False)
    members = members_of(path)
    assert macho_problems(members) == []
    # An arm64 slice is always signed (macOS refuses to load it otherwise: ld signs it, codesign may sign again);
    # the x86_64 builds of markupsafe and the 2019 intel one are not, and are checked for their loads only.
    arm64 = [slice_signature(h, data) for data in members.values() if is_macho(data) for h in slices(data)
             if h.header.cputype == CPU_TYPE_ARM64]
    assert all(arm64) and bool(arm64) == ("arm64" in filename or "universal2" in filename)


def test_a_changed_bit_and_a_missing_dylib_are_named() -> None:
    members = members_of(pinned(MAC_PIN))
    lib = bytearray(members["zmq/.dylibs/libzmq.5.dylib"])
    lib[slices(bytes(lib))[1].offset + 20000] ^= 1  # one bit in the arm64 slice's code
    members["zmq/.dylibs/libzmq.5.dylib"] = bytes(lib)
    del members["zmq/.dylibs/libsodium.26.dylib"]
    assert macho_problems(members) == [
        "zmq/.dylibs/libzmq.5.dylib: loads @loader_path/libsodium.26.dylib, which is not in the wheel",
        "zmq/.dylibs/libzmq.5.dylib [arm64]: 'libzmq.5' signature does not match the bytes (1 of 155 pages)"]


def test_the_repair_refuses_a_macos_wheel_that_would_not_load(tmp_path: Path) -> None:
    wheel = tmp_path / MAC_PIN.filename
    with zipfile.ZipFile(pinned(MAC_PIN)) as zin, zipfile.ZipFile(wheel, "w") as zout:
        for info in zin.infolist():
            if not info.filename.endswith("libsodium.26.dylib"):
                zout.writestr(info, zin.read(info))
    with pytest.raises(RepairError) as caught:
        verify(wheel)
    assert str(caught.value) == (f"the repaired {wheel.name} would not load on macOS: zmq/.dylibs/libzmq.5.dylib: "
                                 "loads @loader_path/libsodium.26.dylib, which is not in the wheel")


def test_install_names_resolve_as_dyld_resolves_them() -> None:
    from toolkit.binaries.macverify import resolve

    ext, members = "zmq/backend/cython/_zmq.abi3.so", {"zmq/.dylibs/libzmq.5.dylib", "libtop.dylib"}
    rpaths = ["/usr/local/lib", "@loader_path/../../.dylibs"]  # the first is outside the wheel: skipped
    assert resolve("@rpath/libzmq.5.dylib", ext, rpaths, members) == "zmq/.dylibs/libzmq.5.dylib"
    assert resolve("@loader_path/../../.dylibs/libzmq.5.dylib", ext, [], members) == "zmq/.dylibs/libzmq.5.dylib"
    assert resolve("@rpath/libzmq.5.dylib", ext, ["/usr/local/lib"], members) is None
    assert resolve("@loader_path/../../../../libtop.dylib", ext, [], members) is None  # above the wheel's root
    assert resolve("@executable_path/libzmq.5.dylib", ext, [], members) is None  # the interpreter's folder
    assert resolve("/usr/local/lib/libzmq.5.dylib", ext, [], members) is None


def test_an_install_name_the_header_has_no_room_for_is_refused() -> None:
    from toolkit.repair.macos_anyhost import edit

    ext = "zmq/backend/cython/_zmq.abi3.so"
    data = members_of(pinned(MAC_PIN))[ext]
    with pytest.raises(RepairError) as caught:
        edit(ext, data, {"@loader_path/../../.dylibs/libzmq.5.dylib": "@loader_path/" + "x" * 20000}, None)
    assert str(caught.value) == f"{ext}: its load commands have no room for the new install names"
    assert caught.value.hint == "link it with -headerpad_max_install_names and build the wheel again"

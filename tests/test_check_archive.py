"""The archive walk: archives written byte by byte with every container defect PyPI refuses
(its exact reason text), toolkit's stricter member checks, and bounded reading."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import stat
import tarfile
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest
from distfactory import make_sdist, make_wheel
from zipbytes import (
    Entry,
    build_tar,
    build_zip,
    deflate,
    extra,
    pax_member,
    tar_header,
    tar_member,
    unicode_path_extra,
    zip64_extra,
)

from toolkit.check import check_file
from toolkit.check.archive import ArchiveReadError, open_archive

WHEEL = "demo_pkg-1.0-py3-none-any.whl"
SDIST = "demo_pkg-1.0.tar.gz"
POLYGLOT = "Invalid distribution file. File is both a zip and a tar file"
NOT_ZIP = "Invalid distribution file. File is not a zipfile"
NOT_TAR = "Invalid distribution file. File is not a tarfile"
NONE = "Invalid distribution file. None"
BOMB = "Invalid distribution file. File exceeds compression ratio of 50"
METHOD = "Invalid distribution file. File does not use a supported compression type"
SPARSE = ("Invalid distribution file. tar archive not accepted: Sparse members are not allowed. "
          "See https://docs.pypi.org/archives for more information")


def refused(reason: str) -> str:
    return (f"Invalid distribution file. ZIP archive not accepted: {reason}. "
            "See https://docs.pypi.org/archives for more information")


def write(folder: Path, data: bytes, name: str = WHEEL) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def problems(path: Path) -> list[tuple[str, str]]:
    with open_archive(path) as archive:
        return archive.problems


def codes(path: Path) -> list[str]:
    return [code for code, _ in problems(path)]


def sdist_tgz(*members: bytes) -> bytes:
    return gzip.compress(build_tar(*members), mtime=0)


def good_entries() -> list[Entry]:
    return [
        Entry("demo_pkg/__init__.py", b"x = 1\n"),
        Entry("demo_pkg/big.py", b"# comment\n" * 500, method=8),
        Entry("demo_pkg-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n", method=8),
    ]


# -- archives PyPI takes -------------------------------------------------------------------


def test_wheel_written_by_zipfile_is_clean_and_readable(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    with open_archive(wheel) as archive:
        assert archive.format == "zip"
        assert archive.problems == []
        assert archive.read("demo_pkg/__init__.py") == b"x = 1\n"
        assert archive.member("demo_pkg-1.0.dist-info/RECORD") is not None


def test_stored_zip_written_by_zipfile_write_is_clean(tmp_path: Path) -> None:
    src = tmp_path / "mod.py"
    src.write_text("print('hi')\n")
    path = tmp_path / WHEEL
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.write(src, "demo_pkg/mod.py")
        zf.writestr(zipfile.ZipInfo("demo_pkg/data/"), b"")
    with open_archive(path) as archive:
        assert archive.problems == []
        assert [m.kind for m in archive.members] == ["file", "dir"]
        assert archive.read("demo_pkg/mod.py") == b"print('hi')\n"


def test_sdist_written_by_tarfile_is_clean_and_readable(tmp_path: Path) -> None:
    sdist = make_sdist(tmp_path)
    with open_archive(sdist) as archive:
        assert archive.format == "tar"
        assert archive.problems == []
        assert archive.read("demo_pkg-1.0/PKG-INFO").startswith(b"Metadata-Version: 2.4\n")


def test_byte_built_zip_stored_deflated_with_archive_comment_is_clean(tmp_path: Path) -> None:
    path = write(tmp_path, build_zip(good_entries(), comment=b"built by hand"))
    with open_archive(path) as archive:
        assert archive.problems == []
        assert archive.read("demo_pkg/big.py") == b"# comment\n" * 500
        member = archive.member("demo_pkg/big.py")
        assert member is not None and member.method == 8 and member.mode == 0o100644


def test_non_ascii_name_with_utf8_flag_is_clean(tmp_path: Path) -> None:
    path = write(tmp_path, build_zip([Entry("demo_pkg/café.py")]))
    with open_archive(path) as archive:
        assert archive.problems == []
        assert archive.read("demo_pkg/café.py") == b"x = 1\n"


def test_valid_zip64_archive_is_clean(tmp_path: Path) -> None:
    entries = [Entry("demo_pkg/__init__.py", zip64=True), Entry("demo_pkg/b.py", b"y" * 3000, method=8, zip64=True)]
    path = write(tmp_path, build_zip(entries, zip64_end=True))
    with open_archive(path) as archive:
        assert archive.problems == []
        assert archive.read("demo_pkg/b.py") == b"y" * 3000


def test_gzip_zero_padding_after_the_stream_is_accepted(tmp_path: Path) -> None:
    data = sdist_tgz(tar_member("demo_pkg-1.0/PKG-INFO", b"Name: demo\n")) + b"\x00" * 700
    assert problems(write(tmp_path, data, SDIST)) == []


# -- Z001 - Z004 ------------------------------------------------------------------------


def test_polyglot_wheel_is_z001_only(tmp_path: Path) -> None:
    inner = build_zip(good_entries())
    path = write(tmp_path, build_tar(tar_member("demo_pkg-1.0/x", inner)))
    assert zipfile.is_zipfile(path) and tarfile.is_tarfile(path)
    assert problems(path) == [("Z001", POLYGLOT)]


def test_polyglot_sdist_is_z001_only(tmp_path: Path) -> None:
    data = sdist_tgz(tar_member("demo_pkg-1.0/PKG-INFO", b"Name: demo\n")) + build_zip(good_entries())
    assert problems(write(tmp_path, data, SDIST)) == [("Z001", POLYGLOT)]


@pytest.mark.parametrize("data", [b"", os.urandom(3000), b"PK\x03\x04 not much more"], ids=["empty", "random", "stub"])
def test_not_a_zip(tmp_path: Path, data: bytes) -> None:
    with open_archive(write(tmp_path, data)) as archive:
        assert archive.problems == [("Z002", NOT_ZIP)]
        assert archive.format is None and archive.members == []


def test_truncated_wheel_is_not_a_zip(tmp_path: Path) -> None:
    whole = make_wheel(tmp_path).read_bytes()
    assert problems(write(tmp_path, whole[: len(whole) // 2], "cut-1.0-py3-none-any.whl")) == [("Z002", NOT_ZIP)]


def test_zip_whose_directory_zipfile_cannot_read_is_none(tmp_path: Path) -> None:
    data = bytearray(build_zip(good_entries()))
    data[data.index(b"PK\x01\x02") + 3] = 0x09  # break the first central header's signature
    with open_archive(write(tmp_path, bytes(data))) as archive:
        assert archive.problems == [("Z002", NONE)]
        assert "Bad magic number for central directory" in archive.details[("Z002", NONE)]


def test_zip_bomb_by_declared_size_is_refused_without_inflating(tmp_path: Path) -> None:
    bomb = Entry("demo_pkg/bomb.bin", b"", method=8, payload=deflate(b"\x00" * 1000), sizes=(0, 100_000_000))
    bomb.sizes = (len(bomb.packed()), 100_000_000)
    path = write(tmp_path, build_zip([*good_entries(), bomb]))
    tracemalloc.start()
    try:
        with open_archive(path) as archive:
            assert archive.problems == [("Z003", BOMB)]
            with pytest.raises(ArchiveReadError, match="over the"):
                archive.read("demo_pkg/bomb.bin")
            with pytest.raises(ArchiveReadError, match="ends early"):
                archive.read("demo_pkg/bomb.bin", limit=200_000_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


@pytest.mark.parametrize(("declared_over_limit", "refused"), [(-1, False), (+1, True), ("twice", True)],
                         ids=["just-under-50", "just-over-50", "twice-50"])
def test_zip_bomb_ratio_boundary(tmp_path: Path, declared_over_limit: int | str, refused: bool) -> None:
    """PyPI refuses a declared total over 50 times the file's size: at 50 x size - 1 byte it passes,
    at 50 x size + 1 byte it fails, and at twice the limit it fails."""
    payload = os.urandom(1_500_000)  # the file's bulk; the declared size alone moves the ratio
    def file_with(declared: int) -> Path:
        entry = Entry("demo_pkg/a.bin", method=8, payload=payload, sizes=(len(payload), declared))
        return write(tmp_path, build_zip([Entry("demo_pkg/__init__.py", b"x = 1\n"), entry]))

    size = file_with(0).stat().st_size  # the sizes are fixed-width fields: the length never changes
    limit = 50 * size - len(b"x = 1\n")  # the declared total (both members) exactly at the ratio
    declared = 2 * limit if declared_over_limit == "twice" else limit + int(declared_over_limit)
    path = file_with(declared)
    assert path.stat().st_size == size
    with zipfile.ZipFile(path) as zf:
        total = sum(i.file_size for i in zf.infolist())
    assert (total / size > 50) == refused and total > 64 << 20
    assert ("Z003" in codes(path)) == refused


def test_large_declared_size_below_ratio_is_not_a_bomb(tmp_path: Path) -> None:
    payload = os.urandom(1_500_000)  # 70 MB declared in a 1.5 MB file: ratio 47
    path = write(tmp_path, build_zip([Entry("demo_pkg/a.bin", method=8, payload=payload, sizes=(len(payload), 70_000_000))]))
    assert problems(path) == []


def test_member_inflating_past_its_declared_size_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = b"".join(c.compress(bytes(1 << 20)) for _ in range(50)) + c.flush()  # 50 MiB of zeros
    path = write(tmp_path, build_zip([Entry("demo_pkg/a.bin", method=8, payload=payload, sizes=(len(payload), 1000))]))
    tracemalloc.start()
    try:
        with open_archive(path) as archive, pytest.raises(ArchiveReadError, match="more than its declared 1000"):
            archive.read("demo_pkg/a.bin")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


def test_bzip2_member_is_z004_and_still_readable(tmp_path: Path) -> None:
    path = write(tmp_path, build_zip([*good_entries(), Entry("demo_pkg/b.py", b"b = 2\n" * 50, method=12)]))
    with open_archive(path) as archive:
        assert archive.problems == [("Z004", METHOD)]
        assert "bzip2" in archive.details[("Z004", METHOD)]
        assert archive.read("demo_pkg/b.py") == b"b = 2\n" * 50


def test_lzma_member_is_z004_and_unreadable(tmp_path: Path) -> None:
    entry = Entry("demo_pkg/l.py", b"l = 1\n", method=14, payload=lzma.compress(b"l = 1\n", lzma.FORMAT_ALONE))
    with open_archive(write(tmp_path, build_zip([entry]))) as archive:
        assert archive.problems == [("Z004", METHOD)]
        with pytest.raises(ArchiveReadError, match="lzma"):
            archive.read("demo_pkg/l.py")


# -- Z005: the record walk ----------------------------------------------------------------

A, B = "demo_pkg/a.py", "demo_pkg/b.py"
_EOCD64_BAD = b"PK\x06\x06" + (60).to_bytes(8, "little") + bytes(44) + bytes(8)
_EOCD64_OK = b"PK\x06\x06" + (44).to_bytes(8, "little") + bytes(44)
FRAMING = {
    "prepended stub": (dict(entries=[Entry(A)], prepend=b"MZ\x90\x00" + bytes(60)), "Unknown record signature"),
    "garbage between records": (dict(entries=[Entry(A)], before_cd=b"JUNK"), "Unknown record signature"),
    "data descriptor": (dict(entries=[Entry(A, method=8, descriptor=True)]), "ZIP contains a data descriptor"),
    "trailing data": (dict(entries=[Entry(A)], append=b"tail"), "Trailing data"),
    "entry comment": (dict(entries=[Entry(A, comment=b"hi")]), "Comment in central directory"),
    "duplicate entry": (dict(entries=[Entry(A), Entry(A)]), "Duplicate filename in local headers"),
    "duplicate central": (dict(entries=[Entry(A), Entry(A, in_local=False)]), "Duplicate filename in central directory"),
    "central only": (dict(entries=[Entry(A), Entry(B, in_local=False)]), "Missing filename in local headers"),
    "local only": (dict(entries=[Entry(A), Entry(B, in_central=False)]), "Filename not in central directory"),
    "renamed locally": (dict(entries=[Entry(A, local_name=B.encode())]), "Filename not in central directory"),
    "compressed size": (dict(entries=[Entry(A, local_sizes=(5, 6))]), "Mis-matched data size"),
    "file size": (dict(entries=[Entry(A, local_sizes=(6, 7))]), "Mis-matched file size"),
    "control char": (dict(entries=[Entry("demo_pkg/a\x01.py")]), "Invalid character in filename"),
    "DEL char": (dict(entries=[Entry("demo_pkg/a\x7f.py")]), "Invalid character in filename"),
    "latin-1 name": (dict(entries=[Entry(b"demo_pkg/caf\xe9.py")]), "Filename not unicode"),
    "utf-8 name, no flag": (dict(entries=[Entry("demo_pkg/café.py", flags=0)]), "Filename not in central directory"),
    "unicode path not utf-8": (dict(entries=[Entry(A, local_extra=unicode_path_extra(b"caf\xe9"))]),
                               "Filename not valid UTF-8"),
    "unicode path control": (dict(entries=[Entry(A, local_extra=unicode_path_extra(b"a\nb"))]),
                             "Invalid character in filename"),
    "unicode path twice": (dict(entries=[Entry(A, local_extra=unicode_path_extra(b"a") * 2)]),
                           "Invalid duplicate extra in local file"),
    "zip64 extra twice": (dict(entries=[Entry(A, local_extra=zip64_extra(6, 6) * 2)]),
                          "Invalid duplicate extra in local file"),
    "cut extra": (dict(entries=[Entry(A, local_extra=b"\x01\x02\x03")]), "Malformed zip file"),
    "extra past its end": (dict(entries=[Entry(A, local_extra=extra(0xCAFE, b"ab")[:5])]), "Malformed zip file"),
    "zip64 extra of 12": (dict(entries=[Entry(A, local_extra=extra(0x0001, bytes(12)))]), "Malformed zip file"),
    "zip64 size only, deflated": (dict(entries=[Entry(A, method=8, local_extra=zip64_extra(6))]), "Malformed zip file"),
    "record count": (dict(entries=[Entry(A)], count=2), "Mismatched central directory records"),
    "directory offset": (dict(entries=[Entry(A)], cd_offset=3), "Mismatched central directory offset"),
    "disk counts": (dict(entries=[Entry(A)], count_on_disk=0), "Malformed zip file"),
    "zip64 extensible data": (dict(entries=[Entry(A)], before_cd=_EOCD64_BAD), "ZIP64 extensible data not allowed"),
    "zip64 end, no locator": (dict(entries=[Entry(A)], before_cd=_EOCD64_OK), "Malformed zip file"),
}


@pytest.mark.parametrize("case", FRAMING, ids=list(FRAMING))
def test_zip_framing_is_refused_with_pypi_reason(tmp_path: Path, case: str) -> None:
    kwargs, reason = FRAMING[case]
    path = write(tmp_path, build_zip(**kwargs))  # type: ignore[arg-type]
    with zipfile.ZipFile(path):  # Python's zipfile reads all of these
        pass
    found = [message for code, message in problems(path) if code == "Z005"]
    assert found == [refused(reason)]


def test_zipfile_streaming_to_a_pipe_writes_data_descriptors(tmp_path: Path) -> None:
    class Pipe(io.RawIOBase):  # not seekable, like stdout: zipfile then sets general-purpose bit 3
        def __init__(self) -> None:
            self.out = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b: bytes) -> int:  # type: ignore[override]
            self.out += b
            return len(b)

    pipe = Pipe()
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("demo_pkg/__init__.py", "x = 1\n")
    assert problems(write(tmp_path, bytes(pipe.out))) == [("Z005", refused("ZIP contains a data descriptor"))]


def test_framing_hint_names_the_member(tmp_path: Path) -> None:
    path = write(tmp_path, build_zip([Entry(A), Entry(A)]))
    (finding,) = [f for f in check_file(path).findings if f.code == "Z005"]
    assert finding.pypi_rejects and finding.level == "error"
    assert finding.message == refused("Duplicate filename in local headers")
    assert finding.hint is not None and "'demo_pkg/a.py'" in finding.hint


# -- Z006 - Z007: tar -----------------------------------------------------------------------

PKG = tar_member("demo_pkg-1.0/PKG-INFO", b"Metadata-Version: 2.1\nName: demo\n")


@pytest.mark.parametrize(
    ("data", "message", "detail"),
    [
        (b"", NOT_TAR, None),
        (os.urandom(2000), NOT_TAR, None),
        (b"not a tar at all\n" * 40, NOT_TAR, None),
        (bz2.compress(build_tar(PKG)), NONE, "bzip2"),
        (lzma.compress(build_tar(PKG)), NONE, "xz"),
        (build_tar(PKG), NONE, "without gzip"),
        (sdist_tgz(PKG, tar_member("demo_pkg-1.0/a.py", os.urandom(30000)))[:15000], NONE, "truncated"),
    ],
    ids=["empty", "random", "text", "bz2", "xz", "uncompressed", "truncated"],
)
def test_tar_gz_that_is_not_a_whole_gzip_tar(tmp_path: Path, data: bytes, message: str, detail: str | None) -> None:
    with open_archive(write(tmp_path, data, SDIST)) as archive:
        assert archive.problems == [("Z006", message)]
        if detail:
            assert detail in archive.details[("Z006", message)]


def _corrupt_middle() -> bytes:
    data = bytearray(sdist_tgz(PKG, tar_member("demo_pkg-1.0/a.py", b"print(1)\n" * 4000)))
    data[len(data) // 2] ^= 0xFF
    return bytes(data)


@pytest.mark.parametrize(("data", "detail"), [
    (sdist_tgz(PKG) + b"garbage after the stream", "non-gzip data"),
    (_corrupt_middle(), "incorrect data check|Incorrect checksum found"),  # zlib's words | ISA-L's
], ids=["trailing garbage", "bad CRC"])
def test_gzip_broken_after_the_tar_end_is_toolkits_own_refusal(tmp_path: Path, data: bytes, detail: str) -> None:
    # PyPI's tarfile stops at the end-of-archive marker and accepts these; GNU tar and gzip refuse them
    [finding] = [f for f in check_file(write(tmp_path, data, SDIST)).findings if f.code.startswith("Z")]
    assert (finding.code, finding.level, finding.refused_by) == ("Z107", "error", "toolkit")
    assert any(d in finding.message for d in detail.split("|")) and "Invalid distribution file" not in finding.message


def test_zip_named_tar_gz_is_not_a_tarfile(tmp_path: Path) -> None:
    assert problems(write(tmp_path, build_zip(good_entries()), SDIST)) == [("Z006", NOT_TAR)]


def test_old_gnu_sparse_member_is_z007(tmp_path: Path) -> None:
    sparse = tar_header("demo_pkg-1.0/hole.bin", 512, type=b"S", sparse=[(4096, 512)], realsize=4608) + bytes(512)
    with open_archive(write(tmp_path, sdist_tgz(PKG, sparse), SDIST)) as archive:
        assert archive.problems == [("Z007", SPARSE)]
        assert "hole.bin" in archive.details[("Z007", SPARSE)]


def test_pax_sparse_member_is_z007(tmp_path: Path) -> None:
    pax = pax_member({"GNU.sparse.map": "0,5", "GNU.sparse.size": "5"}, "demo_pkg-1.0/hole.bin", b"hello")
    assert problems(write(tmp_path, sdist_tgz(PKG, pax), SDIST)) == [("Z007", SPARSE)]


def test_absurd_extended_header_is_refused_before_tarfile_reads_it(tmp_path: Path) -> None:
    huge = tar_header("././@PaxHeader", 20 << 20, type=b"x") + bytes(20 << 20)  # 20 MiB of PAX records
    path = write(tmp_path, sdist_tgz(PKG, huge + tar_member("demo_pkg-1.0/a.py", b"a")), SDIST)
    tracemalloc.start()
    try:
        with open_archive(path) as archive:
            assert archive.problems == [("Z006", NONE)]
            assert "extended header of 20971520 bytes" in archive.details[("Z006", NONE)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


# -- toolkit's stricter member checks -------------------------------------------------------


@pytest.mark.parametrize("name", ["../evil.py", "demo_pkg/../../evil.py", "/etc/evil.py", "C:/evil.py", "demo_pkg\\evil.py"])
def test_unsafe_member_name_is_z101(tmp_path: Path, name: str) -> None:
    found = problems(write(tmp_path, build_zip([Entry(A), Entry(name)])))
    assert [code for code, _ in found if code == "Z101"] == ["Z101"]
    assert repr(name) in found[-1][1]


def test_symlink_in_wheel_is_z102(tmp_path: Path) -> None:
    link = Entry("demo_pkg/link.py", b"__init__.py", mode=stat.S_IFLNK | 0o777)
    with open_archive(write(tmp_path, build_zip([Entry("demo_pkg/__init__.py"), link]))) as archive:
        (member,) = [m for m in archive.members if m.kind == "symlink"]
        assert member.link_target == "__init__.py"
        assert archive.problems == [
            ("Z102", "member 'demo_pkg/link.py' is a symlink to '__init__.py': installers do not create links from wheels")
        ]


def test_links_leaving_the_sdist_folder_are_z102(tmp_path: Path) -> None:
    data = sdist_tgz(
        PKG,
        tar_member("demo_pkg-1.0/inside", type=b"2", linkname="PKG-INFO"),
        tar_member("demo_pkg-1.0/same", type=b"1", linkname="demo_pkg-1.0/PKG-INFO"),
        tar_member("demo_pkg-1.0/passwd", type=b"2", linkname="../../etc/passwd"),
        tar_member("demo_pkg-1.0/other", type=b"1", linkname="other-1.0/x"),
    )
    found = problems(write(tmp_path, data, SDIST))
    assert [code for code, _ in found] == ["Z102", "Z102"]
    assert "'demo_pkg-1.0/passwd' is a symlink to '../../etc/passwd'" in found[0][1]
    assert "'demo_pkg-1.0/other' is a hardlink" in found[1][1]


def test_special_members_are_z103(tmp_path: Path) -> None:
    data = sdist_tgz(PKG, tar_member("demo_pkg-1.0/pipe", type=b"6"), tar_member("demo_pkg-1.0/tty", type=b"3"))
    found = problems(write(tmp_path, data, SDIST))
    assert found == [("Z103", "member 'demo_pkg-1.0/pipe' is a FIFO (named pipe)"),
                     ("Z103", "member 'demo_pkg-1.0/tty' is a device file")]
    fifo = Entry("demo_pkg/pipe", b"", mode=stat.S_IFIFO | 0o644)
    assert codes(write(tmp_path, build_zip([Entry(A), fifo]))) == ["Z103"]


def test_names_differing_only_by_case_are_z104(tmp_path: Path) -> None:
    found = problems(write(tmp_path, build_zip([Entry("demo_pkg/A.py"), Entry("demo_pkg/a.py"), Entry("Demo_pkg/x.py")])))
    assert found == [("Z104", "members 'demo_pkg' and 'Demo_pkg' differ only by case"),
                     ("Z104", "members 'demo_pkg/A.py' and 'demo_pkg/a.py' differ only by case")]


def test_in_tree_symlink_in_zip_sdist_is_z105(tmp_path: Path) -> None:
    entries = [Entry("demo_pkg-1.0/PKG-INFO"), Entry("demo_pkg-1.0/link", b"PKG-INFO", mode=stat.S_IFLNK | 0o777)]
    assert codes(write(tmp_path, build_zip(entries), "demo_pkg-1.0.zip")) == ["Z105"]


def test_duplicate_tar_member_is_z106_warning(tmp_path: Path) -> None:
    dup = tar_member("demo_pkg-1.0/a.py", b"a = 1\n")
    folder = tar_member("demo_pkg-1.0", type=b"5")
    path = write(tmp_path, sdist_tgz(PKG, dup, folder, folder, dup), SDIST)
    assert problems(path) == [("Z106", "member 'demo_pkg-1.0/a.py' appears 2 times: the last copy wins when it is unpacked")]
    (finding,) = [f for f in check_file(path).findings if f.code.startswith("Z")]
    assert (finding.level, finding.pypi_rejects) == ("warning", False)


def test_many_findings_of_one_code_are_capped(tmp_path: Path) -> None:
    entries = [Entry(f"../evil{i}.py") for i in range(25)]
    found = [message for code, message in problems(write(tmp_path, build_zip(entries))) if code == "Z101"]
    assert len(found) == 21 and found[-1] == "... and 5 more like the above"


# -- reading -----------------------------------------------------------------------------


def test_large_tar_member_is_read_on_a_second_pass(tmp_path: Path) -> None:
    big = os.urandom(3 << 20)
    path = write(tmp_path, sdist_tgz(PKG, tar_member("demo_pkg-1.0/big.bin", big), tar_member("demo_pkg-1.0/z", b"z")), SDIST)
    with open_archive(path) as archive:
        assert archive.problems == []
        assert archive.read("demo_pkg-1.0/big.bin") == big
        assert archive.read("demo_pkg-1.0/z") == b"z"
        with pytest.raises(ArchiveReadError, match="over the"):
            archive.read("demo_pkg-1.0/big.bin", limit=1 << 20)


def test_read_refuses_bad_crc_missing_members_and_a_closed_archive(tmp_path: Path) -> None:
    data = bytearray(build_zip([Entry(A, b"hello world")]))
    data[data.index(b"hello world")] = ord("j")
    archive = open_archive(write(tmp_path, bytes(data)))
    with pytest.raises(ArchiveReadError, match="CRC"):
        archive.read(A)
    with pytest.raises(ArchiveReadError, match="no such member"):
        archive.read("nope")
    archive.close()
    with pytest.raises(ArchiveReadError, match="closed"):
        archive.read(A)


def test_a_file_that_shrinks_while_open_fails_reads_without_crashing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Files above WHOLE_FILE_MAX are read by position, not held: this is that path.
    import toolkit.check.archive as archive_module

    monkeypatch.setattr(archive_module, "WHOLE_FILE_MAX", 0)
    wheel = make_wheel(tmp_path, files={"demo_pkg/big.py": os.urandom(200_000)})
    sdist = write(tmp_path, sdist_tgz(PKG, tar_member("demo_pkg-1.0/big.bin", os.urandom(2 << 20))), SDIST)
    for path, name in ((wheel, "demo_pkg/big.py"), (sdist, "demo_pkg-1.0/big.bin")):
        with open_archive(path) as archive:
            with open(path, "r+b") as f:
                f.truncate(1000)
            with pytest.raises(ArchiveReadError):
                archive.read(name)


def test_links_and_folders_in_tar_are_not_readable_as_files(tmp_path: Path) -> None:
    data = sdist_tgz(PKG, tar_member("demo_pkg-1.0/sub", type=b"5"), tar_member("demo_pkg-1.0/l", type=b"2", linkname="PKG-INFO"))
    with open_archive(write(tmp_path, data, SDIST)) as archive:
        assert [m.kind for m in archive.members] == ["file", "dir", "symlink"]
        with pytest.raises(ArchiveReadError, match="symlink"):
            archive.read("demo_pkg-1.0/l")


# -- through the check stage ----------------------------------------------------------------


def test_check_file_reports_pypi_rejections_with_their_codes(tmp_path: Path) -> None:
    inner = build_zip(good_entries())
    polyglot = write(tmp_path, build_tar(tar_member("demo_pkg-1.0/x", inner)))
    (finding,) = [f for f in check_file(polyglot).findings if f.code.startswith("Z")]
    assert (finding.code, finding.level, finding.pypi_rejects, finding.message) == ("Z001", "error", True, POLYGLOT)
    assert finding.hint and "zip and as a tar" in finding.hint

    bz2_sdist = write(tmp_path, bz2.compress(build_tar(PKG)), SDIST)
    (finding,) = [f for f in check_file(bz2_sdist).findings if f.code.startswith("Z")]
    assert (finding.code, finding.pypi_rejects, finding.message) == ("Z006", True, NONE)
    assert finding.hint and "bzip2" in finding.hint


def test_check_file_has_no_archive_findings_for_good_dists(tmp_path: Path) -> None:
    for path in (make_wheel(tmp_path), make_sdist(tmp_path)):
        assert [f for f in check_file(path).findings if f.code.startswith("Z")] == []

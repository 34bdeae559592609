"""The binaries rules (B1xx) on real binaries: ELF files compiled here with gcc,
and macOS / Windows binaries taken from real PyPI wheels (tests/pypi_corpus.py),
each packed into wheels under right and wrong tags.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from distfactory import make_wheel

from toolkit.check import INTERNAL, check_file
from toolkit.check.report import Finding

HOST = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(platform.machine().lower())
OTHER = "aarch64" if HOST == "x86_64" else "x86_64"
MODULE = f"demo_pkg/_speedups.cpython-312-{HOST}-linux-gnu.so"
TAG = f"cp312-cp312-manylinux_2_17_{HOST}"

needs_gcc = pytest.mark.skipif(
    sys.platform != "linux" or HOST is None or shutil.which("gcc") is None,
    reason="compiles Linux ELF files with gcc",
)


def b_findings(path: Path) -> list[Finding]:
    """The B findings of one file; a rule that crashed fails the test."""
    report = check_file(path)
    crashed = [f.message for f in report.findings if f.code == INTERNAL]
    assert not crashed, crashed
    return [f for f in report.findings if f.code.startswith("B")]


def messages(path: Path, code: str) -> list[str]:
    return [f.message for f in b_findings(path) if f.code == code]


def glibc_version() -> tuple[int, int]:
    name = os.confstr("CS_GNU_LIBC_VERSION") or "glibc 0.0"  # "glibc 2.36"
    major, minor = name.split()[1].split(".")[:2]
    return int(major), int(minor)


# -- ELF files built here -----------------------------------------------------------------------

SOURCES = {
    # An extension that needs only old libc symbols.
    "ext": "extern int puts(const char *);\nint PyInit__speedups(void) { return puts(\"hi\"); }\n",
    # pthread_create moved into libc in glibc 2.34: the reference is versioned GLIBC_2.34.
    "new_glibc": "#include <pthread.h>\nstatic void *run(void *a) { return a; }\n"
                 "int PyInit__speedups(void) { pthread_t t; return pthread_create(&t, 0, run, 0); }\n",
    "libfoo": "int foo(void) { return 42; }\n",
    "needs_foo": "extern int foo(void);\nint PyInit__speedups(void) { return foo(); }\n",
    "musl_libc": "int musl_only(void) { return 1; }\n",
    "musl_ext": "extern int musl_only(void);\nint PyInit__speedups(void) { return musl_only(); }\n",
    # Python C API calls, left undefined for the interpreter to resolve (as every extension does).
    "py": "extern void *PyList_New(long);\n"
          "extern void *PyObject_Vectorcall(void *, void *const *, unsigned long, void *);\n"
          "extern void *_PyLong_New(long);\n"
          "void *PyInit__speedups(void) { PyObject_Vectorcall(PyList_New(0), 0, 0, 0); return _PyLong_New(1); }\n",
}


@pytest.fixture(scope="session")
def elf(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    if sys.platform != "linux" or HOST is None or shutil.which("gcc") is None:
        pytest.skip("compiles Linux ELF files with gcc")
    folder = tmp_path_factory.mktemp("elf")
    musl = f"libc.musl-{HOST}.so.1"
    flags = {
        "libfoo": ["-Wl,-soname,libfoo.so.1"],
        "needs_foo": [f"-L{folder}", "-l:libfoo.so.1"],
        "musl_libc": ["-nostdlib", f"-Wl,-soname,{musl}"],
        "musl_ext": ["-nostdlib", f"-L{folder}", f"-l:{musl}"],
        "new_glibc": ["-pthread"],
    }
    outputs = {"libfoo": "libfoo.so.1", "musl_libc": musl}
    built = {}
    for name, source in SOURCES.items():  # dict order: each library before what links it
        src = folder / f"{name}.c"
        src.write_text(source)
        out = folder / outputs.get(name, f"{name}.so")
        subprocess.run(["gcc", "-shared", "-fPIC", "-O0", "-o", str(out), str(src), *flags.get(name, [])],
                       check=True, capture_output=True)
        built[name] = out.read_bytes()
    return built


@needs_gcc
def test_a_right_manylinux_wheel_has_no_binary_finding(elf: dict[str, bytes], tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, tag=TAG, files={MODULE: elf["ext"], "demo_pkg/__init__.py": b""})
    assert b_findings(wheel) == []


@needs_gcc
def test_elf_arch_must_match_the_platform_tag(elf: dict[str, bytes], tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, tag=f"cp312-cp312-manylinux_2_17_{OTHER}",
                       files={f"demo_pkg/_speedups.cpython-312-{OTHER}-linux-gnu.so": elf["ext"]})
    assert messages(wheel, "B101") == [
        f"demo_pkg/_speedups.cpython-312-{OTHER}-linux-gnu.so is built for {HOST}, "
        f"but the wheel is tagged manylinux_2_17_{OTHER}"
    ]


@needs_gcc
def test_executables_in_scripts_are_recognised_by_their_magic(elf: dict[str, bytes], tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, tag=f"py3-none-manylinux_2_17_{OTHER}",
                       files={"demo_pkg-1.0.data/scripts/demo-tool": elf["ext"], "demo_pkg/__init__.py": b""})
    assert [f.code for f in b_findings(wheel)] == ["B101"]
    assert "demo_pkg-1.0.data/scripts/demo-tool is built for" in messages(wheel, "B101")[0]


@needs_gcc
@pytest.mark.parametrize(("platform_tag", "allows"), [
    (f"manylinux_2_17_{HOST}", "GLIBC up to 2.17"),
    (f"manylinux2014_{HOST}", "GLIBC up to 2.17"),
    (f"manylinux_2_28_{HOST}", "GLIBC up to 2.28"),
])
def test_glibc_symbol_versions_newer_than_the_tag(elf: dict[str, bytes], tmp_path: Path, platform_tag: str,
                                                  allows: str) -> None:
    if glibc_version() < (2, 34):
        pytest.skip("needs glibc 2.34 or later to link pthread_create@GLIBC_2.34")
    wheel = make_wheel(tmp_path, tag=f"cp312-cp312-{platform_tag}", files={MODULE: elf["new_glibc"]})
    assert messages(wheel, "B102") == [
        f"{MODULE} needs GLIBC_2.34 (pthread_create) from libc.so.6; {platform_tag} allows {allows}"
    ]


@needs_gcc
@pytest.mark.parametrize("platform_tag", [f"manylinux_2_34_{HOST}", f"manylinux_2_99_{HOST}"])
def test_glibc_symbol_versions_within_the_tag(elf: dict[str, bytes], tmp_path: Path, platform_tag: str) -> None:
    if glibc_version() < (2, 34):
        pytest.skip("needs glibc 2.34 or later to link pthread_create@GLIBC_2.34")
    # 2.99 is newer than any policy auditwheel knows: the tag's own glibc version decides.
    wheel = make_wheel(tmp_path, tag=f"cp312-cp312-{platform_tag}", files={MODULE: elf["new_glibc"]})
    assert messages(wheel, "B102") == []


@needs_gcc
def test_a_musllinux_wheel_must_not_link_glibc(elf: dict[str, bytes], tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, tag=f"cp312-cp312-musllinux_1_2_{HOST}",
                       files={f"demo_pkg/_speedups.cpython-312-{HOST}-linux-musl.so": elf["ext"]})
    found = b_findings(wheel)
    assert [(f.code, f.message) for f in found] == [
        ("B103", f"demo_pkg/_speedups.cpython-312-{HOST}-linux-musl.so links glibc, "
                 f"but the wheel is tagged musllinux_1_2_{HOST} (musl)")
    ]  # and no B104 for libc.so.6: one defect, one finding


@needs_gcc
def test_a_manylinux_wheel_must_not_link_musl(elf: dict[str, bytes], tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, tag=TAG, files={MODULE: elf["musl_ext"]})
    assert messages(wheel, "B103") == [f"{MODULE} links musl, but the wheel is tagged manylinux_2_17_{HOST} (glibc)"]
    good = make_wheel(tmp_path, tag=f"cp312-cp312-musllinux_1_2_{HOST}", filename="good.whl",
                      files={f"demo_pkg/_speedups.cpython-312-{HOST}-linux-musl.so": elf["musl_ext"]})
    assert b_findings(good) == []


@needs_gcc
def test_libraries_outside_the_policy_must_be_vendored(elf: dict[str, bytes], tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, tag=TAG, files={MODULE: elf["needs_foo"]})
    found = [f for f in b_findings(wheel) if f.code == "B104"]
    assert [(f.level, f.message) for f in found] == [
        ("warning", f"{MODULE} needs libfoo.so.1, which manylinux_2_17_{HOST} does not allow "
                    "and the wheel does not vendor")
    ]
    assert found[0].hint is not None and "auditwheel repair" in found[0].hint
    vendored = make_wheel(tmp_path, tag=TAG, filename="vendored.whl",
                          files={MODULE: elf["needs_foo"], "demo_pkg.libs/libfoo.so.1": elf["libfoo"]})
    assert b_findings(vendored) == []


@needs_gcc
def test_a_linux_tag_is_refused_once_with_a_hint_to_repair(elf: dict[str, bytes], tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, tag=f"cp312-cp312-linux_{HOST}", files={MODULE: elf["needs_foo"]})
    assert {f.code for f in b_findings(wheel)} == {"B104"}
    n021 = [f for f in check_file(wheel).findings if f.code == "N021"]
    assert len(n021) == 1 and n021[0].pypi_rejects
    assert n021[0].hint is not None and "repair" in n021[0].hint


@needs_gcc
def test_a_linux_tag_names_what_repair_would_vendor(elf: dict[str, bytes], tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, tag=f"cp312-cp312-linux_{HOST}", files={MODULE: elf["needs_foo"]})
    assert messages(wheel, "B104") == [
        f"{MODULE} needs libfoo.so.1, which no policy allows and the wheel does not vendor"
    ]


@needs_gcc
def test_many_wrong_binaries_are_counted_not_listed(elf: dict[str, bytes], tmp_path: Path) -> None:
    files = {f"demo_pkg/_m{i:02}.cpython-312-{OTHER}-linux-gnu.so": elf["ext"] for i in range(25)}
    wheel = make_wheel(tmp_path, tag=f"cp312-cp312-manylinux_2_17_{OTHER}", files=files)
    found = messages(wheel, "B101")
    assert len(found) == 21
    assert found[0].startswith(f"demo_pkg/_m00.cpython-312-{OTHER}-linux-gnu.so is built for {HOST}")
    assert found[-1] == "... and 5 more like the above"


@needs_gcc
def test_a_corrupt_binary_is_a_finding_not_a_crash(elf: dict[str, bytes], tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, tag=TAG, files={
        MODULE: elf["ext"][:100],  # the ELF header, then nothing
        "demo_pkg/_other.cpython-312-x86_64-linux-gnu.so": b"INPUT(libother.so)\n",
    })
    found = sorted(messages(wheel, "B100"))
    assert len(found) == 2
    assert found[0].startswith("demo_pkg/_other.cpython-312-x86_64-linux-gnu.so: not an ELF, Mach-O or PE file")
    assert found[1].startswith(f"{MODULE}: cannot parse as ELF")


@needs_gcc
@pytest.mark.parametrize(("tag", "expected"), [
    ("cp39-abi3", ["demo_pkg/_speedups.abi3.so uses _PyLong_New, not part of the stable ABI, in a wheel tagged "
                   "cp39-abi3",
                   "demo_pkg/_speedups.abi3.so uses PyObject_Vectorcall (3.12), added to the stable ABI after 3.9 "
                   "(cp39-abi3)"]),
    ("cp312-abi3", ["demo_pkg/_speedups.abi3.so uses _PyLong_New, not part of the stable ABI, in a wheel tagged "
                    "cp312-abi3"]),
    ("cp312-cp312", []),  # not abi3: any symbol of that one version is fine
])
def test_abi3_wheels_use_only_the_stable_abi_of_their_version(elf: dict[str, bytes], tmp_path: Path, tag: str,
                                                              expected: list[str]) -> None:
    wheel = make_wheel(tmp_path, tag=f"{tag}-manylinux_2_17_{HOST}", files={"demo_pkg/_speedups.abi3.so": elf["py"]})
    assert messages(wheel, "B131") == expected


@needs_gcc
@pytest.mark.parametrize(("abi", "module", "expected"), [
    ("cp313t", "cpython-313t", None),
    ("cp313", "cpython-313", None),
    ("cp313t", "cpython-313", "lacks the t suffix"),
    ("cp313t", "abi3", "lacks the t suffix"),
    ("cp313", "cpython-313t", "is built for free-threaded CPython 3.13t, but the wheel's ABI tag is cp313"),
])
def test_free_threaded_module_names_match_the_abi_tag(elf: dict[str, bytes], tmp_path: Path, abi: str, module: str,
                                                      expected: str | None) -> None:
    suffix = "abi3.so" if module == "abi3" else f"{module}-{HOST}-linux-gnu.so"
    wheel = make_wheel(tmp_path, tag=f"cp313-{abi}-manylinux_2_17_{HOST}",
                       files={f"demo_pkg/_speedups.{suffix}": elf["ext"]})
    found = b_findings(wheel)
    if expected is None:
        assert found == []
    else:
        assert [f.code for f in found] == ["B141"]
        assert expected in found[0].message


@needs_gcc
@pytest.mark.parametrize(("tag", "module", "expected"), [
    ("cp312-cp312", f"cpython-311-{HOST}-linux-gnu", "CPython 3.11, which disagrees with the wheel tag cp312-cp312"),
    ("cp312-abi3", f"cpython-312-{HOST}-linux-gnu", "CPython 3.12, which disagrees with the wheel tag cp312-abi3"),
    ("py3-none", f"cpython-312-{HOST}-linux-gnu", "names CPython 3.12, which disagrees with the wheel tag py3-none"),
    ("cp312-cp312", f"cpython-312-{OTHER}-linux-gnu", f"names platform {OTHER}-linux-gnu, which disagrees"),
    ("cp312-cp312", f"cpython-312-{HOST}-linux-musl", f"names platform {HOST}-linux-musl, which disagrees"),
    ("cp312-cp312", "cp312-win_amd64", "names platform win_amd64, which disagrees"),
])
def test_extension_file_name_tags_agree_with_the_wheel(elf: dict[str, bytes], tmp_path: Path, tag: str, module: str,
                                                       expected: str) -> None:
    ext = "pyd" if "win" in module else "so"
    wheel = make_wheel(tmp_path, tag=f"{tag}-manylinux_2_17_{HOST}",
                       files={f"demo_pkg/_speedups.{module}.{ext}": elf["ext"]})
    found = [f for f in b_findings(wheel) if f.code == "B151"]
    assert len(found) == 1 and found[0].level == "warning"
    assert expected in found[0].message


def test_a_pure_wheel_never_imports_the_binary_parsers(tmp_path: Path) -> None:
    # A pure wheel with a binary-looking member: nothing of it is parsed, no parser is imported.
    wheel = make_wheel(tmp_path, files={"demo_pkg/__init__.py": b"", "demo_pkg/bin/tool.exe": b"MZ" + b"\0" * 200})
    script = (
        "import sys; from pathlib import Path; from toolkit.check import check_file\n"
        f"report = check_file(Path({str(wheel)!r}))\n"
        "assert not [f for f in report.findings if f.code.startswith(('B', 'K'))], report.findings\n"
        "print(sorted(m for m in ('elftools', 'macholib', 'pefile', 'abi3info', 'auditwheel') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- Real macOS and Windows binaries from PyPI (the shared corpus) -----------------------------------


def real_binary(corpus: list[Path], wheel_prefix: str, suffix: str) -> tuple[str, bytes]:
    """The first binary member ending with `suffix` of the corpus wheel whose name starts with `wheel_prefix`."""
    path = next((p for p in corpus if p.name.startswith(wheel_prefix)), None)
    assert path is not None, f"no corpus wheel named {wheel_prefix}*: update this test with tests/pypi_corpus.py"
    with zipfile.ZipFile(path) as zf:
        name = min((n for n in zf.namelist() if n.endswith(suffix)), key=lambda n: zf.getinfo(n).file_size)
        return name, zf.read(name)


@pytest.mark.slow
def test_real_binary_wheels_have_no_binary_finding(corpus: list[Path]) -> None:
    wheels = [p for p in corpus if p.name.endswith(".whl") and not p.name.endswith("-any.whl")]
    assert len(wheels) >= 10  # manylinux, musllinux, macOS thin/fat/intel, Windows x86/x64/arm64, abi3, PyPy
    found = {p.name: [f"{f.code}: {f.message}" for f in b_findings(p)] for p in wheels}
    assert {name: f for name, f in found.items() if f} == {}


@pytest.mark.slow
@pytest.mark.parametrize(("source", "platform_tag", "expected"), [
    ("markupsafe-3.0.4-cp313-cp313-macosx_11_0_arm64", "macosx_11_0_x86_64",
     "holds arm64, but the wheel is tagged macosx_11_0_x86_64, which needs x86_64"),
    ("markupsafe-3.0.4-cp313-cp313-macosx_11_0_arm64", "macosx_11_0_universal2",
     "holds arm64, but the wheel is tagged macosx_11_0_universal2, which needs x86_64"),
    ("markupsafe-3.0.4-cp313-cp313-macosx_10_13_x86_64", "macosx_10_13_intel",
     "holds x86_64, but the wheel is tagged macosx_10_13_intel, which needs i386"),
])
def test_macho_arches_must_cover_the_tag(corpus: list[Path], tmp_path: Path, source: str, platform_tag: str,
                                         expected: str) -> None:
    name, data = real_binary(corpus, source, ".so")
    wheel = make_wheel(tmp_path, tag=f"cp313-cp313-{platform_tag}", files={name: data})
    assert [f.code for f in b_findings(wheel)] == ["B111"]
    assert messages(wheel, "B111") == [f"{name} {expected}"]


@pytest.mark.slow
@pytest.mark.parametrize(("source", "platform_tag", "expected"), [
    # built for macOS 10.13, tagged 10.9
    ("markupsafe-3.0.4-cp313-cp313-macosx_10_13_x86_64", "cp313-cp313-macosx_10_9_x86_64",
     "(x86_64) needs macOS 10.13"),
    # built for macOS 14, tagged 11
    ("numpy-2.5.5-cp314-cp314t-macosx_14_0_arm64", "cp314-cp314t-macosx_11_0_arm64", "(arm64) needs macOS 14.0"),
    # arm64 needs macOS 11 anyway: a 10.9 tag is no promise an arm64 Mac could break
    ("markupsafe-3.0.4-cp313-cp313-macosx_11_0_arm64", "cp313-cp313-macosx_10_9_arm64", None),
    ("markupsafe-3.0.4-cp313-cp313-macosx_10_13_x86_64", "cp313-cp313-macosx_10_13_x86_64", None),
])
def test_macho_minimum_macos_within_the_tag(corpus: list[Path], tmp_path: Path, source: str, platform_tag: str,
                                            expected: str | None) -> None:
    name, data = real_binary(corpus, source, ".so")
    wheel = make_wheel(tmp_path, tag=platform_tag, files={name: data})
    assert messages(wheel, "B112") == ([f"{name} {expected}, but the wheel is tagged {platform_tag.split('-')[2]}"]
                                       if expected else [])


@pytest.mark.slow
@pytest.mark.parametrize(("source", "platform_tag", "machine"), [
    ("markupsafe-3.0.4-cp313-cp313-win_amd64", "win32", "AMD64"),
    ("markupsafe-3.0.4-cp313-cp313-win_arm64", "win_amd64", "ARM64"),
    ("markupsafe-3.0.4-cp313-cp313-win32", "win_arm64", "I386"),
])
def test_pe_machine_must_match_the_windows_tag(corpus: list[Path], tmp_path: Path, source: str, platform_tag: str,
                                               machine: str) -> None:
    name, data = real_binary(corpus, source, ".pyd")
    wheel = make_wheel(tmp_path, tag=f"cp313-cp313-{platform_tag}",
                       files={name.replace(source.rsplit("-", 1)[1], platform_tag): data})
    found = b_findings(wheel)
    assert [f.code for f in found] == ["B121"]
    assert found[0].message.endswith(f"is built for {machine}, but the wheel is tagged {platform_tag}")


@pytest.mark.slow
def test_an_abi3_windows_module_must_not_import_a_versioned_python_dll(corpus: list[Path], tmp_path: Path) -> None:
    _, data = real_binary(corpus, "markupsafe-3.0.4-cp313-cp313-win_amd64", ".pyd")
    wheel = make_wheel(tmp_path, tag="cp313-abi3-win_amd64", files={"markupsafe/_speedups.pyd": data})
    found = messages(wheel, "B131")
    assert found[0] == ("markupsafe/_speedups.pyd imports python313.dll, which exists for one CPython version only; "
                        "an abi3 module imports python3.dll")


@pytest.mark.slow
def test_an_abi3_macos_module_uses_only_the_stable_abi(corpus: list[Path], tmp_path: Path) -> None:
    _, data = real_binary(corpus, "markupsafe-3.0.4-cp313-cp313-macosx_11_0_arm64", ".so")
    wheel = make_wheel(tmp_path, tag="cp313-abi3-macosx_11_0_arm64", files={"markupsafe/_speedups.abi3.so": data})
    assert messages(wheel, "B131") == [
        "markupsafe/_speedups.abi3.so uses PyUnicode_New, not part of the stable ABI, in a wheel tagged cp313-abi3"
    ]


@needs_gcc
def test_a_multi_tag_wheel_is_judged_by_its_strictest_manylinux_tag(tmp_path: Path) -> None:
    """manylinux_2_17 + manylinux2014 + manylinux_2_28 in one name: a binary that needs glibc 2.25
    (getrandom) fits 2_28 but not the other two, and pip installs the wheel on glibc 2.17 systems."""
    if glibc_version() < (2, 25):
        pytest.skip("needs glibc 2.25 or later to link getrandom@GLIBC_2.25")
    src = tmp_path / "getrandom.c"
    src.write_text("#include <sys/random.h>\n"
                   "int PyInit__speedups(void) { char b[4]; return (int)getrandom(b, sizeof b, 0); }\n")
    out = tmp_path / "getrandom.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O0", "-o", str(out), str(src)], check=True, capture_output=True)
    platforms = f"manylinux_2_17_{HOST}.manylinux2014_{HOST}.manylinux_2_28_{HOST}"
    wheel = make_wheel(tmp_path, tag=f"cp312-cp312-{platforms}", files={MODULE: out.read_bytes()})
    found = messages(wheel, "B102")
    assert len(found) == 1 and "needs GLIBC_2.25 (getrandom)" in found[0], found
    assert "allows GLIBC up to 2.17" in found[0], found

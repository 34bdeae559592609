"""Filename rules (N): the platform allowlist, packaging 26.2's filename parsing, the sdist and wheel
name rules against Name/Version, and a few real files through check_file."""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

import pytest
from distfactory import make_sdist, make_wheel, metadata_text
from packaging.version import Version

from toolkit.check import check_file
from toolkit.check.rules import load_all
from toolkit.check.rules.filename import (
    FilenameError,
    extension_error,
    parse_wheel_filename,
    sdist_name_errors,
    valid_platform_tag,
    wheel_name_errors,
)
from toolkit.check.view import DistView

ACCEPTED = [
    "any", "win32", "win_amd64", "win_arm64", "win_ia64",
    "manylinux1_x86_64", "manylinux1_i686", "manylinux2010_x86_64", "manylinux2010_i686",
    "manylinux2014_x86_64", "manylinux2014_i686", "manylinux2014_aarch64", "manylinux2014_armv7l",
    "manylinux2014_ppc64", "manylinux2014_ppc64le", "manylinux2014_s390x",
    "linux_armv6l", "linux_armv7l",
    "macosx_10_9_x86_64", "macosx_10_16_universal2", "macosx_10_0_ppc", "macosx_10_6_intel", "macosx_10_4_fat3",
    "macosx_10_5_fat64", "macosx_10_3_universal", "macosx_10_6_i386", "macosx_10_5_ppc64",
    "macosx_11_0_arm64", "macosx_12_0_x86_64", "macosx_13_0_universal2", "macosx_14_0_arm64", "macosx_15_0_arm64",
    "macosx_26_0_arm64",
    "manylinux_2_17_x86_64", "manylinux_2_28_aarch64", "manylinux_2_5_i686", "manylinux_2_31_armv7l",
    "manylinux_2_17_ppc64le", "manylinux_2_17_s390x", "manylinux_2_39_riscv64", "manylinux_2_17_ppc64",
    "manylinux_99_99_x86_64",
    "musllinux_1_1_x86_64", "musllinux_1_2_aarch64", "musllinux_1_2_i686", "musllinux_1_2_armv7l",
    "musllinux_1_2_ppc64le", "musllinux_1_2_s390x", "musllinux_1_2_riscv64",
    "ios_13_0_arm64_iphoneos", "ios_13_0_arm64_iphonesimulator", "ios_13_0_x86_64_iphonesimulator",
    "ios_13_0_arm64_iphoneos_trailing",  # PyPI's regex has no end anchor
    "android_21_arm64_v8a", "android_21_armeabi_v7a", "android_24_x86", "android_24_x86_64",
    "pyemscripten_2025_0_wasm32", "pyemscripten_2026_1_wasm32_trailing",  # a prefix match too
]
REFUSED = [
    "linux_x86_64", "linux_aarch64", "linux_i686", "linux_riscv64",
    "macosx_11_1_arm64", "macosx_16_0_arm64", "macosx_25_0_arm64", "macosx_27_0_arm64", "macosx_10_9_arm64e",
    "macosx_10_9_fat32", "macosx_11_0_armv7",
    "musllinux_1_2_ppc64", "manylinux_2_17_loongarch64", "manylinux_2_17_armv6l", "musllinux_1_2_armv6l",
    "manylinux2014_riscv64", "manylinux2010_aarch64", "manylinux1_aarch64",
    "ios_13_0_arm64_ipados", "ios_13_0_armv7_iphoneos", "android_21_mips",
    "emscripten_3_1_58_wasm32", "pyodide_2024_0_wasm32", "wasi_0_0_0_wasm32", "win_arm32", "cygwin_3_5_x86_64",
    "freebsd_14_0_amd64", "solaris_2_11_sun4v", "", "ANY",
]


@pytest.mark.parametrize("platform", ACCEPTED)
def test_platforms_pypi_accepts(platform: str) -> None:
    assert valid_platform_tag(platform)


@pytest.mark.parametrize("platform", REFUSED)
def test_platforms_pypi_refuses(platform: str) -> None:
    assert not valid_platform_tag(platform)


@pytest.mark.parametrize(("filename", "error"), [
    ("demo_pkg-1.0-py3-none.whl", "Invalid wheel filename (wrong number of parts): 'demo_pkg-1.0-py3-none'"),
    ("demo_pkg-1.0-beta-py3-none-any.whl", "Invalid build number: beta in 'demo_pkg-1.0-beta-py3-none-any'"),
    ("demo__pkg-1.0-py3-none-any.whl", "Invalid project name: 'demo__pkg-1.0-py3-none-any'"),
    ("demo+pkg-1.0-py3-none-any.whl", "Invalid project name: 'demo+pkg-1.0-py3-none-any'"),
    ("demo_pkg-x.y-py3-none-any.whl", "Invalid wheel filename (invalid version): 'demo_pkg-x.y-py3-none-any'"),
    ("demo_pkg-1.0-py3-none-any.zip", "Invalid wheel filename (extension must be '.whl'): "
                                      "'demo_pkg-1.0-py3-none-any.zip'"),
])
def test_wheel_filename_errors(filename: str, error: str) -> None:
    with pytest.raises(FilenameError) as caught:
        parse_wheel_filename(filename)
    assert str(caught.value) == error


@pytest.mark.parametrize("filename", [
    "-1.0-py3-none-any.whl",  # packaging 26.3 refuses an empty name; PyPI's 26.2 does not
    "demo_pkg-1.0-3x-none-any.whl",  # 26.3 refuses a non-identifier interpreter
    "demo_pkg-1.0-py3..py2-none-any.whl",  # 26.3 refuses empty tag-set parts
    "demo_pkg-1.0-1beta-cp311.cp312-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "démo-1.0-py3-none-any.whl",
])
def test_wheel_filenames_packaging_262_parses(filename: str) -> None:
    parse_wheel_filename(filename)


@pytest.mark.parametrize(("filename", "expected"), [
    ("demo_pkg-1.0.tar.gz", []),
    ("demo_pkg-1.0.zip", [("N012", "Filename 'demo_pkg-1.0.zip' is invalid, should be 'demo_pkg-1.0.tar.gz'.")]),
    ("Demo_Pkg-1.0.tar.gz", [("N012", "Filename 'Demo_Pkg-1.0.tar.gz' is invalid, should be 'demo_pkg-1.0.tar.gz'.")]),
    ("demo-pkg-1.0.tar.gz", [("N012", "Filename 'demo-pkg-1.0.tar.gz' is invalid, should be 'demo_pkg-1.0.tar.gz'.")]),
    ("demo.pkg-1.0.tar.gz", [("N012", "Filename 'demo.pkg-1.0.tar.gz' is invalid, should be 'demo_pkg-1.0.tar.gz'.")]),
    ("demo_pkg-v1.0.tar.gz", [("N012", "Filename 'demo_pkg-v1.0.tar.gz' is invalid, should be "
                                       "'demo_pkg-1.0.tar.gz'.")]),
    ("demo_pkg-01.0.tar.gz", [("N012", "Filename 'demo_pkg-01.0.tar.gz' is invalid, should be "
                                       "'demo_pkg-1.0.tar.gz'.")]),
    ("other-1.0.tar.gz", [("N011", "Start filename for 'Demo-Pkg' with 'demo_pkg'.")]),
    ("demo_pkg.tar.gz", [("N010", "Invalid source distribution filename: demo_pkg.tar.gz")]),
    ("demo_pkg-x.y.tar.gz", [("N010", "Invalid source distribution filename: demo_pkg-x.y.tar.gz")]),
])
def test_sdist_filenames(filename: str, expected: list[tuple[str, str]]) -> None:
    assert sdist_name_errors(filename, "Demo-Pkg", Version("1.0")) == expected


def test_sdist_post_release_resplit() -> None:
    # name-1.0-1: packaging reads name 'demo-1.0', PyPI re-splits at the second-to-last dash for a post-release
    assert sdist_name_errors("demo-1.0-1.tar.gz", "demo", Version("1.0.post1")) == [
        ("N012", "Filename 'demo-1.0-1.tar.gz' is invalid, should be 'demo-1.0.post1.tar.gz'.")]
    assert sdist_name_errors("demo-1.0RC1.tar.gz", "demo", Version("1.0rc1")) == [
        ("N012", "Filename 'demo-1.0RC1.tar.gz' is invalid, should be 'demo-1.0rc1.tar.gz'.")]


@pytest.mark.parametrize(("filename", "name", "version", "expected"), [
    ("demo_pkg-1.0-py3-none-any.whl", "demo-pkg", "1.0", []),
    ("demo_pkg-1.0.0-py3-none-any.whl", "demo-pkg", "1.0", []),  # PEP 440 equality
    ("demo_pkg-1.0.POST1-py3-none-any.whl", "demo-pkg", "1.0.post1", []),
    ("Demo_Pkg-1.0-py3-none-any.whl", "demo-pkg", "1.0",
     [("N023", "Filename 'Demo_Pkg-1.0-py3-none-any.whl' should contain the normalized project name 'demo_pkg', "
               "not 'Demo_Pkg'.")]),
    ("demo.pkg-1.0-py3-none-any.whl", "demo.pkg", "1.0",
     [("N023", "Filename 'demo.pkg-1.0-py3-none-any.whl' should contain the normalized project name 'demo_pkg', "
               "not 'demo.pkg'.")]),
    ("other-1.0-py3-none-any.whl", "Demo-Pkg", "1.0", [("N022", "Start filename for 'Demo-Pkg' with 'demo_pkg'.")]),
    ("demo_pkg-1.1-py3-none-any.whl", "demo-pkg", "1.0", [("N024", "Version in filename should be '1.0' not '1.1'.")]),
    ("demo_pkg-1.0-cp311-cp311-linux_x86_64.linux_armv7l.whl", "demo-pkg", "1.0",
     [("N021", "Binary wheel 'demo_pkg-1.0-cp311-cp311-linux_x86_64.linux_armv7l.whl' has an unsupported platform "
               "tag 'linux_x86_64'.")]),
    ("demo_pkg-1.0-cp313-cp313-MacOSX_11_1_ARM64.whl", "demo-pkg", "1.0",
     [("N021", "Binary wheel 'demo_pkg-1.0-cp313-cp313-MacOSX_11_1_ARM64.whl' has an unsupported platform tag "
               "'macosx_11_1_arm64'.")]),
    ("demo_pkg-1.0-py3-none.whl", "demo-pkg", "1.0",
     [("N020", "Invalid wheel filename (wrong number of parts): 'demo_pkg-1.0-py3-none'")]),
])
def test_wheel_filenames(filename: str, name: str, version: str, expected: list[tuple[str, str]]) -> None:
    assert wheel_name_errors(filename, name, Version(version)) == expected


@pytest.mark.parametrize(("filename", "error"), [
    ("demo_pkg-1.0-py3-none-any.whl", None),
    ("demo_pkg-1.0.tar.gz", None),
    ("demo_pkg-1.0.zip", None),
    ("demo_pkg-1.0-py3.9.egg", "Invalid file extension: Use .tar.gz, .whl or .zip extension. See "
                               "https://www.python.org/dev/peps/pep-0527 and https://peps.python.org/pep-0715/ for "
                               "more information"),
    ("demo_pkg-1.0.win-amd64.exe", "Invalid file extension: Use .tar.gz, .whl or .zip extension. See "
                                   "https://www.python.org/dev/peps/pep-0527 and https://peps.python.org/pep-0715/ "
                                   "for more information"),
    ("demo_pkg-1.0.tgz", "Invalid file extension: Use .tar.gz, .whl or .zip extension. See "
                         "https://www.python.org/dev/peps/pep-0527 and https://peps.python.org/pep-0715/ for more "
                         "information"),
    ("demo_pkg-1.0.tar.bz2", "Invalid file extension: Use .tar.gz, .whl or .zip extension. See "
                             "https://www.python.org/dev/peps/pep-0527 and https://peps.python.org/pep-0715/ for "
                             "more information"),
    ("demo_pkg-1.0-py3-none-any.WHL", "Invalid file extension: Extension .WHL is invalid for filetype bdist_wheel. "
                                      "See https://www.python.org/dev/peps/pep-0527 for more information."),
    ("demo_pkg-1.0.TAR.GZ", "Invalid file extension: Extension .TAR.GZ is invalid for filetype sdist. "
                            "See https://www.python.org/dev/peps/pep-0527 for more information."),
])
def test_extensions(filename: str, error: str | None) -> None:
    assert extension_error(filename) == error


def run_rule(code: str, filename: str) -> list[str]:
    """A name-only rule on a file that need not exist: these rules never open the archive."""
    return [f.message for f in load_all()[code].run(DistView(PurePosixPath("/nonexistent", filename)))]  # type: ignore[arg-type]


def test_control_characters_and_separators() -> None:
    assert run_rule("N001", "demo\x01pkg-1.0.tar.gz") == [
        "Cannot upload a file with non-printable characters (ordinals 0-31) or the DEL character (ordinal 127) "
        "in the name."]
    assert run_rule("N001", "demo\x7fpkg-1.0.tar.gz") != [] and run_rule("N001", "démo-1.0.tar.gz") == []
    assert run_rule("N002", "demo\\pkg-1.0.tar.gz") == ["Cannot upload a file with '/' or '\\' in the name."]


def test_filename_length() -> None:
    def wheel(size: int) -> str:
        return "d" * (size - len("-1.0-py3-none-any.whl")) + "-1.0-py3-none-any.whl"

    assert run_rule("N004", wheel(246)) == []
    assert run_rule("N004", wheel(247)) == [f"Filename is too long: '{wheel(247)}'"]
    assert run_rule("N004", wheel(255)) == [f"Filename is too long: '{wheel(255)}'"]
    assert run_rule("N004", wheel(256))[0].startswith("HTTP 500 Internal Server Error")
    sdist = "d" * 248 + "-1.0.tar.gz"  # 259 bytes; an sdist has no .metadata side file
    assert run_rule("N004", sdist[:255]) == [] and run_rule("N004", sdist) != []


def test_unnormalised_wheel_version_is_a_warning() -> None:
    assert run_rule("N101", "demo_pkg-1.0.POST1-py3-none-any.whl") == [
        "the version in the filename, '1.0.POST1', is not normalised ('1.0.post1'); PyPI takes it, but the wheel "
        "spec and installers expect the normal form"]
    assert run_rule("N101", "demo_pkg-1.0.post1-py3-none-any.whl") == []


# -- real files ---------------------------------------------------------------------------------------

def n_findings(path: Path) -> list[tuple[str, str, bool]]:
    return sorted((f.code, f.level, f.pypi_rejects) for f in check_file(path).findings if f.code.startswith("N"))


def test_good_files_pass(tmp_path: Path) -> None:
    assert n_findings(make_wheel(tmp_path)) == []
    assert n_findings(make_wheel(tmp_path, tag="cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64")) == []
    assert n_findings(make_sdist(tmp_path)) == []


def test_zip_sdist_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "demo_pkg-1.0.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("demo_pkg-1.0/PKG-INFO", metadata_text())
    report = check_file(path)
    assert [(f.code, f.message) for f in report.findings if f.code.startswith("N")] == [
        ("N012", "Filename 'demo_pkg-1.0.zip' is invalid, should be 'demo_pkg-1.0.tar.gz'.")]


def test_wheel_names_against_metadata(tmp_path: Path) -> None:
    assert n_findings(make_wheel(tmp_path, name="Demo_Pkg", metadata=metadata_text("demo-pkg"))) == [
        ("N023", "error", True)]
    assert n_findings(make_wheel(tmp_path, tag="cp311-cp311-linux_x86_64")) == [("N021", "error", True)]
    off = make_wheel(tmp_path, version="1.0.0", metadata=metadata_text("demo-pkg", "1.1"))
    assert n_findings(off) == [("N024", "error", True)]


def test_sdist_named_for_another_project(tmp_path: Path) -> None:
    path = make_sdist(tmp_path, name="other", pkg_info=metadata_text("demo-pkg"))
    assert [(f.code, f.message) for f in check_file(path).findings if f.code.startswith("N")] == [
        ("N011", "Start filename for 'demo-pkg' with 'demo_pkg'.")]

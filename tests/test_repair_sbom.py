"""The SBOM a repaired Linux wheel carries, as a scanner reads it: one component per vendored file (however
their names overlap), both hashes said, valid CycloneDX 1.6; libraries built here with gcc."""

from __future__ import annotations

import hashlib
import shutil
import sysconfig
import zipfile
from pathlib import Path

from projects import run_toolkit
from test_repair_support import EXT_C, HOST_TAG, gcc, install_and_call, make_wheel, native_wheel, needs_gcc, sbom_of


def library(folder: Path, soname: str, function: str, value: int) -> Path:
    """A shared library `soname` whose `function()` returns `value`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{function}.c").write_text(f"int {function}(int a, int b) {{ return a + b + {value}; }}\n")
    gcc("-shared", "-fPIC", "-O1", f"-Wl,-soname,{soname}", "-o", soname, f"{function}.c", cwd=folder)
    return folder / soname


def extension(folder: Path, module: str, function: str, *link: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.c").write_text(EXT_C.format(lib=function.removesuffix("_add"), module=module))
    out = folder / f"{module}{sysconfig.get_config_var('EXT_SUFFIX')}"
    gcc("-shared", "-fPIC", "-O1", f"-I{sysconfig.get_paths()['include']}", "-o", out, f"{module}.c", *link,
        cwd=folder)
    return out


def repaired_in(folder: Path) -> Path:
    (found,) = folder.glob("*manylinux*.whl")
    return found


@needs_gcc
def test_libraries_whose_names_share_a_prefix_each_map_to_their_own_member(tmp_path: Path) -> None:
    libs = tmp_path / "libs"
    # auditwheel names the copy libpre-<sha256[:8]>.so.1: one whose hash starts with "f" sorts after
    # libpre-extra-..., the case where a match on the prefix "libpre-" takes the wrong member.
    pre = next(lib for value in range(400) if hashlib.sha256((lib := library(libs, "libpre.so.1", "pre_add",
                                                                              value)).read_bytes()).hexdigest() > "f")
    extra = library(libs, "libpre-extra.so.1", "extra_add", 2)
    (libs / "libpre.so").symlink_to(pre.name)
    (libs / "libpre-extra.so").symlink_to(extra.name)
    ext = extension(tmp_path / "build", "_native", "pre_add", f"-L{libs}", "-lpre", "-lpre-extra",
                    "-Wl,--no-as-needed")
    gcc("-shared", "-fPIC", "-o", tmp_path / "build" / "_more.so", "-x", "c", "/dev/null", f"-L{libs}",
        "-Wl,--no-as-needed", "-lpre-extra", cwd=tmp_path)
    wheel = make_wheel(tmp_path / "dist", "demo", "1.0", str(HOST_TAG), {
        "demo/__init__.py": b"from demo._native import add\n", f"demo/{ext.name}": ext,
        "demo/_more.so": tmp_path / "build" / "_more.so"})
    proc = run_toolkit("repair", wheel, "-L", libs)
    assert proc.returncode == 0, proc.stderr
    sbom = sbom_of(repaired_in(wheel.parent))
    members = {c["name"]: c["properties"][1]["value"] for c in sbom["components"]}
    assert sorted(members) == ["libpre-extra.so.1", "libpre.so.1"]
    pre_sha = hashlib.sha256(pre.read_bytes()).hexdigest()
    extra_sha = hashlib.sha256(extra.read_bytes()).hexdigest()
    assert members["libpre.so.1"] == f"demo.libs/libpre-{pre_sha[:8]}.so.1"
    assert members["libpre-extra.so.1"] == f"demo.libs/libpre-extra-{extra_sha[:8]}.so.1"
    assert sorted(sbom["dependencies"][0]["dependsOn"]) == sorted(c["bom-ref"] for c in sbom["components"])


@needs_gcc
def test_two_different_libraries_with_one_soname_are_both_vendored_listed_and_loaded(tmp_path: Path) -> None:
    one = library(tmp_path / "one", "libsame.so.1", "same_add", 10)
    two = library(tmp_path / "two", "libsame.so.1", "same_add", 20)
    for lib in (one, two):
        (lib.parent / "libsame.so").symlink_to(lib.name)
    ext_a = extension(tmp_path / "a", "_a", "same_add", f"-L{one.parent}", "-lsame", f"-Wl,-rpath,{one.parent}")
    ext_b = extension(tmp_path / "b", "_b", "same_add", f"-L{two.parent}", "-lsame", f"-Wl,-rpath,{two.parent}")
    wheel = make_wheel(tmp_path / "dist", "demo", "1.0", str(HOST_TAG), {
        "demo/__init__.py": b"", f"demo/{ext_a.name}": ext_a, f"demo/{ext_b.name}": ext_b})
    proc = run_toolkit("repair", wheel)
    assert proc.returncode == 0, proc.stderr
    repaired = repaired_in(wheel.parent)
    assert proc.stdout.strip().endswith(f"vendored: libsame.so.1 (from {one}), libsame.so.1 (from {two})")
    sbom = sbom_of(repaired)
    assert sorted(c["properties"][1]["value"] for c in sbom["components"]) == sorted(
        f"demo.libs/libsame-{hashlib.sha256(lib.read_bytes()).hexdigest()[:8]}.so.1" for lib in (one, two))
    shutil.rmtree(tmp_path / "one")
    shutil.rmtree(tmp_path / "two")
    called = install_and_call(repaired, tmp_path / "venv", "from demo import _a, _b; print(_a.add(1, 1), _b.add(1, 1))")
    assert called.stdout.strip() == "12 22", called.stderr


@needs_gcc
def test_a_component_gives_the_hash_of_the_member_in_the_wheel_and_of_the_file_it_was_copied_from(
        tmp_path: Path) -> None:
    wheel, libdir = native_wheel(tmp_path)
    assert run_toolkit("repair", wheel, "-L", libdir).returncode == 0
    repaired = repaired_in(wheel.parent)
    (component,) = sbom_of(repaired)["components"]
    member = component["properties"][1]["value"]
    with zipfile.ZipFile(repaired) as zf:
        in_wheel = hashlib.sha256(zf.read(member)).hexdigest()
    source = hashlib.sha256((libdir / "libdemomath.so.1").read_bytes()).hexdigest()
    assert in_wheel != source  # auditwheel patched the copy (its soname)
    assert component["hashes"] == [{"alg": "SHA-256", "content": in_wheel}]
    assert {"name": "toolkit:source-sha256", "value": source} in component["properties"]

"""Portable Linux wheels built with zig (`toolkit build --manylinux 2_17`): a C extension made here, built,
repaired to manylinux_2_17, judged by auditwheel's own policy check, installed with pip in a fresh venv and
imported; the refusals (musl on a glibc Python, cross-architecture, too old a glibc) and a build zig cannot do."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from projects import one_line_error, run_toolkit
from test_repair_support import install_and_call

from toolkit.build.portable import Request, request, zig_target
from toolkit.build.pythons import current
from toolkit.config import BuildOptions, load
from toolkit.dist import read_manifest
from toolkit.errors import ConfigError

pytest.importorskip("ziglang", reason="zig comes from the `ziglang` package (toolkit's `portable` extra)")
if not sys.platform.startswith("linux"):
    pytest.skip("zig builds portable wheels on a Linux host", allow_module_level=True)

ARCH = platform.machine()
# zig builds its libc stubs (and libc++) once per target: about a minute each on a cold cache. Every test
# session shares one cache, as a user's runs share theirs.
ZIG_ENV = {"ZIG_GLOBAL_CACHE_DIR": str(Path.home() / ".cache" / "toolkit-tests" / "zig-cache")}

POWDEMO_C = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

static PyObject *power(PyObject *self, PyObject *args) {
    double x, y;
    if (!PyArg_ParseTuple(args, "dd", &x, &y)) return NULL;
    return PyFloat_FromDouble(pow(x, y));  /* glibc 2.29 gave pow a new symbol version */
}
static PyMethodDef methods[] = {{"power", power, METH_VARARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "powdemo", NULL, -1, methods};
PyMODINIT_FUNC PyInit_powdemo(void) { return PyModule_Create(&module); }
"""


def c_project(folder: Path, compile_args: tuple[str, ...] = (), *, name: str = "powdemo", source: str = POWDEMO_C,
              libraries: tuple[str, ...] = ("m",)) -> Path:
    """A setuptools project with one C extension (by default one that calls libm's pow())."""
    folder.mkdir(parents=True)
    (folder / f"{name}.c").write_text(source)
    (folder / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools>=70"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{name}"
        version = "1.0"
    """))
    (folder / "setup.py").write_text(textwrap.dedent(f"""\
        from setuptools import Extension, setup
        setup(ext_modules=[Extension("{name}", ["{name}.c"], libraries={list(libraries)!r},
                                     extra_compile_args={list(compile_args)!r})])
    """))
    return folder


def auditwheel_tag(wheel: Path) -> str:
    """The platform tag auditwheel's own policy check finds the wheel's binaries consistent with."""
    proc = subprocess.run([sys.executable, "-m", "auditwheel", "show", str(wheel)], capture_output=True, text=True,
                          check=True)
    found = re.search(r'consistent with the\s+following platform tag:\s+"([^"]+)"', proc.stdout)
    assert found, proc.stdout
    return found[1]


def glibc_of(tag: str) -> tuple[int, int]:
    m = re.match(r"manylinux_(\d+)_(\d+)_", tag)
    assert m, tag
    return int(m[1]), int(m[2])


def test_a_c_extension_built_with_manylinux_2_17_is_tagged_2_17_installs_and_imports(tmp_path: Path) -> None:
    project = c_project(tmp_path / "src")
    proc = run_toolkit("build", project, "-o", tmp_path / "dist", "--manylinux", "2_17", env=ZIG_ENV)
    assert proc.returncode == 0, proc.stderr
    wheels = sorted((tmp_path / "dist").glob(f"powdemo-1.0-*manylinux_2_17_{ARCH}*.whl"))
    assert len(wheels) == 1, proc.stdout
    # pow@GLIBC_2.2.5 only: auditwheel finds the binary fit for 2.17 (and older: repair adds that tag too)
    assert glibc_of(auditwheel_tag(wheels[0])) <= (2, 17)
    called = install_and_call(wheels[0], tmp_path / "venv", "import powdemo; print(powdemo.power(2.0, 0.5))")
    assert called.stdout.strip() == "1.4142135623730951", called.stderr
    built = [d for d in read_manifest(tmp_path / "dist") if d.path.name.endswith(f"linux_{ARCH}.whl")]
    assert built[0].origin["compiler"] == f"zig cc -target {ARCH}-linux-gnu.2.17"


def elf_members(wheel: Path) -> list[tuple[set[str], set[str]]]:
    """Each shared object's section names and undefined symbols."""
    import io
    import zipfile

    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    found = []
    with zipfile.ZipFile(wheel) as zf:
        for name in (n for n in zf.namelist() if n.endswith(".so")):
            elf = ELFFile(io.BytesIO(zf.read(name)))
            dynsym = next(s for s in elf.iter_sections() if isinstance(s, SymbolTableSection) and s.name == ".dynsym")
            undefined = {sym.name for sym in dynsym.iter_symbols() if sym["st_shndx"] == "SHN_UNDEF"}
            found.append(({s.name for s in elf.iter_sections()}, undefined))
    return found


def test_code_built_without_optimisation_gets_no_ubsan_traps_and_no_debug_info(tmp_path: Path) -> None:
    """gcc's behaviour, not zig's defaults: zig compiles -O0 code with UBSan on, and its libc++ carries debug info."""
    proc = run_toolkit("build", c_project(tmp_path / "src", compile_args=("-O0",)), "-o", tmp_path / "dist",
                       "--manylinux", "2_17", "-w", env=ZIG_ENV)
    assert proc.returncode == 0, proc.stderr
    wheel = next((tmp_path / "dist").glob(f"*manylinux_2_17_{ARCH}*.whl"))
    [(sections, undefined)] = elf_members(wheel)
    assert not {s for s in sections if s.startswith(".debug")}
    assert not {u for u in undefined if u.startswith("__ubsan")}
    called = install_and_call(wheel, tmp_path / "venv", "import powdemo; print(powdemo.power(3.0, 2.0))")
    assert called.stdout.strip() == "9.0", called.stderr


def test_without_it_the_same_extension_needs_the_hosts_newer_glibc(tmp_path: Path) -> None:
    """The contrast that makes the test above mean something: gcc links pow@GLIBC_2.29 from this host."""
    host = tuple(int(p) for p in platform.libc_ver()[1].split(".")[:2])
    if platform.libc_ver()[0] != "glibc" or host < (2, 29):
        pytest.skip(f"the host's glibc ({platform.libc_ver()}) predates pow's 2.29 symbol version")
    proc = run_toolkit("build", c_project(tmp_path / "src"), "-o", tmp_path / "dist", "-w")
    assert proc.returncode == 0, proc.stderr
    wheel = next((tmp_path / "dist").glob("powdemo-*.whl"))
    assert glibc_of(auditwheel_tag(wheel)) >= (2, 29)


def test_a_build_zig_cannot_compile_fails_with_the_compilers_own_message_and_the_ci_matrix(tmp_path: Path) -> None:
    project = c_project(tmp_path / "src", compile_args=("-fipa-pta",))  # a gcc-only optimisation flag
    proc = run_toolkit("build", project, "-o", tmp_path / "dist", "--manylinux", "2_17", "-w", env=ZIG_ENV)
    assert proc.returncode == 3, proc.stderr
    error = one_line_error(proc.stderr)
    assert f"zig cc -target {ARCH}-linux-gnu.2.17" in error and '"-fipa-pta"' in error, error
    assert "hook build_wheel" in error
    assert "`toolkit ci init`" in proc.stderr
    assert not list((tmp_path / "dist").glob("*.whl"))


def test_python_all_gives_one_portable_wheel_per_interpreter(tmp_path: Path) -> None:
    from toolkit._proc import find_uv
    from toolkit.build.pythons import find

    project = c_project(tmp_path / "src")
    proc = run_toolkit("build", project, "-o", tmp_path / "dist", "--python", "all", "--manylinux", "2014", env=ZIG_ENV)
    assert proc.returncode == 0, proc.stderr
    expected = {f"cp{i.version_info[0]}{i.version_info[1]}" for i in find(["all"], find_uv())}
    wheels = sorted((tmp_path / "dist").glob(f"*manylinux_2_17_{ARCH}*.whl"))
    assert {w.name.split("-")[2] for w in wheels} == expected
    assert all(glibc_of(auditwheel_tag(w)) <= (2, 17) for w in wheels)
    built = [d for d in read_manifest(tmp_path / "dist") if d.path.name.endswith(f"linux_{ARCH}.whl")]
    assert {d.origin["compiler"] for d in built} == {f"zig cc -target {ARCH}-linux-gnu.2.17"}


def host_library_project(folder: Path, library: str, header: str, call: str) -> Path:
    """An extension that links a library of this host (its -dev package installed), as PyYAML links libyaml."""
    source = (f"#include <Python.h>\n#include <{header}>\n"
              f"static PyObject *call(PyObject *s, PyObject *a) {{ return PyLong_FromLong((long)({call})); }}\n"
              "static PyMethodDef m[] = {{\"call\", call, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};\n"
              "static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, \"hostlib\", NULL, -1, m};\n"
              "PyMODINIT_FUNC PyInit_hostlib(void) { return PyModule_Create(&d); }\n")
    if not Path("/usr/include", header).exists() and not list(Path("/usr/include").glob(f"*/{header}")):
        pytest.skip(f"{header} is not installed (the -dev package of {library}: .ci/system-packages)")
    return c_project(folder, name="hostlib", source=source, libraries=(library,))


def test_a_library_of_the_host_whose_symbol_versions_fit_is_vendored(tmp_path: Path) -> None:
    project = host_library_project(tmp_path / "src", "yaml", "yaml.h", "yaml_get_version_string() != NULL")
    proc = run_toolkit("build", project, "-o", tmp_path / "dist", "--manylinux", "2_17", env=ZIG_ENV)
    assert proc.returncode == 0, proc.stderr
    assert "vendored: libyaml-0.so.2" in proc.stdout
    wheel = next((tmp_path / "dist").glob(f"*manylinux_2_17_{ARCH}*.whl"))
    assert glibc_of(auditwheel_tag(wheel)) <= (2, 17)
    called = install_and_call(wheel, tmp_path / "venv", "import hostlib; print(hostlib.call())")
    assert called.stdout.strip() == "1", called.stderr


def test_a_library_of_the_host_built_for_a_newer_glibc_is_named_with_its_symbol(tmp_path: Path) -> None:
    project = host_library_project(tmp_path / "src", "ffi", "ffi.h", "ffi_type_double.size")
    newest = subprocess.run(["objdump", "-T", "/usr/lib/x86_64-linux-gnu/libffi.so.8"], capture_output=True, text=True,
                            check=False).stdout
    if ARCH != "x86_64" or "GLIBC_2.27" not in newest:
        pytest.skip("this host's libffi needs no glibc newer than 2.17")
    proc = run_toolkit("build", project, "-o", tmp_path / "dist", "--manylinux", "2_17", env=ZIG_ENV)
    assert proc.returncode == 4, proc.stderr
    error = one_line_error(proc.stderr)
    assert "libffi.so.8 (vendored from " in error and "needs GLIBC_2.27 (memfd_create) from libc.so.6" in error, error
    assert not list((tmp_path / "dist").glob("*manylinux*.whl"))


@pytest.mark.parametrize(("args", "words"), [
    (("--musllinux", "1_2"), ["glibc Python", "toolkit ci init"]),
    (("--manylinux", "2_5"), ["glibc 2.17 and newer"]),
    (("--manylinux", "2_17", "--musllinux", "1_2"), ["exclude each other"]),
    (("--manylinux", "manylinux_2_17_riscv64" if ARCH != "riscv64" else "manylinux_2_17_x86_64"),
     ["cross-architecture builds are not supported", "cibuildwheel matrix"]),
    (("--manylinux", "two"), ["not a manylinux version"]),
])
def test_what_zig_cannot_build_here_is_refused_before_anything_is_built(tmp_path: Path, args: tuple[str, ...],
                                                                        words: list[str]) -> None:
    project = c_project(tmp_path / "src")
    proc = run_toolkit("build", project, "-o", tmp_path / "dist", *args, env=ZIG_ENV)
    assert proc.returncode == 2, proc.stderr
    one_line_error(proc.stderr)
    for word in words:
        assert word in proc.stderr
    assert not (tmp_path / "dist").exists()


@pytest.mark.parametrize(("value", "expected"), [
    ("2_17", (2, 17)), ("2014", (2, 17)), ("manylinux2014", (2, 17)), ("2.28", (2, 28)),
    ("manylinux_2_28", (2, 28)), (f"manylinux_2_17_{ARCH}", (2, 17)),
])
def test_manylinux_spellings(value: str, expected: tuple[int, int]) -> None:
    req = request(BuildOptions(manylinux=value))
    assert req is not None and req.family == "manylinux" and req.version == expected


def test_the_zig_target_follows_the_interpreter() -> None:
    assert zig_target(Request("manylinux", (2, 28)), current()) == f"{ARCH}-linux-gnu.2.28"
    with pytest.raises(ConfigError, match="glibc Python"):
        zig_target(Request("musllinux", (1, 2)), current())


def test_pyproject_and_the_environment_ask_for_it(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.toolkit.build]\nmanylinux = "2_28"\n')
    assert load(BuildOptions, tmp_path, environ={}).manylinux == "2_28"
    assert load(BuildOptions, tmp_path, environ={"TOOLKIT_BUILD_MANYLINUX": "2014"}).manylinux == "2014"
    assert os.environ.get("TOOLKIT_BUILD_MANYLINUX") is None


# -- real sdists from PyPI, one per backend and language -------------------------------------------------------------

LIBC = {"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", f"ld-linux-{ARCH.replace('_', '-')}.so.2"}


def needed_libraries(wheel: Path) -> set[str]:
    """The shared libraries every ELF member of the wheel needs (toolkit's own ELF records)."""
    from toolkit.binaries import WheelZip, scan

    return {lib for elf in scan(WheelZip(wheel)).elf for lib in elf.needed}


@pytest.mark.slow
@pytest.mark.parametrize(("filename", "code", "expected"), [
    # setuptools, C
    ("markupsafe-3.0.4.tar.gz", "from markupsafe import _speedups; print(_speedups._escape_inner('<a>'))", "&lt;a&gt;"),
    # setuptools, C++ (libc++ linked statically: no libstdc++ needed)
    ("msgpack-1.0.8.tar.gz", "from msgpack import _cmsgpack as c; print(c.unpackb(c.Packer().pack([1, 'x'])))",
     "[1, 'x']"),
    # meson-python, C++ (pybind11)
    ("contourpy-1.3.3.tar.gz", "import contourpy; g = contourpy.contour_generator(z=[[0, 1], [1, 2]]); "
     "print(len(g.lines(1.0)))", "1"),
    # scikit-build-core, C (libsoxr) and C++ (nanobind)
    ("soxr-1.0.0.tar.gz", "import numpy, soxr; print(len(soxr.resample(numpy.zeros(4800), 48000, 16000)))", "1600"),
])
def test_real_sdists_build_as_manylinux_2_17_wheels_that_install_and_import(
        corpus: list[Path], tmp_path: Path, filename: str, code: str, expected: str) -> None:
    sdist = next(p for p in corpus if p.name == filename)
    proc = run_toolkit("build", sdist, "-o", tmp_path / "dist", "--manylinux", "2_17", env=ZIG_ENV)
    assert proc.returncode == 0, proc.stderr
    wheel = next((tmp_path / "dist").glob(f"*manylinux_2_17_{ARCH}*.whl"))
    assert glibc_of(auditwheel_tag(wheel)) <= (2, 17)
    assert needed_libraries(wheel) <= LIBC, "only glibc's own libraries: libc++ is linked in, nothing else vendored"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    # the wheel from here, its dependencies (numpy) from the index
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], check=True,
                   capture_output=True)
    called = subprocess.run([str(venv / "bin" / "python"), "-I", "-c", code], capture_output=True, text=True,
                            cwd=tmp_path, check=False)
    assert called.stdout.strip().splitlines()[-1:] == [expected], called.stderr


@pytest.mark.slow
def test_without_the_portable_extra_zig_is_installed_once_beside_the_cached_build_environments(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from toolkit._proc import Logger
    from toolkit.build import portable
    from toolkit.build.env import env_pool, make_installer

    monkeypatch.setattr(portable, "own_zig", lambda: None)  # as if toolkit were installed without the extra
    installer = make_installer("auto", Logger.create("build"), dict(os.environ))
    with env_pool(installer, cache=True, ttl=3600, constraints=None) as pool:
        zig = portable.find_zig(pool)
        assert portable.find_zig(pool) == zig  # the second time: the cached environment
    assert pool.root in zig.parents
    version = subprocess.run([str(zig), "version"], capture_output=True, text=True, check=True).stdout
    assert tuple(int(p) for p in version.split(".")[:2]) >= portable.ZIG_MIN


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from indexes import pypiserver

    with pypiserver(tmp_path_factory.mktemp("pypiserver")) as idx:
        yield idx


def test_release_builds_repairs_and_uploads_the_portable_wheel(tmp_path: Path, index) -> None:  # type: ignore[no-untyped-def]
    """`toolkit release --manylinux 2_17`: the wheel built with zig is repaired to 2_17 in the pipeline and uploaded,
    never the linux_x86_64 one."""
    from indexes import creds, publish_env

    project = c_project(tmp_path / "src")
    proc = subprocess.run([sys.executable, "-m", "toolkit", "release", "--repository-url", index.url, "--manylinux",
                           "2_17", "--format", "json"], cwd=project, env=publish_env(tmp_path, {**creds(), **ZIG_ENV}),
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    uploaded = sorted(f for f in index.files() if f.endswith(".whl"))
    assert len(uploaded) == 1 and f"manylinux_2_17_{ARCH}" in uploaded[0], uploaded

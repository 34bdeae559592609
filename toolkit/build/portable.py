"""Portable Linux wheels from any Linux host, without containers (`toolkit build --manylinux 2_17`).

zig (the `ziglang` package) compiles and links the wheel's C and C++ code against an old glibc's
symbol versions (or musl), with libc++ linked statically; the repair stage then tags the wheel
(auditwheel with --plat). build.py calls `request`, `refuse_interpreters`, `toolchain` and `explain`;
the CLI and release call `repair_options`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from toolkit import _fs
from toolkit._proc import output
from toolkit.errors import BuildError, ConfigError, ToolkitError
from toolkit.tags import linux_tag

if TYPE_CHECKING:
    from toolkit.build.env import EnvPool
    from toolkit.build.pythons import Interpreter
    from toolkit.config import BuildOptions, RepairOptions
    from toolkit.dist import Dist

# The oldest ziglang tried with toolkit (its flag handling changes between releases).
ZIG_REQUIREMENT = "ziglang>=0.17"
ZIG_MIN = (0, 17)
GLIBC_MIN = (2, 17)  # the oldest glibc zig can target
MUSL_VERSIONS = ((1, 1), (1, 2))  # zig ships one musl (1.2); on 64-bit its ABI is musl 1.1's
CI_HINT = "build this project's wheels in the CI matrix instead: `toolkit ci init` (cibuildwheel in manylinux containers)"
# uname -m -> zig's name of the architecture (and of the ABI where it is not plain gnu/musl).
_ZIG_ARCH = {"x86_64": ("x86_64", ""), "aarch64": ("aarch64", ""), "i686": ("x86", ""), "ppc64le": ("powerpc64le", ""),
             "s390x": ("s390x", ""), "riscv64": ("riscv64", ""), "armv7l": ("arm", "eabihf")}
_REQUEST = re.compile(r"^(?:(manylinux|musllinux)_?)?(\d+)[_.](\d+)(?:_(\w+))?$")
_LEGACY = re.compile(r"^(?:manylinux)?(1|2010|2014)(?:_(\w+))?$")


@dataclass(frozen=True)
class Request:
    """What the user asked for: a libc family and version, and (in a full tag) an architecture."""

    family: Literal["manylinux", "musllinux"]
    version: tuple[int, int]
    arch: str | None = None

    def platform(self, arch: str) -> str:
        return f"{self.family}_{self.version[0]}_{self.version[1]}_{arch}"


def request(options: BuildOptions) -> Request | None:
    """The portable target of --manylinux / --musllinux (None: neither); a bad value is a ConfigError."""
    if options.manylinux and options.musllinux:
        raise ConfigError("--manylinux and --musllinux exclude each other", hint="build once with each")
    family: Literal["manylinux", "musllinux"] = "manylinux" if options.manylinux else "musllinux"
    value = options.manylinux or options.musllinux
    if not value:
        return None
    if not sys.platform.startswith("linux"):
        raise ConfigError(f"--{family} builds on a Linux host (zig links against Linux's libc)",
                          hint="build Linux wheels in the CI matrix: `toolkit ci init`")
    req = _parse(family, value.strip())
    if family == "manylinux" and req.version < GLIBC_MIN:
        raise ConfigError(f"--manylinux {value}: zig links against glibc 2.17 and newer, not {req.version[0]}.{req.version[1]}",
                          hint="ask for 2_17 (manylinux2014) or newer")
    if family == "musllinux" and req.version not in MUSL_VERSIONS:
        raise ConfigError(f"--musllinux {value}: zig builds for musl 1.2 (tags 1_1 and 1_2)", hint="ask for 1_2")
    return req


def _parse(family: Literal["manylinux", "musllinux"], value: str) -> Request:
    m = _REQUEST.match(value)
    if m and m[1] in (None, family):
        return Request(family, (int(m[2]), int(m[3])), m[4])
    legacy = _LEGACY.match(value) if family == "manylinux" else None
    if legacy:  # manylinux2014 is manylinux_2_17 (PEP 600's aliases, from tags.py)
        tag = linux_tag(f"manylinux{legacy[1]}_{legacy[2] or 'x86_64'}")
        assert tag is not None and tag.version is not None
        return Request(family, tag.version, legacy[2])
    example = "2_17, 2_28 or 2014" if family == "manylinux" else "1_2"
    raise ConfigError(f"--{family} {value}: not a {family} version", hint=f"e.g. --{family} {example.split(',')[0]} "
                      f"(one of {example})")


# -- the interpreters a portable wheel can be built with ---------------------------------------------------

def refuse_interpreters(req: Request, interpreters: Sequence[Interpreter]) -> None:
    """Refuse, before anything is built, an interpreter whose wheels this request cannot make."""
    for interp in interpreters:
        zig_target(req, interp)


def zig_target(req: Request, interp: Interpreter) -> str:
    """zig's -target for wheels of `interp` (e.g. x86_64-linux-gnu.2.17); a ConfigError says what is not supported."""
    system, _, arch = interp.platform.partition("-")
    if system != "linux":
        raise ConfigError(f"{interp.label} ({interp.executable}) is a {interp.platform} interpreter; --{req.family} "
                          "builds Linux wheels with a Linux interpreter", hint=CI_HINT)
    if req.arch and _uname_arch(req.arch) != arch:
        raise ConfigError(f"--{req.family} {req.platform(req.arch)}: cross-architecture builds are not supported "
                          f"(the interpreter {interp.label} builds {arch} wheels)",
                          hint="build other architectures with toolkit ci's cibuildwheel matrix (QEMU): `toolkit ci init`")
    if arch not in _ZIG_ARCH:
        raise ConfigError(f"--{req.family}: toolkit has no zig target for {arch}", hint=CI_HINT)
    suffix = ext_suffix(interp)
    musl = "-linux-musl" in suffix
    if req.family == "musllinux" and not musl:
        raise ConfigError(f"--musllinux: {interp.label} ({interp.executable}) is a glibc Python: its extension modules "
                          f"are named *{suffix}, which a musl Python does not import",
                          hint="run toolkit with a musl Python (e.g. in Alpine), or build musllinux wheels in the CI matrix: "
                               "`toolkit ci init`")
    if req.family == "manylinux" and musl:
        raise ConfigError(f"--manylinux: {interp.label} ({interp.executable}) is a musl Python: its extension modules "
                          f"are named *{suffix}, which a glibc Python does not import", hint="ask for --musllinux 1_2")
    zig_arch, eabi = _ZIG_ARCH[arch]
    if req.family == "musllinux":
        return f"{zig_arch}-linux-musl{eabi}"
    return f"{zig_arch}-linux-gnu{eabi}.{req.version[0]}.{req.version[1]}"


def _uname_arch(arch: str) -> str:
    tag = linux_tag(f"linux_{arch}")
    return (tag.elf_arch if tag else None) or arch


def ext_suffix(interp: Interpreter) -> str:
    """The interpreter's EXT_SUFFIX: what its extension modules are named, and so which libc it runs on."""
    if os.path.realpath(interp.executable) == os.path.realpath(sys.executable):
        return str(sysconfig.get_config_var("EXT_SUFFIX") or "")
    out = output([interp.executable, "-I", "-c", "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))"])
    return out.stdout.strip() if out.returncode == 0 else ""


# -- zig and the compiler wrappers ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Toolchain:
    """zig set up for one target: the folder of its wrappers (first on PATH) and what the backends read."""

    target: str
    zig: Path
    bindir: Path
    environ: Mapping[str, str]

    @property
    def origin(self) -> dict[str, str]:
        return {"compiler": f"zig cc -target {self.target}"}


def toolchain(req: Request, interp: Interpreter, pool: EnvPool, environ: Mapping[str, str]) -> Toolchain:
    target = zig_target(req, interp)
    zig = find_zig(pool)
    bindir = write_wrappers(zig, target)
    return Toolchain(target, zig, bindir, backend_environ(bindir, environ))


def find_zig(pool: EnvPool) -> Path:
    """The zig binary: toolkit's own (the `portable` extra), else one installed into a cached environment
    beside the build environments (made once, by the same installer, index and constraints)."""
    own = own_zig()
    if own is not None:
        return own
    env = pool.get([ZIG_REQUIREMENT])
    found = sorted(env.path.glob("lib/python*/site-packages/ziglang/zig"))
    if not found:
        raise BuildError(f"{ZIG_REQUIREMENT} was installed in {env.path}, but its zig binary is not there",
                         hint="install toolkit with the `portable` extra (pip install 'wheel-toolkit[portable]')")
    return found[0]


def own_zig() -> Path | None:
    """The zig of the `ziglang` package installed beside toolkit, when it is recent enough."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        if tuple(int(p) for p in re.findall(r"\d+", version("ziglang"))[:2]) < ZIG_MIN:
            return None
    except PackageNotFoundError:
        return None
    spec = importlib.util.find_spec("ziglang")
    zig = Path(spec.origin).parent / "zig" if spec is not None and spec.origin else None
    return zig if zig is not None and zig.is_file() else None


# Flags that gcc takes and zig refuses, dropped by the wrappers (each of them only tunes the output):
#  -flto=auto / -flto=N: gcc's parallel LTO spelling (Ubuntu's Python passes it); zig rejects it, and LTO
#    objects would need the host's LTO plugin in `ar` anyway.
#  -Wl,-Bsymbolic-functions (Debian's and Ubuntu's LDSHARED), -Wl,--exclude-libs,... and -Wl,-Map,...:
#    zig's linker (lld) does not take them ("unsupported linker arg").
#  -mtune=generic: makes zig's own compiler-rt fail to build for x86_64.
_DROP = ("-flto=auto", "-flto=[0-9]*", "-flto=jobserver", "-ffat-lto-objects", "-Wl,-Bsymbolic-functions",
         "-Wl,--exclude-libs,*", "-Wl,-Map,*", "-Wl,-Map=*", "-mtune=generic")
_WRAPPER = """#!/bin/sh
# Made by toolkit (toolkit/build/portable.py): {tool} for {target}, through zig. zig runs directly, not through
# `python -m ziglang` (which only starts it): one process fewer per compile.
link=1
for arg do
  shift
  case $arg in
    {drop}) continue ;;
    -c|-S|-E|-M|-MM) link=0 ;;
  esac
  set -- "$@" "$arg"
done
{run}
"""
# With an explicit -target zig searches no folder of the host; a build that links a library of the host
# (libyaml, zlib) finds its headers after zig's own libc headers, and its .so files when linking. repair
# then vendors it when its symbol versions fit the tag, and names the symbol that does not otherwise.
# -fno-sanitize=undefined: zig compiles code given no -O with UBSan traps on (its Debug mode), which gcc
# never does; a flag of the build's own (-fsanitize=...) comes later and still wins.
# -O2 ahead of the build's own flags when linking: zig builds its runtime libraries (libc++, compiler-rt) in the
# mode the link's -O names, Debug when none does (setuptools and meson link without -O): a 15 MB debug libc++,
# built once more per target (90 s). The build's own -O, later, still wins.
# -Wl,--strip-debug: zig's static libc++ carries its debug info (contourpy's extension: 21 MB, not 0.4 MB).
_COMPILER_RUN = """[ $link = 1 ] && set -- -O2 "$@" -Wl,--strip-debug -L/usr/local/lib{lib} -L/usr/lib
exec '{zig}' {tool} -target {target} -fno-sanitize=undefined -idirafter /usr/local/include -idirafter /usr/include{inc} "$@"
"""
_TOOLS = {"cc": "cc", "gcc": "cc", "c++": "c++", "g++": "c++", "ar": "ar", "ranlib": "ranlib"}


def write_wrappers(zig: Path, target: str) -> Path:
    """`cc`, `c++` (also as gcc, g++), `ar` and `ranlib` for `target`, in a folder of the cache (made once)."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    key = hashlib.sha256(f"{zig}\n{target}\n{_WRAPPER}{_COMPILER_RUN}{_DROP}\n{multiarch}".encode()).hexdigest()[:12]
    bindir = _fs.writable_cache_dir()[0] / "zig" / "bin" / f"{target}-{key}"
    if (bindir / "ready").is_file():
        return bindir
    for name, tool in _TOOLS.items():
        if tool in ("cc", "c++"):
            run = _COMPILER_RUN.format(zig=zig, tool=tool, target=target, lib=f" -L/usr/lib/{multiarch}" if multiarch else "",
                                       inc=f" -idirafter /usr/include/{multiarch}" if multiarch else "")
        else:
            run = f"exec '{zig}' {tool} \"$@\""
        _fs.atomic_write(bindir / name, _WRAPPER.format(tool=tool, target=target, drop="|".join(_DROP), run=run.rstrip()))
        os.chmod(bindir / name, 0o755)
    _fs.atomic_write(bindir / "ready", target + "\n")
    return bindir


def backend_environ(bindir: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """What each backend reads to pick its compilers: setuptools CC/CXX/LDSHARED/LDCXXSHARED/AR, meson CC/CXX/AR,
    scikit-build-core CMAKE_ARGS; zig's own cache goes under toolkit's cache unless the user chose one."""
    cc, cxx = str(bindir / "cc"), str(bindir / "c++")
    cache = environ.get("ZIG_GLOBAL_CACHE_DIR") or str(_fs.writable_cache_dir()[0] / "zig" / "cache")
    cmake = f"-DCMAKE_C_COMPILER={cc} -DCMAKE_CXX_COMPILER={cxx} -DCMAKE_AR={bindir / 'ar'}"
    return {"CC": cc, "CXX": cxx, "LDSHARED": f"{cc} -shared", "LDCXXSHARED": f"{cxx} -shared",
            "AR": str(bindir / "ar"), "RANLIB": str(bindir / "ranlib"),
            "CMAKE_ARGS": " ".join(p for p in (environ.get("CMAKE_ARGS", ""), cmake) if p),
            "ZIG_GLOBAL_CACHE_DIR": cache, "ZIG_LOCAL_CACHE_DIR": environ.get("ZIG_LOCAL_CACHE_DIR") or cache}


# -- when the build fails ----------------------------------------------------------------------------------------

_COMPILER_ERROR = re.compile(r"(?:^|: )(?:fatal error|error|ERROR): ")


def explain(exc: ToolkitError, tc: Toolchain) -> ToolkitError:
    """A backend that failed under zig: one line with the compiler's own message, and the CI matrix as the way out.
    Any other failure (no compiler message in the hook's output) is returned as it was."""
    if not isinstance(exc, BuildError) or exc.log is None:
        return exc
    line = compiler_message(exc.log)
    if line is None:
        return exc
    return BuildError(f"cannot build with zig cc -target {tc.target}: {line}", backend=exc.backend, hook=exc.hook,
                      log=exc.log, hint=f"{CI_HINT}; the build's output is in {exc.log}")


def compiler_message(log: Path, tail: int = 256 << 10) -> str | None:
    """The first compiler error of the last command in the log (its first `error:` line)."""
    try:
        with open(log, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - tail))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    last = text.rfind("] $ ")  # where the hook's command starts (Logger.run notes it)
    for line in text[last if last >= 0 else 0:].splitlines():
        if _COMPILER_ERROR.search(line) and not line.startswith("[toolkit "):
            return line.strip()
    return None


# -- repair --------------------------------------------------------------------------------------------------------

def repair_options(build: BuildOptions, repair: RepairOptions, wheel: Dist) -> RepairOptions:
    """The repair options for a wheel built with --manylinux / --musllinux: the asked tag, at the wheel's arch."""
    req = request(build)
    if req is None or repair.plat:
        return repair
    tag = next((linux_tag(t.platform) for t in wheel.tags if linux_tag(t.platform)), None)
    return replace(repair, plat=req.platform(tag.arch)) if tag is not None else repair

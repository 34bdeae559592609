"""Build stage against every PEP 517 backend: real projects, built twice, installed in clean venvs.

Each project is built as a user would (`toolkit build DIR`: sdist, then the wheel
from the sdist) in two settings that must not matter (umask, TZ, cwd, folder,
source mtimes) with one SOURCE_DATE_EPOCH; the wheel is installed and imported,
and the two builds' bytes are compared (REPRODUCIBLE records what we found).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from backend_projects import PROJECTS, Project

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="umask, LD_LIBRARY_PATH and these C toolchains are POSIX"),
]

EPOCH = "1700000000"  # SOURCE_DATE_EPOCH of every build here: 2023-11-14 22:13:20 UTC
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NATIVE = "native-example"  # examples/native, built like the backend projects


@dataclass(frozen=True)
class Variant:
    """One build setting; two of them must give the same bytes."""

    label: str
    umask: int
    tz: str
    folder: str  # the project copy's folder name (so paths differ)
    cwd: str  # where toolkit runs from, relative to the build's folder
    source_mtime: int  # the copy's file times: two checkouts made at different times


A = Variant("a", 0o022, "UTC", "project", ".", 978307200)  # 2001-01-01
B = Variant("b", 0o077, "Asia/Kolkata", "elsewhere/copy-of-project", "some/other/cwd", 1293840000)  # 2011-01-01

# What differs between A's and B's build, by (project, sdist|wheel): the kinds of difference archive_diff
# reports, and why. Absent: byte-identical. A test fails when a build stops matching this, either way.
_SETUPTOOLS_SDIST = (
    frozenset({"gzip mtime", "mtime", "mode"}),
    "setuptools' sdist ignores SOURCE_DATE_EPOCH: the gzip header and the members' times come from the clock "
    "and the checkout, the modes from the umask",
)
_NATIVE_WHEEL = (
    frozenset({"mode"}),
    "setuptools copies the checkout's file mode of the license file into the wheel (the variant's checkout was made "
    "under umask 077); everything the build itself writes is identical",
)
REPRODUCIBLE: dict[tuple[str, str], tuple[frozenset[str], str]] = {
    **{(key, "sdist"): _SETUPTOOLS_SDIST for key in ("setuptools-setup.py", "setuptools-pyproject",
                                                      "setuptools-c-extension", NATIVE)},
    (NATIVE, "wheel"): _NATIVE_WHEEL,
    ("pdm-backend", "sdist"): (
        frozenset({"gzip mtime"}),
        "pdm-backend dates the members with SOURCE_DATE_EPOCH, but tarfile's 'w:gz' puts the clock in the gzip header",
    ),
}

# Projects that toolkit cannot build yet, with the reason (strict xfail: the test fails once they build).
BROKEN: dict[str, str] = {}


def _keys(keys: list[str]) -> list[object]:
    return [pytest.param(k, marks=pytest.mark.xfail(reason=BROKEN[k], strict=True)) if k in BROKEN else k for k in keys]


@dataclass(frozen=True)
class Built:
    sdist: Path
    wheel: Path
    libdir: Path  # NATIVE_MATH_LIBDIR of the native example's build


def _project(key: str) -> Project | None:
    return PROJECTS[key]() if key in PROJECTS else None


def _write_copy(key: str, dest: Path) -> None:
    project = _project(key)
    if project is None:
        shutil.copytree(EXAMPLES / "native", dest, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info"))
    else:
        project.write(dest)


def _as_checked_out(tree: Path, variant: Variant) -> None:
    """Give the copy the file times and modes of a checkout made at another time under the variant's umask."""
    for path in [tree, *tree.rglob("*")]:
        if not path.is_symlink():
            path.chmod(stat.S_IMODE(path.stat().st_mode) & ~variant.umask)
            os.utime(path, (variant.source_mtime, variant.source_mtime))


def toolkit_build(src: Path, outdir: Path, *, cwd: Path, variant: Variant, env: dict[str, str]) -> list[Path]:
    """`toolkit build SRC -o OUTDIR` in a subprocess under the variant's umask and TZ."""
    environ = {**os.environ, **env, "TZ": variant.tz, "SOURCE_DATE_EPOCH": EPOCH}
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit", "build", str(src), "-o", str(outdir), "--format", "json", "-q"],
        cwd=cwd, env=environ, capture_output=True, text=True, umask=variant.umask,
    )
    if proc.returncode != 0:
        log = proc.stderr.rpartition("kept in ")[2].strip()
        tail = Path(log).read_text(errors="replace")[-3000:] if log and Path(log).is_file() else ""
        raise AssertionError(f"toolkit build {src.name} failed:\n{proc.stderr}\n--- log tail ---\n{tail}")
    return [Path(d["path"]) for d in json.loads(proc.stdout)["dists"]]


def _build_variant(key: str, variant: Variant, where: Path) -> Built:
    src = where / variant.folder
    _write_copy(key, src)
    _as_checked_out(src, variant)
    cwd = where / variant.cwd
    cwd.mkdir(parents=True, exist_ok=True)
    libdir = where / "lib"
    paths = toolkit_build(src, where / "dist", cwd=cwd, variant=variant, env={"NATIVE_MATH_LIBDIR": str(libdir)})
    sdist = next(p for p in paths if p.name.endswith(".tar.gz"))
    wheel = next(p for p in paths if p.name.endswith(".whl"))
    return Built(sdist, wheel, libdir)


class BuildCache:
    """Each project's builds, made once per test run and shared by xdist workers (one lock file per build)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get(self, key: str, variant: Variant) -> Built:
        import fcntl

        project = _project(key)
        if project and (missing := project.missing_tools()):
            pytest.skip(f"{key} needs {', '.join(missing)} on PATH")
        if variant is B:
            first = self.get(key, A)  # B starts 2 s after A's wheel: a leaked clock shows even in zip times
            time.sleep(max(0.0, first.wheel.stat().st_mtime + 2.1 - time.time()))
        where = self.root / f"{key}-{variant.label}"
        where.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{key}-{variant.label}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            done, failed = where / "built.json", where / "failed.txt"
            if failed.exists():
                pytest.fail(f"(an earlier attempt in this run) {failed.read_text()}", pytrace=False)
            if not done.exists():
                try:
                    built = _build_variant(key, variant, where)
                except AssertionError as exc:
                    failed.write_text(str(exc))
                    raise
                done.write_text(json.dumps({k: str(v) for k, v in vars(built).items()}))
            return Built(**{k: Path(v) for k, v in json.loads(done.read_text()).items()})


@pytest.fixture(scope="session")
def builds(tmp_path_factory: pytest.TempPathFactory) -> BuildCache:
    base = tmp_path_factory.getbasetemp()
    # Under xdist every worker has its own basetemp; their common parent is shared by the run.
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "backend-builds"
    root.mkdir(parents=True, exist_ok=True)
    return BuildCache(root)


def fresh_venv(where: Path, wheel: Path) -> Path:
    """A new venv with `wheel` (and its dependencies) installed; returns its python."""
    from uv import find_uv_bin

    uv = find_uv_bin()
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(where)], check=True, capture_output=True)
    python = where / "bin" / "python"
    proc = subprocess.run([uv, "pip", "install", "-q", "--python", str(python), str(wheel)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return python


def run_python(python: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True, env={**os.environ, **env},
                          cwd=python.parent)


# --- the backends: build, install, import -----------------------------------------------------------------


@pytest.mark.parametrize("key", _keys(list(PROJECTS)))
def test_backend_builds_an_installable_wheel_from_its_sdist(key: str, builds: BuildCache, tmp_path: Path) -> None:
    project = PROJECTS[key]()
    built = builds.get(key, A)
    stem = project.name.replace("-", "_")
    assert built.sdist.name == f"{stem}-1.0.0.tar.gz"
    assert built.wheel.name.startswith(f"{stem}-1.0.0-")
    platform_tag = built.wheel.name.removesuffix(".whl").rsplit("-", 1)[1]
    assert (platform_tag != "any") == project.compiled, built.wheel.name
    python = fresh_venv(tmp_path / "venv", built.wheel)
    proc = run_python(python, project.probe)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "5"


# --- the native example: a wheel that needs a library from outside -----------------------------------------


def _needed(elf: bytes) -> list[str]:
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile

    sections = ELFFile(io.BytesIO(elf)).iter_sections()
    tags = (t for s in sections if isinstance(s, DynamicSection) for t in s.iter_tags())
    return [t.needed for t in tags if t.entry.d_tag == "DT_NEEDED"]  # type: ignore[attr-defined]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the example's library is an ELF .so")
def test_native_example_wheel_needs_libnative_math_from_outside(builds: BuildCache, tmp_path: Path) -> None:
    built = builds.get(NATIVE, A)
    assert built.wheel.name.startswith("native_demo-1.0.0-cp")
    with zipfile.ZipFile(built.wheel) as whl:
        names = whl.namelist()
        [ext] = [n for n in names if n.startswith("native_demo/_native.") and n.endswith(".so")]
        assert "libnative_math.so" in _needed(whl.read(ext))
    assert not [n for n in names if "libnative_math" in n], "the build must not vendor the library"
    with tarfile.open(built.sdist) as sdist:
        assert {"native_demo-1.0.0/libsrc/native_math.c", "native_demo-1.0.0/libsrc/native_math.h"} <= set(
            sdist.getnames()
        )
    assert (built.libdir / "libnative_math.so").is_file()

    python = fresh_venv(tmp_path / "venv", built.wheel)
    without = run_python(python, "import native_demo")
    assert without.returncode != 0 and "libnative_math.so" in without.stderr
    ok = run_python(python, "import native_demo; print(native_demo.add(2, 3))", LD_LIBRARY_PATH=str(built.libdir))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "5"


# --- reproducibility: two builds, one SOURCE_DATE_EPOCH --------------------------------------------------------

Raw = list[tuple[str, str, object, object]]  # (what differs, member, A's value, B's value)


def archive_diff(a: Path, b: Path) -> dict[str, str]:
    """What differs between A's and B's build of one archive: {kind: summary}, empty when byte-identical.

    The part of diffoscope we need (diffoscope is a large tool with many system
    dependencies): member names and order, times, modes, owners and contents.
    """
    if a.read_bytes() == b.read_bytes():
        return {}
    raw = _zip_raw(a, b) if a.name.endswith(".whl") else _tar_raw(a, b)
    return _summarise(raw) or {"container": "archive bytes differ, the members and their metadata do not"}


def _names_raw(x: list[str], y: list[str]) -> Raw:
    if set(x) != set(y):
        return [("members", "", sorted(set(x) - set(y)), sorted(set(y) - set(x)))]
    return [("order", "", x, y)] if x != y else []


def _content_raw(name: str, x: bytes, y: bytes) -> Raw:
    if x == y:
        return []
    try:
        pairs = zip(x.decode().splitlines() + [""], y.decode().splitlines() + [""], strict=False)
        first = next((u, v) for u, v in pairs if u != v)
    except UnicodeDecodeError:
        paths = all(b"/toolkit-sdist-" in d for d in (x, y))  # toolkit unpacks the sdist in a new temp folder
        note = "binary, each embeds its unpacked sdist's temporary path" if paths else "binary"
        return [("content", name, note, None)]
    return [("content", name, *first)]


def _zip_raw(a: Path, b: Path) -> Raw:
    with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
        out = _names_raw(za.namelist(), zb.namelist())
        others = {i.filename: i for i in zb.infolist()}
        for x in za.infolist():
            if (y := others.get(x.filename)) is None:
                continue
            facts = {"time": (x.date_time, y.date_time), "mode": (x.external_attr >> 16, y.external_attr >> 16),
                     "method": (x.compress_type, y.compress_type), "extra field": (x.extra, y.extra)}
            out += [(k, x.filename, u, v) for k, (u, v) in facts.items() if u != v]
            out += _content_raw(x.filename, za.read(x), zb.read(y))
    return out


def _gzip_header(data: bytes) -> tuple[int, bytes]:
    """The gzip header's mtime and file name (RFC 1952)."""
    mtime, flags, name = int.from_bytes(data[4:8], "little"), data[3], b""
    if flags & 0x08:  # FNAME, after FEXTRA when present
        start = 10 + (2 + int.from_bytes(data[10:12], "little") if flags & 0x04 else 0)
        name = data[start:data.index(b"\0", start)]
    return mtime, name


def _tar_raw(a: Path, b: Path) -> Raw:
    da, db = a.read_bytes(), b.read_bytes()
    (ma, na), (mb, nb) = _gzip_header(da), _gzip_header(db)
    out: Raw = [("gzip mtime", "", ma, mb)] if ma != mb else []
    out += [("gzip name", "", na, nb)] if na != nb else []
    ta, tb = gzip.decompress(da), gzip.decompress(db)
    with tarfile.open(fileobj=io.BytesIO(ta)) as xa, tarfile.open(fileobj=io.BytesIO(tb)) as xb:
        out += _names_raw(xa.getnames(), xb.getnames())
        others = {m.name: m for m in xb.getmembers()}
        for x in xa.getmembers():
            if (y := others.get(x.name)) is None:
                continue
            for attr in ("mtime", "mode", "uid", "gid", "uname", "gname", "type", "linkname"):
                if (u := getattr(x, attr)) != (v := getattr(y, attr)):
                    out.append((attr, x.name, u, v))
            pax_a, pax_b = ({k: v for k, v in d.items() if k != "mtime"} for d in (x.pax_headers, y.pax_headers))
            out += [("pax headers", x.name, pax_a, pax_b)] if pax_a != pax_b else []
            if x.isfile() and y.isfile():
                data = [f.read() for f in (xa.extractfile(x), xb.extractfile(y)) if f is not None]
                out += _content_raw(x.name, *data)
    if not out and ta != tb:
        out.append(("tar padding", "", "", ""))
    return out


def _why(kind: str, rows: Raw) -> str:
    """Name the cause where the values show it: the checkout's file times, the clock, the umask."""
    if kind in ("mtime", "gzip mtime"):
        checkout = sum(1 for _, _, u, v in rows if (u, v) == (A.source_mtime, B.source_mtime))
        clock = len(rows) - checkout
        if not rows[0][1]:  # the gzip header
            return "the checkout's file time" if checkout else "the build's clock"
        return ", ".join(p for p in (f"{checkout} from the checkout's file times" if checkout else "",
                                     f"{clock} from the build's clock" if clock else "") if p)
    if kind == "mode" and all(v == u & ~B.umask for _, _, u, v in rows):  # type: ignore[operator]
        return "they follow the umask"
    return ""


def _summarise(raw: Raw) -> dict[str, str]:
    kinds: dict[str, Raw] = {}
    for row in raw:
        kinds.setdefault(row[0], []).append(row)
    out = {}
    for kind, rows in kinds.items():
        _, member, u, v = rows[0]
        if kind == "mode":
            u, v = oct(u), oct(v)  # type: ignore[arg-type]
        why = _why(kind, rows)
        if member:
            names = ", ".join(r[1] for r in rows[:4]) + (f" and {len(rows) - 4} more" if len(rows) > 4 else "")
            example = f"{member}: {u}" if v is None else f"{member}: {u!r} != {v!r}"
            out[kind] = f"{kind} of {names}" + (f" ({why})" if why else "") + f"; e.g. {example}"
        else:
            out[kind] = f"{kind}" + (f" ({why})" if why else "") + f": {u!r} != {v!r}"
    return out


@pytest.mark.parametrize("key", _keys([*PROJECTS, NATIVE]))
@pytest.mark.parametrize("kind", ["sdist", "wheel"])
def test_two_builds_give_the_same_bytes(key: str, kind: str, builds: BuildCache) -> None:
    a, b = getattr(builds.get(key, A), kind), getattr(builds.get(key, B), kind)
    assert a.name == b.name
    diff = archive_diff(a, b)
    kinds, reason = REPRODUCIBLE.get((key, kind), (frozenset(), ""))
    report = "\n".join(diff.values())
    assert set(diff) == set(kinds), f"{key} {kind}: expected {sorted(kinds)} to differ, got:\n{report}"
    if diff:
        pytest.xfail(f"{reason} | {report}")

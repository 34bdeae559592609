"""What the repair stage does to every repaired wheel before it goes into OUTDIR, on every OS:
the SBOM and a new RECORD, the check stage's rules, and an import test in a fresh virtual
environment where the host can run the wheel.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.machinery
import os
import subprocess
import sysconfig
import tempfile
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.tags import sys_tags

from toolkit._proc import clean_environ
from toolkit.errors import RepairError
from toolkit.repair import _wheelzip
from toolkit.repair.sbom import make_sbom, sbom_member

if TYPE_CHECKING:
    from toolkit._proc import Logger
    from toolkit.dist import Dist
    from toolkit.gate import Gate
    from toolkit.repair.base import Repaired
    from toolkit.repair.projecttest import ProjectTest

# Library search variables: unset for the import test, so the vendored copies are what loads.
_LOADER_VARIABLES = ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "DYLD_FALLBACK_LIBRARY_PATH", "LD_PRELOAD")
# The child starts before the wheel exists (its start-up overlaps the repair) and waits on stdin for what to import:
# the sorted top-level names the wheel holds (a comma-separated line), the modules (a space-separated line), then
# the venv's site-packages folders, one a line, which it re-reads as a start-up would (a .pth file the wheel
# installed). Nothing on stdin: nothing to test. It imports each module; one that fails on a dependency the wheel
# does not hold is skipped. Any other failure ends with one line naming the module (a traceback alone names a file
# in a deleted venv).
_IMPORTER = """
import importlib, site, sys, traceback
lines = sys.stdin.read().splitlines()
if not lines:
    sys.exit(0)
own, names = set(lines[0].split(",")), lines[1].split()
importlib.invalidate_caches()
for folder in lines[2:]:
    site.addsitedir(folder)
for name in names:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in own:
            print("skipped", name, "needs", exc.name)
            continue
        failed = exc
    except Exception as exc:
        failed = exc
    else:
        continue
    traceback.print_exc()
    sys.exit(f"{name}: {type(failed).__name__}: {failed}")
"""

def finish(repaired: Repaired, final: Path, source: Dist) -> None:
    """The tool's wheel, with toolkit's SBOM and a RECORD that lists it, written to `final`."""
    with zipfile.ZipFile(repaired.wheel) as zf:
        tops = {n.split("/", 1)[0] for n in zf.namelist()}
        # the bytes in the wheel, after the tool patched them: what a scanner holding the wheel can verify
        vendored = [dataclasses.replace(v, wheel_sha256=hashlib.sha256(zf.read(v.member)).hexdigest(),
                                        **_owner_fields(Path(v.source)))
                    for v in repaired.vendored]
    dist_info = next(t for t in sorted(tops) if t.endswith(".dist-info"))
    sbom = make_sbom(str(source.name), str(source.version), final.name, vendored, repaired.tool)
    _wheelzip.rewrite(repaired.wheel, final, dist_info, {sbom_member(dist_info): sbom})


def _owner_fields(source: Path) -> dict[str, str]:
    from toolkit.repair.owners import owner_of

    owner = owner_of(source)
    return {"version": owner.version, "purl": owner.purl} if owner else {}


def warm_up() -> None:
    """Import what the verification needs (installer; the gate loaded the check rules) and the output folder's manifest
    lock (filelock, for dist.record): run in a thread while a repair tool works."""
    import filelock  # noqa: F401
    import installer.destinations  # noqa: F401
    import installer.sources  # noqa: F401


def check(wheel: Path, gate: Gate) -> None:
    """The check stage on the repaired wheel: an error refuses it (nothing goes into OUTDIR)."""
    refused = gate(wheel)
    if refused is not None:
        more = f" (and {refused.more} more)" if refused.more else ""
        raise RepairError(f"the repaired {wheel.name} fails the check: {refused.code} {refused.message}{more}",
                          hint=refused.hint or "run `toolkit check` on the input wheel to see every finding")


def runs_here(wheel: Path) -> bool:
    from packaging.utils import parse_wheel_filename

    host = set(sys_tags())
    return any(t in host for t in parse_wheel_filename(wheel.name)[3])


def extension_modules(wheel: Path) -> list[str]:
    """The importable names of the wheel's extension modules (cpython-311-x86_64-linux-gnu.so, .abi3.so, .pyd)."""
    suffixes = sorted((s for s in importlib.machinery.EXTENSION_SUFFIXES if s not in (".so", ".pyd")), key=len,
                      reverse=True)
    found = []
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if name.split("/", 1)[0].endswith(".data"):  # scripts and data files, not importable modules
                continue
            suffix = next((s for s in suffixes if name.endswith(s)), None)
            if suffix is None:
                continue
            parts = name[: -len(suffix)].split("/")
            if all(p.isidentifier() for p in parts):
                found.append(".".join(parts))
    return sorted(found)


@dataclasses.dataclass(frozen=True)
class TestVenv:
    """A fresh venv, and (for an import test) a child interpreter started in it that waits for what to import."""

    root: Path  # the temporary folder: the child's working directory
    env_dir: Path
    python: Path
    child: subprocess.Popen[str] | None


@contextlib.contextmanager
def test_venv(start: bool = True) -> Iterator[TestVenv]:
    with tempfile.TemporaryDirectory(prefix="toolkit-repair-venv-") as tmp:
        env_dir = Path(tmp) / "venv"
        python = _fresh_venv(env_dir)
        child = None
        try:
            child = _start_importer(python, Path(tmp)) if start else None
            yield TestVenv(Path(tmp), env_dir, python, child)
        finally:
            if child is not None and child.returncode is None:
                _end(child)


@contextlib.contextmanager
def prestarted(wheel: Path, project_test: ProjectTest | None) -> Iterator[TestVenv | None]:
    """The import test's venv and interpreter, made while the tool repairs `wheel` (the interpreter's start-up is
    then off the critical path); None when the import test will not run."""
    modules = extension_modules(wheel)
    if not runs_here(wheel) or (not modules and project_test is None):
        yield None
        return
    with test_venv(start=bool(modules)) as made:
        yield made


def import_test(wheel: Path, logger: Logger, exclude: tuple[str, ...] = (),
                project_test: ProjectTest | None = None, venv: TestVenv | None = None) -> list[str]:
    """Install the wheel in a fresh venv (`venv`, made by `prestarted`, or a new one) and import its extension
    modules, with no library search path set; then run the project's own test command there (projecttest.py), if it
    has one.

    Nothing is run when the host cannot run the wheel (another OS, arch or Python): the check stage is then
    all. An import is not a failure when the only failure is a library the user --exclude'd (another wheel or
    the system provides it). Returns what was skipped and why (one sentence each), for the user to see.
    """
    modules = extension_modules(wheel)
    if not runs_here(wheel):
        return [f"the test command of {project_test.origin} was not run: this host cannot run the wheel"] \
            if project_test else []
    if not modules and project_test is None:
        return []
    with contextlib.ExitStack() as stack:
        if venv is None or (modules and venv.child is None):
            venv = stack.enter_context(test_venv(start=bool(modules)))
        sitedirs = _install(wheel, venv.env_dir, venv.python)
        skipped = _import(wheel, modules, venv, sitedirs, logger, exclude) if modules else []
        if project_test is not None:
            from toolkit.repair import projecttest

            projecttest.run(project_test, wheel, venv.python, venv.env_dir, logger)
    return skipped


def _start_importer(python: Path, cwd: Path) -> subprocess.Popen[str]:
    environ = {k: v for k, v in clean_environ().items() if k not in _LOADER_VARIABLES}
    return subprocess.Popen([str(python), "-I", "-c", _IMPORTER], cwd=cwd, env=environ, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _end(child: subprocess.Popen[str]) -> None:
    """No import test after all (or it was cut short): the child reads an empty stdin and ends."""
    with contextlib.suppress(OSError, ValueError):
        child.stdin.close()  # type: ignore[union-attr]
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _import(wheel: Path, modules: list[str], venv: TestVenv, sitedirs: list[str], logger: Logger,
            exclude: tuple[str, ...]) -> list[str]:
    own = sorted({m.split(".")[0] for m in modules})
    logger.note("$ import " + " ".join(modules) + f"  (in {venv.root})")
    assert venv.child is not None
    out, err = venv.child.communicate("\n".join([",".join(own), " ".join(modules), *sitedirs]) + "\n")
    with open(logger.path, "a", encoding="utf-8") as log:
        log.write(out + err)
    if venv.child.returncode:
        lines = [line for line in err.splitlines() if line.strip()]
        if lines and _names_excluded(lines[-1], exclude):
            logger.note("import test skipped: the wheel needs a library excluded from it")
            return []
        raise RepairError(f"the repaired {wheel.name} installs but does not import: {lines[-1] if lines else 'crashed'}",
                          hint=f"the import test's output is kept in {logger.path}")
    return [f"the import test skipped {words[1]}: it needs {words[3]}, which is not installed (the wheel is tested alone)"
            for words in (line.split() for line in out.splitlines()) if len(words) == 4 and words[0] == "skipped"]


def _names_excluded(error: str, exclude: tuple[str, ...]) -> bool:
    """Does a loader error ("libfoo.so.1: cannot open shared object file") name an excluded library?"""
    from fnmatch import fnmatch

    words = [w.strip(":'\"") for w in error.split()]
    return any(fnmatch(w, pattern) for w in words for pattern in exclude)


def _fresh_venv(env_dir: Path) -> Path:
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt", clear=True).create(env_dir)
    return env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _install(wheel: Path, env_dir: Path, python: Path) -> list[str]:
    """installer's API (what pip uses) into the venv's scheme: no pip in the venv, no network. Returns the
    site-packages folders."""
    from installer import install
    from installer.destinations import SchemeDictionaryDestination
    from installer.sources import WheelFile
    from installer.utils import SCHEME_NAMES

    scheme = "venv" if "venv" in sysconfig.get_scheme_names() else ("nt" if os.name == "nt" else "posix_prefix")
    paths = sysconfig.get_paths(scheme=scheme, vars={"base": str(env_dir), "platbase": str(env_dir),
                                                     "installed_base": str(env_dir), "installed_platbase": str(env_dir)})
    paths["headers"] = paths["include"]  # sysconfig has no "headers" key; pip puts them under include/ too
    destination = SchemeDictionaryDestination({k: paths[k] for k in SCHEME_NAMES}, interpreter=str(python),
                                              script_kind="win-amd64" if os.name == "nt" else "posix")
    try:
        with WheelFile.open(wheel) as source:
            install(source, destination, {"INSTALLER": b"toolkit-repair"})
    except Exception as exc:  # installer raises several kinds on a bad wheel; each is one line here
        raise RepairError(f"the repaired {wheel.name} does not install: {exc}", hint="please report this to "
                          "toolkit's developers with the input wheel") from None
    return sorted({paths["purelib"], paths["platlib"]})


"""Stage 2, repair: native wheels get the external libraries they need copied in, and the most
compatible platform tag their binaries allow.

`run(dists_or_paths, options, *, gate, reporter) -> list[Outcome]` (each Outcome's `.dist` is the output).
The platform module comes from the wheel's tag (toolkit.tags.repair_tool): linux.py (auditwheel), macos.py
(delocate, or macholib and toolkit's ad-hoc signer off macOS), windows.py (delvewheel), once inputs.py has refused
what no tool can take. Every repaired wheel then gets the same treatment here: an SBOM of what was vendored
(sbom.py, owners.py), the check stage (the gate), an import test and the project's own tests (projecttest.py) in a
fresh environment where the host can run it (selftest.py), an atomic move into the output folder and an entry in its
manifest. The input wheel is never modified, but for one case: a repaired wheel that keeps its name (delvewheel) in
its input's own folder replaces it atomically, as `release` and `build --repair` expect.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from toolkit import _fs
from toolkit._proc import Logger
from toolkit.config import RepairOptions
from toolkit.dist import Dist, expand_paths, record
from toolkit.errors import ConfigError, RepairError
from toolkit.gate import Gate
from toolkit.repair.base import PlatformRepair, Repaired, Shown, secrets_withheld
from toolkit.repair.inputs import read_input
from toolkit.repair.projecttest import ProjectTest
from toolkit.reporter import PlainReporter, Reporter
from toolkit.tags import is_pure, repair_tool

Action = Literal["repaired", "unchanged"]


@dataclass(frozen=True)
class Outcome:
    """What happened to one input wheel."""

    source: Path
    dist: Dist  # the repaired wheel; the input itself (or its copy in OUTDIR) when unchanged
    action: Action
    reason: str  # "pure", "needs nothing", or the tool that repaired it
    vendored: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"input": str(self.source), "output": str(self.dist.path), "action": self.action,
                "reason": self.reason, "vendored": list(self.vendored), "tags": sorted(map(str, self.dist.tags))}


def platform_module(tags: frozenset) -> PlatformRepair | None:
    """The module that repairs wheels of these tags (each one a PlatformRepair, as cibuildwheel's platform
    modules share one interface); None for a pure wheel."""
    tool = repair_tool(tags)
    if tool == "auditwheel":
        from toolkit.repair import linux

        return linux
    if tool == "delocate":
        from toolkit.repair import macos

        return macos
    if tool == "delvewheel":
        from toolkit.repair import windows

        return windows
    return None


def run(dists_or_paths: Sequence[Dist | Path], options: RepairOptions | None = None, *, gate: Gate,
        reporter: Reporter | None = None, done: Callable[[Outcome], None] | None = None,
        project_test: ProjectTest | None = None) -> list[Outcome]:
    """Repair each wheel in turn: what happened to each, its output Dist recorded in its folder's manifest as made
    from the input. `gate` (toolkit.check.repair_gate()) judges each repaired wheel before it goes into the output
    folder; `done` hears of each as it is written, so that a later failure does not hide what was already put in
    OUTDIR; `project_test` (projecttest.load) runs against each repaired wheel."""
    options = options or RepairOptions()
    reporter = reporter or PlainReporter()
    wheels = wheels_of(dists_or_paths, reporter)
    logger = Logger.create("repair")
    outcomes = []
    for wheel in wheels:
        outcomes.append(repair_one(wheel, options, reporter, logger, gate, project_test))
        if done is not None:
            done(outcomes[-1])
    return outcomes


def wheels_of(dists_or_paths: Sequence[Dist | Path], reporter: Reporter | None = None) -> list[Path]:
    files = expand_paths(dists_or_paths)
    wheels = [f for f in files if f.name.endswith(".whl")]
    if not wheels:
        raise ConfigError("no wheel to repair among " + ", ".join(f.name for f in files[:5]),
                          hint="name .whl files, or run `toolkit build` first")
    for other in files:
        if other not in wheels and reporter is not None:
            reporter.warn(f"{other}: not a wheel, left out (repair takes wheels only)")
    return wheels


def show(dists_or_paths: Sequence[Dist | Path], options: RepairOptions | None = None,
         reporter: Reporter | None = None) -> list[Shown]:
    """What each wheel's binaries need, what would be vendored and the best tag (nothing written)."""
    options = options or RepairOptions()
    shown = []
    for wheel in wheels_of(dists_or_paths, reporter):
        dist = read_input(wheel)
        module = platform_module(dist.tags)
        if module is None:
            shown.append(Shown(wheel.name, "none", (), (), None, ("pure: nothing to repair",)))
        else:
            shown.append(module.show(wheel, options))
    return shown


def repair_one(wheel: Path, options: RepairOptions, reporter: Reporter, logger: Logger, gate: Gate,
               project_test: ProjectTest | None = None) -> Outcome:
    source = read_input(wheel)
    outdir = (options.outdir or wheel.parent).resolve()
    module = platform_module(source.tags)
    if module is None:
        if not is_pure(source.tags):
            raise RepairError(f"{wheel.name}: its tags mix platforms ({', '.join(sorted(map(str, source.tags)))})",
                              hint="build one wheel per platform")
        return _unchanged(wheel, source, outdir, "pure")
    if options.plat and module.TOOL != "auditwheel":
        raise ConfigError(f"--plat applies to Linux wheels; {wheel.name} is repaired with {module.TOOL}, which keeps "
                          "the tag its binaries allow", hint="drop --plat for this wheel")
    reason = module.unavailable()
    if reason:
        raise RepairError(f"{wheel.name}: {reason}", hint="repair it in a job on that OS (e.g. a macos runner)")
    with reporter.step(f"repairing {wheel.name} ({module.TOOL})"), contextlib.ExitStack() as stack:
        try:
            staging = stack.enter_context(_fs.staging_dir(outdir))
        except OSError as exc:
            raise RepairError(f"cannot write to {outdir}: {exc.strerror}", hint="pass a writable folder with -o") from None
        try:
            return _repair_into(wheel, source, module, staging, outdir, options, reporter, logger, gate, project_test)
        except zipfile.BadZipFile as exc:
            raise RepairError(f"{wheel.name}: damaged wheel ({exc})", hint="build it again") from None


def _repair_into(wheel: Path, source: Dist, module: PlatformRepair, staging: Path, outdir: Path, options: RepairOptions,
                 reporter: Reporter, logger: Logger, gate: Gate, project_test: ProjectTest | None) -> Outcome:
    from toolkit.repair import selftest

    work = staging / "tool"
    work.mkdir()
    # The verification's imports (installer) load while the tool waits on patchelf, and the import test's
    # environment and interpreter are made meanwhile (prestarted).
    warm = threading.Thread(target=selftest.warm_up, name="toolkit-repair-warm-up", daemon=True)
    warm.start()
    with selftest.prestarted(wheel, project_test) as venv:
        with secrets_withheld():
            repaired: Repaired | None = module.repair(wheel, work, options, logger)
        warm.join()
        if repaired is None:
            if project_test is not None:  # the wheel goes out as it is: the project's tests still judge it
                _warn_skipped(reporter, wheel.name, selftest.import_test(wheel, logger, (), project_test, venv))
            return _unchanged(wheel, source, outdir, "needs nothing")
        final = staging / repaired.wheel.name
        selftest.finish(repaired, final, source)
        # The import test mostly waits on its child interpreter: the check stage runs meanwhile.
        with ThreadPoolExecutor(max_workers=1) as pool:
            imported = pool.submit(selftest.import_test, final, logger, tuple(options.exclude), project_test, venv)
            selftest.check(final, gate)
            _warn_skipped(reporter, final.name, imported.result())
    # delvewheel keeps the name: repaired in its own folder, the wheel replaces its input (an atomic rename once
    # the repaired one has passed every test), and the manifest says what it replaced.
    in_place = final.name == wheel.name and outdir == wheel.parent.resolve()
    origin = {"stage": "repair", "tool": repaired.tool}
    if in_place:
        origin["replaced"] = f"{wheel.name} sha256:{source.sha256}"
    published = _fs.publish_file(final, outdir)
    dist = Dist.from_path(published, origin=origin, derived_from=None if in_place else wheel.resolve())
    _record(outdir, dist)
    return Outcome(wheel, dist, "repaired", repaired.tool, _vendored_names(repaired))


def _warn_skipped(reporter: Reporter, name: str, skipped: list[str]) -> None:
    for what in skipped:
        reporter.warn(f"{name}: {what}")


def _vendored_names(repaired: Repaired) -> tuple[str, ...]:
    """What was vendored, by name; two files of one name (two libsame.so.1) say where each came from."""
    names = [v.name for v in repaired.vendored]
    return tuple(f"{v.name} (from {v.source})" if names.count(v.name) > 1 else v.name for v in repaired.vendored)


def _unchanged(wheel: Path, source: Dist, outdir: Path, reason: str) -> Outcome:
    """An unchanged wheel stays where it is; with another OUTDIR it is copied there (atomically) and recorded."""
    if outdir == wheel.parent.resolve():
        return Outcome(wheel, source, "unchanged", reason)
    try:
        with _fs.staging_dir(outdir) as staging:
            shutil.copyfile(wheel, staging / wheel.name)
            target = _fs.publish_file(staging / wheel.name, outdir)
    except OSError as exc:
        raise RepairError(f"cannot write to {outdir}: {exc.strerror}", hint="pass a writable folder with -o") from None
    dist = Dist.from_path(target, origin={"stage": "repair"}, derived_from=wheel.resolve())
    _record(outdir, dist)
    return Outcome(wheel, dist, "unchanged", reason)


def _record(outdir: Path, dist: Dist) -> None:
    try:
        record(outdir, [dist])
    except OSError as exc:
        raise RepairError(f"cannot write the manifest in {outdir}: {exc.strerror}",
                          hint=f"{dist.path.name} is in place; fix the folder's permissions") from None

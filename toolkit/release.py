"""The whole pipeline in one call: build -> repair -> check -> attest -> publish.

Each stage hands its Dists to the next through the build folder's manifest (a
repaired wheel is recorded as made from the one built), so a release run and the
stages run one by one see the same files. Nothing is uploaded unless every file
passed check; where to upload and as whom is settled before anything is built, so
a wrong repository name fails in a second, not after the build.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit import _fs
from toolkit.config import AttestOptions, BuildOptions, CheckOptions, PublishOptions, ReleaseOptions, RepairOptions
from toolkit.dist import Dist, current, read_manifest, read_manifest_doc, record
from toolkit.errors import CheckFailed
from toolkit.reporter import PlainReporter, Reporter
from toolkit.tags import repair_tool


@dataclass(frozen=True)
class StageOptions:
    """Every stage's options, as `toolkit release` merged them (each from its own table and variables)."""

    build: BuildOptions = field(default_factory=BuildOptions)
    repair: RepairOptions = field(default_factory=RepairOptions)
    check: CheckOptions = field(default_factory=CheckOptions)
    attest: AttestOptions = field(default_factory=AttestOptions)
    publish: PublishOptions = field(default_factory=PublishOptions)
    release: ReleaseOptions = field(default_factory=ReleaseOptions)


@dataclass
class Released:
    """One file of the release and what each stage did to it."""

    dist: Dist
    steps: list[str]
    destination: str = ""

    def to_json(self) -> dict[str, Any]:
        return {**self.dist.to_json(), "steps": self.steps, "destination": self.destination}


@dataclass
class ReleaseResult:
    files: list[Released]
    index: str
    report: Any = None  # the check stage's Report
    failed: int = 0  # files the index did not take


def release(src: Path, options: StageOptions, *, reporter: Reporter | None = None, echo: bool = False) -> ReleaseResult:
    from toolkit.build import build
    from toolkit.check import check
    from toolkit.publish import publish
    from toolkit.publish.target import resolve

    reporter = reporter or PlainReporter()
    target = resolve(options.publish, dry_run=options.publish.dry_run)
    src = src.resolve()
    outdir = (options.build.outdir or src / "dist").resolve()
    state = _source_state(src, outdir)
    files = _resumable(outdir, state, reporter)
    warm = threading.Thread(target=_warm_up, name="toolkit-warm-up", daemon=True)
    warm.start()
    if files is None:
        built = build(src, dataclasses.replace(options.build, repair=False), reporter=reporter, echo=echo)
        files = {d.path.name: Released(d, ["built"]) for d in built.dists}
        _repair(built.dists, options, files, reporter)
        record(outdir, [], {"release": {"source": state, "files": sorted(files)}})

    dists = [f.dist for f in files.values()]
    warm.join()
    report = check(dists, options.check, reporter=reporter)
    if not report.ok:
        errors, _ = report.counts()
        failure = CheckFailed(f"check found {errors} error(s): nothing was uploaded", hint="the report above says what to fix")
        failure.report = report
        raise failure
    for f in files.values():
        f.steps.append("checked")

    attestations = _attest(dists, options, target.upload_url, reporter)
    for f in files.values():
        if attestations:
            f.steps.append("attested")
    publish_options = dataclasses.replace(options.publish, attestations=bool(attestations))
    results = publish(dists, target, publish_options, reporter=reporter, prechecked=True)
    by_name = {r.path.name: r for r in results}
    for name, f in files.items():
        r = by_name[name]
        f.steps.append({"uploaded": "uploaded", "exists": "already there, identical", "dry-run": "not uploaded (dry run)",
                        "failed": f"failed: {r.reason}"}[r.outcome])
        f.destination = target.upload_url
    failed = sum(1 for r in results if not r.ok)
    return ReleaseResult(list(files.values()), target.upload_url, report, failed)


def _warm_up() -> None:
    """Import what check and publish need while build waits on its hook processes (this process is idle then).

    The check rules' libraries (docutils, readme-renderer, pyelftools...) take a few tenths of a second to
    import; on a 2-core machine that runs beside the backend instead of after it.
    """
    from toolkit.check.rules import load_all
    from toolkit.publish import transport  # noqa: F401

    load_all()


def _source_state(src: Path, outdir: Path) -> str:
    """A fingerprint of the source tree (names, sizes, modification times), to know a re-run from a new release.

    Builds are not all reproducible (setuptools' sdists, or any build outside git without SOURCE_DATE_EPOCH),
    so a release that was interrupted during the upload must send the files it built, not new ones whose
    bytes differ from those already on the index under the same names.
    """
    digest = hashlib.sha256()
    skip = {"build", "dist", "__pycache__", "node_modules"}
    for root, dirs, names in os.walk(src):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in skip and not d.endswith(".egg-info")
                         and (here / d).resolve() != outdir)
        for name in sorted(names):
            try:
                info = (here / name).stat()
            except OSError:
                continue
            digest.update(f"{(here / name).relative_to(src)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _resumable(outdir: Path, state: str, reporter: Reporter) -> dict[str, Released] | None:
    """The files of an earlier release run of the same source, when all are still there, unchanged."""
    from toolkit.errors import ConfigError

    try:
        earlier = read_manifest_doc(outdir).get("release")
        if not isinstance(earlier, dict) or earlier.get("source") != state:
            return None
        names = set(earlier.get("files", []))
        dists = [d for d in current(read_manifest(outdir)) if d.path.name in names]
        if {d.path.name for d in dists} != names or any(_fs.sha256_file(d.path)[0] != d.sha256 for d in dists):
            return None
    except (ConfigError, OSError):
        return None
    reporter.info(f"the source has not changed since the last release run: its {len(dists)} file(s) go on from here")
    return {d.path.name: Released(d, ["built (by the earlier run)"]) for d in dists}


def _repair(dists: list[Dist], options: StageOptions, files: dict[str, Released], reporter: Reporter) -> None:
    """Native wheels are repaired in the build folder; each replaces the one it was made from (with
    --manylinux / --musllinux, to the tag asked for)."""
    from toolkit.portable import repair_options
    from toolkit.repair import run

    native = [d for d in dists if d.kind == "wheel" and repair_tool(d.tags) is not None]
    outcomes = [o for d in native for o in run(
        [d], dataclasses.replace(repair_options(options.build, options.repair, d), outdir=None), reporter=reporter)]
    for outcome in outcomes:
        entry = files.pop(outcome.source.name)
        if outcome.action == "repaired":
            vendored = f" (vendored {', '.join(outcome.vendored)})" if outcome.vendored else ""
            entry.steps.append(f"repaired from {outcome.source.name}{vendored}")
        else:
            entry.steps.append(f"repair: unchanged, {outcome.reason}")
        files[outcome.dist.path.name] = Released(outcome.dist, entry.steps)


def _attest(dists: list[Dist], options: StageOptions, upload_url: str, reporter: Reporter) -> list[Path]:
    """Attest where asked, or (auto) where a CI identity exists and the index takes attestations (PyPI, TestPyPI)."""
    import os

    from toolkit import attest
    from toolkit.publish.target import in_ci_with_oidc

    choice = options.release.attest
    if choice == "never":
        return []
    if choice == "auto" and not (_takes_attestations(upload_url) and in_ci_with_oidc(os.environ)):
        return []
    if options.publish.dry_run:
        reporter.info("dry run: attestations not signed")
        return []
    with reporter.step(f"attesting {len(dists)} file(s) with Sigstore"):
        return attest.attest([d.path for d in dists], options.attest, reporter)


def _takes_attestations(upload_url: str) -> bool:
    return upload_url.rstrip("/") in ("https://upload.pypi.org/legacy", "https://test.pypi.org/legacy")

"""The whole pipeline in one call: build -> repair -> check -> attest -> publish.

Each stage hands its Dists to the next through the build folder's manifest (a
repaired wheel is recorded as made from the one built), so a release run and the
stages run one by one see the same files. Nothing is uploaded unless every file
passed check; where to upload and as whom is settled before anything is built, so
a wrong repository name fails in a second, not after the build.
"""

from __future__ import annotations

import dataclasses
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit import _fs
from toolkit.config import AttestOptions, BuildOptions, CheckOptions, PublishOptions, ReleaseOptions, RepairOptions
from toolkit.dist import Dist, current, read_manifest, read_manifest_doc, record
from toolkit.errors import BuildError, CheckFailed, ConfigError, PublishError
from toolkit.pypi import PYPI, TESTPYPI
from toolkit.release import identity
from toolkit.reporter import PlainReporter, Reporter
from toolkit.tags import repair_tool


@dataclass(frozen=True)
class StageOptions:
    """Every stage's options, as `toolkit release` merged them (each from its own table and variables). The one
    list of the stages release runs: the CLI makes its flags and tables from these fields (config.STAGES)."""

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
    failed: int = 0  # files the index did not take
    hint: str = ""  # the first failure's own hint (when running again would not help)


def release(src: Path, options: StageOptions, *, reporter: Reporter | None = None, echo: bool = False) -> ReleaseResult:
    from toolkit.publish.target import resolve

    reporter = reporter or PlainReporter()
    target = resolve(options.publish, dry_run=options.publish.dry_run)
    src = src.resolve()
    from_sdist = _fs.stat_or_none(src) is not None and src.is_file()
    outdir = options.build.outdir_for(src, from_sdist)
    with _one_release_at_a_time(outdir, reporter):
        return _release(src, from_sdist, outdir, target, options, reporter, echo)


def _release(src: Path, from_sdist: bool, outdir: Path, target: Any, options: StageOptions, reporter: Reporter,
             echo: bool) -> ReleaseResult:
    from toolkit.build import build
    from toolkit.check import check
    from toolkit.publish import failure_hint, publish

    warm = threading.Thread(target=_warm_up, name="toolkit-warm-up", daemon=True)
    warm.start()
    ident = identity.of_source(src, options.build, reporter)
    on_index = _held_by_index(target, ident, options, reporter)
    files = _resumable(outdir, ident, on_index, reporter)
    if files is None:
        built = build(src, dataclasses.replace(options.build, repair=False, outdir=outdir), reporter=reporter, echo=echo)
        made = [Dist.from_path(src)] + built.dists if from_sdist else built.dists
        files = {d.path.name: Released(d, ["built"] if d.path != src else ["given"]) for d in made}
        _repair(built.dists, options, files, reporter, None if from_sdist else src)
        _same_release(ident, [f.dist for f in files.values()])
        record(outdir, [d for d in made if d.path == src], {"release": _state(ident, files, checked=False)})

    dists = [f.dist for f in files.values()]
    warm.join()
    report = check(dists, options.check, reporter=reporter)
    if not report.ok:
        errors, _ = report.counts()
        raise CheckFailed(f"check found {errors} error(s): nothing was uploaded", report=report,
                          hint="the report above says what to fix")
    record(outdir, [], {"release": _state(ident, files, checked=True)})
    for f in files.values():
        f.steps.append("checked")

    attestations = _attest(dists, options, target.upload_url, reporter)
    for f in files.values():
        if attestations:
            f.steps.append("attested")
    publish_options = dataclasses.replace(options.publish, attestations=bool(attestations))
    results = publish(dists, target, publish_options, gate=None, reporter=reporter, prechecked=True)
    by_name = {r.path.name: r for r in results}
    for name, f in files.items():
        r = by_name[name]
        f.steps.append({"uploaded": "uploaded", "exists": "already there, identical", "dry-run": "not uploaded (dry run)",
                        "failed": f"failed: {r.reason}"}[r.outcome])
        f.destination = target.upload_url
    failed = sum(1 for r in results if not r.ok)
    hint = failure_hint(results)
    return ReleaseResult(list(files.values()), target.upload_url, failed, hint)


def _warm_up() -> None:
    """Import what check and publish need while build waits on its hook processes (this process is idle then).

    The check rules' libraries (docutils, readme-renderer, pyelftools...) take a few tenths of a second to
    import; on a 2-core machine that runs beside the backend instead of after it.
    """
    from toolkit import transport  # noqa: F401
    from toolkit.check.rules import load_all

    load_all()


def _one_release_at_a_time(outdir: Path, reporter: Reporter) -> AbstractContextManager[None]:
    """Two releases into one folder at once would build over each other's files: the second waits, then
    finds the first one's files (on the index, or checked and not yet sent) and goes on from them."""
    return _fs.waiting_lock("release", outdir, lambda: reporter.step(f"waiting for another release into {outdir} to finish"))


def _held_by_index(target: Any, ident: identity.Identity, options: StageOptions,
                   reporter: Reporter) -> dict[str, str | None] | None:
    """file name -> sha256 of this release's files on the index; None when the index cannot be read."""
    from toolkit import transport
    from toolkit.indexstate import similar_names
    from toolkit.publish import remote

    timeout = options.publish.timeout
    http = transport.Transport(transport.Timeouts(timeout, timeout, timeout), options.publish.cacert)
    where = remote.Where.for_upload_url(target.upload_url, target.simple_urls)
    auth = remote.read_authorization(target, where)
    try:
        project = remote.read_project(http, where, ident.display, auth=auth, deadline=options.publish.deadline)
        near = [] if project.found else remote.names_near(http, where, ident.display, auth=auth,
                                                          deadline=options.publish.deadline)
        close = similar_names(ident.display, near)
    except PublishError as exc:
        reporter.warn(f"cannot see what the index holds of {ident}: {exc.message}")
        return None
    finally:
        http.close()
    if close:  # PyPI's I005, said before the build rather than at the first upload
        raise PublishError(f"The name {ident.display!r} is too similar to an existing project ({close[0]!r} on the "
                           "index). See https://pypi.org/help/#project-name for more information.",
                           hint="choose a name that no project comes close to (PyPI folds case, '-_.', 1/l/I and 0/O)")
    return {f.filename: f.sha256 for f in project.of_version(ident.name, ident.version)}


def _resumable(outdir: Path, ident: identity.Identity, on_index: dict[str, str | None] | None,
               reporter: Reporter) -> dict[str, Released] | None:
    """The files of this release already in `outdir` that go on, instead of a new build: all of them when the index
    holds some (byte for byte); or, the index holding none yet, those an earlier run built and checked.
    A build would put other bytes under names the index holds (the builds of setuptools and of most backends outside
    git are not reproducible): when the index holds a file of this release that the folder does not, stop here."""
    local = _local_files(outdir, ident)
    held = on_index or {}
    other = sorted(n for n, sha in held.items() if n in local and sha and sha != local[n].sha256)
    missing = sorted(n for n in held if n not in local)
    if other or missing:
        names = ", ".join(other or missing)
        why = f"with other bytes than {outdir}" if other else f"and {outdir} does not hold {'it' if len(missing) == 1 else 'them'}"
        raise PublishError(f"the index already holds {ident} ({names}) {why}: a new build cannot go under those names",
                           hint="a file name can be used once on an index: bump the version to release the source "
                                "as it is now")
    if held:
        ours = local
    else:
        earlier = _earlier(outdir, ident)
        if earlier is None or not earlier["checked"] or not set(earlier["files"]) <= set(local):
            return None
        ours = {n: local[n] for n in earlier["files"]}
    if not ours:
        return None
    reporter.info(f"{ident}: its {len(ours)} file(s) in {outdir} go on from an earlier run "
                  "(a change to the source since is released under a new version)")
    return {n: Released(d, ["built (by the earlier run)"]) for n, d in ours.items()}


def _local_files(outdir: Path, ident: identity.Identity) -> dict[str, Dist]:
    """This release's files that the folder's manifest lists as current, each still as it was recorded."""
    try:
        dists = current(read_manifest(outdir, missing_ok=True))
    except ConfigError:
        return {}
    found = {}
    for d in dists:
        if ident.owns(d.name, d.version):
            try:
                if _fs.sha256_file(d.path)[0] == d.sha256:
                    found[d.path.name] = d
            except OSError:
                continue
    return found


def _earlier(outdir: Path, ident: identity.Identity) -> dict[str, Any] | None:
    try:
        earlier = read_manifest_doc(outdir).get("release")
    except ConfigError:
        return None
    if not isinstance(earlier, dict) or earlier.get("name") != ident.name or earlier.get("version") != str(ident.version):
        return None
    files = earlier.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return {"files": files, "checked": earlier.get("checked") is True}


def _state(ident: identity.Identity, files: dict[str, Released], *, checked: bool) -> dict[str, Any]:
    return {"name": ident.name, "version": str(ident.version), "files": sorted(files), "checked": checked}


def _same_release(ident: identity.Identity, dists: list[Dist]) -> None:
    """The build made files of the release that was looked for on the index (a version from git can move)."""
    for d in dists:
        if not ident.owns(d.name, d.version):
            raise BuildError(f"{d.path.name} is not {ident}, which the backend said before the build",
                             hint="keep the version steady during the build (a clean git tree, a tag on the commit)")


def _repair(dists: list[Dist], options: StageOptions, files: dict[str, Released], reporter: Reporter,
            project: Path | None) -> None:
    """Native wheels are repaired in the build folder; each replaces the one it was made from (with --manylinux /
    --musllinux, to the tag asked for), once it has passed the import test and the project's own tests
    ([tool.toolkit.test] or [tool.cibuildwheel] test-command)."""
    from toolkit.build.portable import repair_options
    from toolkit.check import repair_gate
    from toolkit.repair import projecttest, run

    native = [d for d in dists if d.kind == "wheel" and repair_tool(d.tags) is not None]
    if not native:
        return
    gate, project_test = repair_gate(), projecttest.load(project)
    outcomes = [o for d in native for o in run(
        [d], dataclasses.replace(repair_options(options.build, options.repair, d), outdir=None), gate=gate,
        reporter=reporter, project_test=project_test)]
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
        return attest.attest([d.path for d in dists], options.attest)


def _takes_attestations(upload_url: str) -> bool:
    return upload_url.rstrip("/") in (PYPI.upload.rstrip("/"), TESTPYPI.upload.rstrip("/"))

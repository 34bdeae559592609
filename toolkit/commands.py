"""The subcommands' bodies, one `cmd_*` function each: merge the stage's options (config.load), call one stage
function, print what came back. cli.py builds the parsers that point here and turns errors into exit codes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from toolkit import config
from toolkit._text import redact_url
from toolkit.errors import ConfigError, ToolkitError

T = TypeVar("T")

def load_options(args: argparse.Namespace, cls: type[T], project_dir: Path | None,
                 **overrides: Any) -> T:
    """The stage's options: defaults < [tool.toolkit.<stage>] < TOOLKIT_* < the flags given."""
    flags = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    flags.update(overrides)
    return config.load(cls, project_dir, flags)


def _reporter(args: argparse.Namespace) -> Any:
    from toolkit.reporter import make_reporter

    return make_reporter(quiet=args.quiet, verbose=args.verbose and not args.quiet)


def cmd_build(args: argparse.Namespace) -> int:
    from toolkit.build import build
    from toolkit.config import BuildOptions

    src: Path = args.src
    from toolkit import _fs

    info = _fs.stat_or_none(src)  # a SRC behind a folder that cannot be entered: one line, not a traceback
    project = src if info is not None and stat.S_ISDIR(info.st_mode) else None
    # -s and -w as in pypa/build: one alone builds that one only; both build both.
    selection: dict[str, Any] = {}
    if args.sdist or args.wheel:
        selection = {"sdist": bool(args.sdist), "wheel": bool(args.wheel)}
    options = load_options(args, BuildOptions, project, **selection)
    reporter = _reporter(args)
    result = build(src, options, reporter=reporter, echo=args.verbose)
    text = args.format != "json"
    if text:
        for d in result.dists:
            _out(f"{d.path}  {d.size:,} bytes  sha256:{d.sha256}")
    # --manylinux / --musllinux: the wheel built with zig is repaired to the tag asked for.
    repairing = options.repair or bool(options.manylinux or options.musllinux)
    repaired = _repair_built(result.dists, options, project, reporter, text) if repairing else []
    if not text:
        doc = {"dists": [d.to_json() for d in result.dists], "manifest": str(result.manifest),
               "log": str(result.log), "source_date_epoch": result.source_date_epoch}
        if repairing:
            doc["repair"] = [o.to_json() for o in repaired]
        _out(json.dumps(doc, indent=2))
    return 0


def _repair_built(dists: Sequence[Any], build: Any, project: Path | None, reporter: Any, text: bool) -> list[Any]:
    """`build --repair`: the repair stage on the wheels just built, with [tool.toolkit.repair] options
    (and, after --manylinux / --musllinux, the tag asked for)."""
    from toolkit import repair
    from toolkit.build import portable
    from toolkit.check import repair_gate
    from toolkit.config import RepairOptions
    from toolkit.repair import projecttest

    options = config.load(RepairOptions, project)
    wheels = [d for d in dists if d.kind == "wheel"]
    if not wheels:
        return []
    gate, project_test = repair_gate(), projecttest.load(project)
    return [o for w in wheels for o in repair.run([w], portable.repair_options(build, options, w), gate=gate,
                                                  reporter=reporter, done=_print_outcome if text else None,
                                                  project_test=project_test)]


def cmd_repair(args: argparse.Namespace) -> int:
    from toolkit import repair
    from toolkit.check import repair_gate
    from toolkit.config import RepairOptions
    from toolkit.dist import stage_inputs

    options = load_options(args, RepairOptions, Path.cwd())
    if args.fuse:
        return _fuse(args, options)
    reporter = _reporter(args)
    inputs = stage_inputs(args.paths, default_outdir(), reporter)
    if args.show:
        shown = repair.show(inputs, options, reporter)
        if args.format == "json":
            _out(json.dumps([s.to_json() for s in shown], indent=2))
        else:
            _out("\n\n".join(_shown_text(s) for s in shown))
        return 0
    # Each wheel's line as it is written: a later wheel's failure must not hide the ones already in OUTDIR.
    outcomes = repair.run(inputs, options, gate=repair_gate(), reporter=reporter,
                          done=_print_outcome if args.format != "json" else None)
    if args.format == "json":
        _out(json.dumps([o.to_json() for o in outcomes], indent=2))
    return 0


def _fuse(args: argparse.Namespace, options: Any) -> int:
    from toolkit.repair.fuse import fuse

    if len(args.paths) != 2 or args.show:
        raise ConfigError("--fuse takes two wheels (and no --show): the x86_64 and the arm64 macOS wheel of one release",
                          hint="toolkit repair --fuse X86_64_WHEEL ARM64_WHEEL -o OUTDIR")
    first, second = args.paths
    for path in (first, second):
        if not path.is_file():
            raise ConfigError(f"{path}: no such wheel", hint="give the paths of two .whl files")
    fused = fuse(first, second, options.outdir or first.parent)
    if args.format == "json":
        _out(json.dumps({"fused": str(fused.path), "inputs": [str(first), str(second)], "fat": list(fused.fat),
                         "differing": list(fused.differing)}, indent=2))
        return 0
    _out(f"fused {first.name} + {second.name} -> {fused.path}  fat Mach-O: {', '.join(fused.fat) or 'none'}")
    if fused.differing:
        print(f"warning: these differ and are not Mach-O files; the arm64 wheel's are kept: {', '.join(fused.differing)}",
              file=sys.stderr)
    return 0


def _print_outcome(o: Any) -> None:
    if o.action == "repaired":
        _out(f"repaired {o.source.name} -> {o.dist.path}  vendored: {', '.join(o.vendored) or 'nothing'}")
    else:
        moved = f" -> {o.dist.path}" if o.dist.path.resolve() != o.source.resolve() else ""
        _out(f"unchanged: {o.reason}  {o.source.name}{moved}")


def _shown_text(shown: Any) -> str:
    lines = [f"{shown.wheel} ({shown.tool})"]
    for b in shown.binaries:
        lines.append(f"  {b.member} needs: {', '.join(b.needs) or 'nothing'}")
    lines += [f"  would vendor {lib} from {src or 'NOT FOUND'}" for lib, src in shown.vendor] or ["  would vendor nothing"]
    lines.append(f"  best tag: {shown.best_tag or 'none'}")
    lines += [f"  note: {n}" for n in shown.notes]
    return "\n".join(lines)


def cmd_check(args: argparse.Namespace) -> int:
    from toolkit.check import check
    from toolkit.config import CheckOptions
    from toolkit.dist import stage_inputs

    if args.list_codes:
        return _list_codes(args.format)
    if args.format == "markdown":
        raise ConfigError("--format markdown goes with --list-codes", hint="use text, json or github for a report")
    options = load_options(args, CheckOptions, Path.cwd())
    reporter = _reporter(args)
    dists = stage_inputs(args.paths, default_outdir(), reporter)
    if args.index:  # the HTTP client only loads when asked for
        from toolkit.publish.remote import Where, predict_files

        where = Where.for_index(args.index)
    report = check(dists, options, reporter=reporter)
    if args.index:
        from toolkit.check.indexstate import add_verdicts

        add_verdicts(report, predict_files([f.path for f in report.files], where))
    out = {"json": report.to_json, "github": report.to_github}.get(args.format, report.to_text)()
    if args.quiet and args.format == "text":
        out = "\n".join(line for line in out.splitlines() if not line.endswith(": PASSED"))
    if out:
        _out(out)
    return 0 if report.ok else 1


def cmd_attest(args: argparse.Namespace) -> int:
    from toolkit.attest import attest, dist_files
    from toolkit.config import AttestOptions
    from toolkit.dist import stage_inputs

    options = load_options(args, AttestOptions, Path.cwd())
    reporter = _reporter(args)
    files = dist_files(stage_inputs(args.paths, default_outdir(), reporter), reporter)
    written = attest(files, options)
    if args.format == "json":
        _out(json.dumps({"attestations": [str(w) for w in written]}, indent=2))
    else:
        for w in written:
            _out(str(w))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from toolkit.attest.verify import verify
    from toolkit.config import VerifyOptions

    options = load_options(args, VerifyOptions, Path.cwd())
    results = verify(args.files, options, attestations=args.attestation or ())
    if args.format == "json":
        _out(json.dumps([r.to_json() for r in results], indent=2))
    for r in results:
        if r.ok and args.format == "text":
            _out(f"{r.path}: verified, signed by {r.signer}")
        elif not r.ok:
            print(f"error: {r.path}: {r.reason}", file=sys.stderr)
    failed = [r for r in results if not r.ok]
    if failed and args.format == "text":
        print(f"hint: {failed[0].hint}", file=sys.stderr)
    return 1 if failed else 0


def cmd_ci(args: argparse.Namespace) -> int:
    from toolkit import ci
    from toolkit.config import CiOptions
    from toolkit.reporter import PlainReporter

    if args.ci_action == "repository":
        _out(ci.repository_for_tag(args.tag))
        return 0
    options = load_options(args, CiOptions, args.project)
    project = ci.detect(args.project, options.kind, PlainReporter().warn)
    if args.ci_action == "matrix":
        _out(ci.to_json(ci.matrix(project, options, warn=PlainReporter().warn)))
        return 0
    given = [f.name for f in dataclasses.fields(CiOptions) if getattr(args, f.name) is not None]
    change = ci.init(project, options, force=args.force, given=given, warn=PlainReporter().warn,
                     gitlab=args.gitlab)
    if change.diff:
        print(change.diff, end="", flush=True)
    if change.action == "foreign" and not args.force:
        raise ToolkitError(f"{args.project / change.path} was not rendered by toolkit (it has no `{ci.HASH_MARK.strip()}` "
                           "header); not overwritten",
                           hint="rename your workflow and re-run, or run `toolkit ci init --force` to replace it")
    if change.action == "edited" and not args.force:
        raise ToolkitError(f"{args.project / change.path} was edited since toolkit rendered it (diff above); not overwritten",
                           hint="keep your edits, or run `toolkit ci init --force` to replace them")
    done = "replaced" if change.action in ("edited", "foreign") else change.action
    _out(f"{done}: {args.project / change.path} ({project.kind}: {project.reason})")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from toolkit.check import gate
    from toolkit.config import CheckOptions, PublishOptions
    from toolkit.dist import stage_inputs
    from toolkit.errors import PublishError
    from toolkit.publish import failed, failure_hint, publish
    from toolkit.publish.target import resolve

    options = load_options(args, PublishOptions, Path.cwd())
    checks = gate(config.load(CheckOptions, Path.cwd())) if options.check else None
    reporter = _reporter(args)
    files = stage_inputs(args.paths, default_outdir(), reporter)
    if not files:  # twine and uv refuse an empty upload too: exit 0 would say the release is out
        named = ", ".join(os.fsencode(p).decode("utf-8", "replace") for p in args.paths)
        raise ConfigError(f"no file to publish in {named}",
                          hint="name wheels and sdists (regular files), or a folder that holds them such as dist/")
    target = resolve(options, dry_run=options.dry_run)
    where = target.upload_url if target.name == target.upload_url else f"{target.name} ({target.upload_url})"
    reporter.info(f"index: {redact_url(where)}; credentials: {target.describe()}")
    results = publish(files, target, options, gate=checks, reporter=reporter)
    if args.format == "json":
        _out(json.dumps({"index": redact_url(target.upload_url), "results": [r.to_json() for r in results]}, indent=2))
    else:
        for r in results:
            _out(r.line())
    bad = failed(results)
    if bad:
        raise PublishError(f"{len(bad)} of {len(results)} file(s) not published", hint=failure_hint(results))
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    from toolkit.errors import CheckFailed, PublishError
    from toolkit.release import StageOptions, release

    src: Path = args.src
    project = src if src.is_dir() else None
    merged: dict[str, Any] = {stage: load_options(args, cls, project) for stage, cls in release_classes().items()}
    reporter = _reporter(args)
    try:
        result = release(src, StageOptions(**merged), reporter=reporter, echo=args.verbose)
    except CheckFailed as exc:
        _out(exc.report.to_text())  # type: ignore[attr-defined]
        raise
    if args.format == "json":
        _out(json.dumps({"index": redact_url(result.index), "files": [f.to_json() for f in result.files]}, indent=2))
    else:
        for f in result.files:
            d = f.dist
            tag = ".".join(sorted(map(str, d.tags))) or "sdist"
            _out(f"{d.path}  {d.size:,} bytes  sha256:{d.sha256}  {tag}")
            _out(f"    {', '.join(f.steps)}" + (f" -> {f.destination}" if f.destination else ""))
    if result.failed:
        raise PublishError(f"{result.failed} of {len(result.files)} file(s) not published", hint=result.hint)
    return 0


def default_outdir(project_dir: Path | None = None) -> Path:
    """Where the build stage wrote (its configured outdir, else PROJECT/dist): later stages read it."""
    from toolkit.config import BuildOptions

    project_dir = project_dir or Path.cwd()
    return config.load(BuildOptions, project_dir).outdir_for(project_dir)


def _list_codes(fmt: str) -> int:
    from toolkit.check.report import REFUSERS
    from toolkit.check.rules import load_all

    rules = sorted(load_all().items())
    if fmt == "markdown":
        _out("| code | level | refused by | what it checks |\n| --- | --- | --- | --- |")
    for code, rule in rules:
        who = REFUSERS[rule.refused_by]
        if fmt == "markdown":
            _out(f"| {code} | {rule.level} | {who} | {rule.summary.replace('|', '/')} |")
        else:
            _out(f"{code}  {rule.level:<7}  {who:<17}  {rule.summary}")
    return 0


def _out(text: str) -> None:
    print(text, flush=True)


def release_classes() -> dict[str, type]:
    """The stages `toolkit release` runs, as StageOptions lists them, with their options' classes (config.STAGES)."""
    from toolkit.release import StageOptions

    return {f.name: config.STAGES[f.name] for f in dataclasses.fields(StageOptions)}

"""The `toolkit` command: argument parsing and printing only.

Each stage's flags are made from its options dataclass (config.py), so a stage's
options are declared once; each subcommand is a parser and one `cmd_*` function
that merges the options (config.load), calls one stage function and prints what
came back. ToolkitError becomes one line on stderr and the error's exit code.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import os
import signal
import stat
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from toolkit import __version__, config
from toolkit._text import redact_url
from toolkit.errors import ConfigError, ToolkitError

T = TypeVar("T")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(message, hint=f"see `{self.prog} --help`")


# -- options dataclass -> flags ----------------------------------------------------------------------

def add_options(parser: argparse.ArgumentParser, cls: type, skip: Sequence[str] = ()) -> None:
    """One argument per field of a stage's options (its name, kind, choices and help)."""
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        meta = f.metadata
        kind, names, help = meta["kind"], config.flag_names(f), meta["help"]
        if kind == "bool":
            parser.add_argument(*names, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help)
            if meta["false_flags"]:
                parser.add_argument(*meta["false_flags"], dest=f.name, action="store_const", const=False,
                                    help=f"same as --no-{f.name.replace('_', '-')}")
        elif kind in ("list", "dict"):
            parser.add_argument(*names, dest=f.name, action="append", default=None, metavar=meta["metavar"], help=help)
        elif kind == "choice":
            parser.add_argument(*names, dest=f.name, choices=meta["choices"], default=None, help=help)
        else:
            metavar = meta["metavar"] or ("URL" if kind == "str" else None)
            parser.add_argument(*names, dest=f.name, default=None, metavar=metavar, help=help)


def load_options(args: argparse.Namespace, cls: type[T], project_dir: Path | None,
                 **overrides: Any) -> T:
    """The stage's options: defaults < [tool.toolkit.<stage>] < TOOLKIT_* < the flags given."""
    flags = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    flags.update(overrides)
    return config.load(cls, project_dir, flags)


def _common(p: argparse.ArgumentParser, formats: Sequence[str] = ("text", "json")) -> None:
    p.add_argument("--format", choices=formats, default="text", help="output format")
    p.add_argument("-q", "--quiet", action="store_true", help="print results only")
    p.add_argument("-v", "--verbose", action="store_true", help="show the tools' output and every step")


def _reporter(args: argparse.Namespace) -> Any:
    from toolkit.reporter import make_reporter

    return make_reporter(quiet=args.quiet, verbose=args.verbose and not args.quiet)


# -- the parser ----------------------------------------------------------------------------------------

def make_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with `command` (a subcommand's name), only that subcommand's: building every stage's
    options would import the release pipeline and every stage's option classes for a command that needs one."""
    parser = _Parser(prog="toolkit", description="Build, repair, check, attest and publish Python distributions.")
    parser.add_argument("--version", action="version", version=f"toolkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    known = command is not None and any(command in name.split() for name in _SUBPARSERS)
    for name, add in _SUBPARSERS.items():
        if not known or command in name.split():
            add(sub)
    return parser


def _build_parser(sub: Any) -> None:
    from toolkit.config import BuildOptions

    b = sub.add_parser("build", help="build the sdist, then the wheel from it",
                       description="Build the sdist, then the wheel from the unpacked sdist. -s/-w build one only.")
    b.add_argument("src", nargs="?", default=".", type=Path, help="project folder or sdist .tar.gz (default: .)")
    add_options(b, BuildOptions, skip=("sdist", "wheel"))
    b.add_argument("-s", "--sdist", action="store_true", default=None, help="build the sdist (only, unless -w too)")
    b.add_argument("-w", "--wheel", action="store_true", default=None,
                   help="build the wheel (only, unless -s too; alone: straight from SRC)")
    _common(b)
    b.set_defaults(func=cmd_build)


def _repair_parser(sub: Any) -> None:
    from toolkit.config import RepairOptions

    r = _stage_parser(sub, "repair", RepairOptions, cmd_repair, "WHEEL", "wheels",
                      help="vendor external shared libraries into native wheels and retag them",
                      description="Copy the external shared libraries that native wheels need into them, patch the "
                                  "binaries to find them, and give each wheel the most compatible platform tag its "
                                  "binaries allow (auditwheel, delocate, delvewheel).")
    r.add_argument("--show", action="store_true",
                   help="only show what each binary needs, what would be vendored and the best tag")
    r.add_argument("--fuse", action="store_true",
                   help="join the two WHEELs, an x86_64 and an arm64 macOS wheel of one release, into one universal2 "
                        "wheel (as delocate-merge does, on any host) in -o (default: the first wheel's folder)")


def _check_parser(sub: Any) -> None:
    from toolkit.config import CheckOptions

    c = _stage_parser(sub, "check", CheckOptions, cmd_check, "PATH", "files",
                      help="check wheels and sdists as PyPI, twine and pip would, and stricter",
                      description="Check wheels and sdists as PyPI, the uploaders and the installers would.",
                      formats=("text", "json", "github", "markdown"))
    c.add_argument("--list-codes", action="store_true", help="print the table of check codes and exit")
    c.add_argument("--index", metavar="INDEX", help="also predict what this index will say (pypi, testpypi, or its URL): "
                   "a file name used before, a release older than 14 days, a name too close to another project's")


def _stage_parser(sub: Any, name: str, cls: type, func: Callable[[argparse.Namespace], int], metavar: str,
                  what: str, *, help: str, description: str, formats: Sequence[str] = ("text", "json")) -> Any:
    """A stage that reads the build manifest when given no paths: its paths, its options' flags, -q/-v/--format."""
    parser = sub.add_parser(name, help=help, description=f"{description} With no {metavar}: the {what} of the build "
                                                          "manifest (the newest of each lineage) in the build output folder "
                                                          "([tool.toolkit.build] outdir, default dist/).")
    parser.add_argument("paths", nargs="*", type=Path, metavar=metavar,
                        help=f"{what}, folders of them, or quoted globs ('dist/*'); default: the build manifest's {what}")
    add_options(parser, cls)
    _common(parser, formats=formats)
    parser.set_defaults(func=func)
    return parser


def _publish_parser(sub: Any) -> None:
    from toolkit.config import PublishOptions

    _stage_parser(sub, "publish", PublishOptions, cmd_publish, "FILE", "files",
                  help="upload wheels and sdists to an index (PyPI, TestPyPI, devpi, pypiserver...)",
                  description="Check, then upload wheels first and the sdist last. A file already on the index with "
                              "the same sha256 counts as done, so running again finishes what is missing.")


# Options that `toolkit release` sets itself: it builds both, repairs in the build folder, always checks,
# and attests by its own --attest choice. Its --jobs is check's; publish's is [tool.toolkit.publish] jobs.
_RELEASE_SKIPS = {"BuildOptions": ("sdist", "wheel", "repair"), "RepairOptions": ("outdir",),
                  "PublishOptions": ("repositories", "check", "attestations", "jobs")}


def _release_classes() -> dict[str, type]:
    """The stages `toolkit release` runs, as StageOptions lists them, with their options' classes (config.STAGES)."""
    import dataclasses

    from toolkit.release import StageOptions

    return {f.name: config.STAGES[f.name] for f in dataclasses.fields(StageOptions)}


def _release_parser(sub: Any) -> None:
    r = sub.add_parser("release", help="build, repair, check, attest and publish in one command",
                       description="Build the sdist and wheels, repair native wheels, check every file, attest (in CI) "
                                   "and publish, wheels first. Nothing is uploaded unless every file passes check; a "
                                   "file already on the index with the same sha256 is not sent again, so running the "
                                   "same command after an interruption finishes the release.")
    r.add_argument("src", nargs="?", default=".", type=Path, help="project folder (default: .)")
    for cls in _release_classes().values():
        group = r.add_argument_group(f"{config.stage_name(cls)} options")
        add_options(group, cls, skip=_RELEASE_SKIPS.get(cls.__name__, ()))  # type: ignore[arg-type]
    _common(r)
    r.set_defaults(func=cmd_release)


def _attest_parsers(sub: Any) -> None:
    from toolkit.config import AttestOptions, VerifyOptions

    _stage_parser(sub, "attest", AttestOptions, cmd_attest, "PATH", "files",
                  help="sign PEP 740 publish attestations with Sigstore (in CI)",
                  description="In a CI job with an OIDC identity (GitHub Actions, GitLab CI), sign each wheel and sdist "
                              "with Sigstore and write FILE.publish.attestation beside it.")

    v = sub.add_parser("verify", help="verify PEP 740 attestations against the files and their publisher",
                       description="Verify that each FILE's attestation was signed through Sigstore by PUBLISHER for "
                                   "this very file (its name and sha256).")
    v.add_argument("files", nargs="+", type=Path, metavar="FILE", help="wheels and sdists to verify")
    v.add_argument("--attestation", action="append", type=Path, default=None, metavar="ATT",
                   help="the attestation (or provenance) of FILE, once per FILE in order (default: FILE.publish.attestation)")
    add_options(v, VerifyOptions)
    _common(v)
    v.set_defaults(func=cmd_verify)


def _add_ci(sub: Any) -> None:
    from toolkit.config import CiOptions

    ci = sub.add_parser("ci", help="GitHub Actions or GitLab CI: render the release workflow, print the wheel matrix")
    actions = ci.add_subparsers(dest="ci_action", metavar="ACTION", parser_class=_Parser, required=True,
                                help="init, matrix or repository")
    init = actions.add_parser("init", help="write PROJECT/.github/workflows/release.yml (or .gitlab-ci.yml) from "
                                           "toolkit's templates")
    init.add_argument("--force", action="store_true", help="overwrite a workflow that was edited since it was rendered")
    init.add_argument("--gitlab", action="store_true", help="write PROJECT/.gitlab-ci.yml (GitLab CI) instead")
    matrix = actions.add_parser("matrix", help="print the per-wheel build matrix as JSON, for strategy.matrix")
    for p in (init, matrix):
        p.add_argument("project", nargs="?", default=Path("."), type=Path, help="project folder (default: .)")
        add_options(p, CiOptions)
    repo = actions.add_parser("repository", help="print the index a release tag goes to: pypi, or testpypi for a pre-release")
    repo.add_argument("tag", help="the git tag, e.g. v1.2.0 or v1.3.0rc1")
    ci.set_defaults(func=cmd_ci)


# Each subcommand's parser, under the names it adds (in `toolkit --help`'s order).
_SUBPARSERS: dict[str, Callable[[Any], None]] = {
    "build": _build_parser, "repair": _repair_parser, "check": _check_parser, "attest verify": _attest_parsers,
    "publish": _publish_parser, "release": _release_parser, "ci": _add_ci,
}


# -- the subcommands -----------------------------------------------------------------------------------

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
    merged: dict[str, Any] = {stage: load_options(args, cls, project) for stage, cls in _release_classes().items()}
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


# -- the entry point -----------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    previous = _catch_signals()
    try:
        return _main(argv)
    except _Signalled as sig:
        # The stage has unwound (staging folders removed, temporary folders deleted); wait for
        # what the commands it ran left behind, so that nothing writes into OUTDIR after we exit.
        from toolkit import _proc

        _proc.stop_children()
        name = signal.Signals(sig.signum).name
        print(f"error: {'interrupted' if name == 'SIGINT' else f'stopped by {name}'}", file=sys.stderr)
        return 128 + sig.signum
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _main(argv: Sequence[str] | None) -> int:
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        parser = make_parser(argv[0] if argv and not argv[0].startswith("-") else None)
        args, extra = parser.parse_known_args(argv)
        if extra:  # reported here rather than by argparse, so that the hint names the subcommand's help
            prog = f"toolkit {args.command}" if getattr(args, "command", None) else "toolkit"
            # Only the option names: what follows a mistyped `--pasword` may be the secret itself.
            names = [e.split("=", 1)[0] for e in extra if e.startswith("-")] or ["an extra argument"]
            raise ConfigError(f"unrecognized arguments: {' '.join(names)}", hint=f"see `{prog} --help`")
        func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
        if func is None:
            parser.print_help()
            return 2
        return int(func(args))
    except ToolkitError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        for line in exc.detail:
            print(f"    {line}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _closed_stdout()
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            return _closed_stdout()
        raise


class _Signalled(BaseException):
    """SIGTERM or SIGINT arrived: a BaseException, so that no `except Exception` stops the unwinding
    and every `finally` and staging folder cleans up on its way to main()."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum: int, frame: object) -> None:
    from toolkit import _proc

    for sig in _SIGNALS:  # one is enough: a second one must not cut the clean-up short
        signal.signal(sig, signal.SIG_IGN)
    _proc.interrupt_children()
    raise _Signalled(signum)


# What a CI cancel, `docker stop`, `timeout` (SIGTERM) and Ctrl-C (SIGINT) send.
_SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None)) if s is not None)


def _catch_signals() -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}  # signal handlers can only be set from the main thread (a library caller's thread)
    return {sig: signal.signal(sig, _on_signal) for sig in _SIGNALS}


def _closed_stdout() -> int:
    """The reader went away (`toolkit check | head -1`): end quietly, as `cat` does, with SIGPIPE's status."""
    # Python flushes stdout again at exit; point it at devnull so that flush cannot fail too.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 128 + getattr(signal, "SIGPIPE", 13)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

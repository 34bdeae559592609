"""The `toolkit` command: argument parsing and printing only.

One function per subcommand: it merges the options (config.load), calls one
stage function and prints what came back. ToolkitError becomes one line on
stderr and the error's exit code; nothing here knows packaging rules.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from toolkit import __version__
from toolkit.errors import ConfigError, ToolkitError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(message, hint=f"see `{self.prog} --help`")


def _bool_flag(parser: argparse.ArgumentParser, name: str, help: str) -> None:
    parser.add_argument(f"--{name}", dest=name.replace("-", "_"), action=argparse.BooleanOptionalAction,
                        default=None, help=help)


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="toolkit", description="Build, repair, check, attest and publish Python distributions.")
    parser.add_argument("--version", action="version", version=f"toolkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    b = sub.add_parser("build", help="build the sdist, then the wheel from it")
    b.add_argument("src", nargs="?", default=".", type=Path, help="project folder or sdist .tar.gz (default: .)")
    b.add_argument("-o", "--outdir", type=Path, default=None, help="output folder (default: SRC/dist)")
    only = b.add_mutually_exclusive_group()
    only.add_argument("--sdist", action="store_true", help="build the sdist only")
    only.add_argument("--wheel", action="store_true", help="build the wheel only (straight from SRC)")
    b.add_argument("--no-isolation", action="store_true", help="build in the current environment")
    b.add_argument("-C", "--config-setting", action="append", default=None, metavar="KEY=VALUE",
                   help="PEP 517 config setting (repeatable)")
    b.add_argument("--build-constraints", type=Path, default=None, metavar="FILE")
    b.add_argument("--installer", choices=("auto", "uv", "pip"), default=None)
    b.add_argument("--no-cache", action="store_true", help="use a fresh build environment")
    b.add_argument("--pass-env", action="append", default=None, metavar="NAME",
                   help="let the backend see this variable (PYTHONPATH, PIP_*, UV_* are dropped otherwise)")
    _common(b)
    b.set_defaults(func=cmd_build)

    c = sub.add_parser("check", help="check wheels and sdists as PyPI would, and stricter")
    c.add_argument("paths", nargs="*", type=Path, help="files, or folders of them (default: dist/)")
    c.add_argument("--format", choices=("text", "json", "github", "markdown"), default="text",
                   help="output format (markdown: only with --list-codes)")
    c.add_argument("--ignore", action="append", default=None, metavar="CODE", help="silence a warning code")
    _bool_flag(c, "strict", "treat warnings as errors")
    c.add_argument("--list-codes", action="store_true", help="print the table of check codes and exit")
    c.add_argument("-j", "--jobs", type=int, default=None, help="worker processes (default: one per core)")
    c.set_defaults(func=cmd_check)
    _add_ci(sub)
    return parser


def _add_ci(sub: Any) -> None:
    ci = sub.add_parser("ci", help="GitHub Actions: render the release workflow, print the wheel matrix")
    actions = ci.add_subparsers(dest="ci_action", metavar="ACTION", parser_class=_Parser, required=True)
    init = actions.add_parser("init", help="write PROJECT/.github/workflows/release.yml from toolkit's templates")
    init.add_argument("--force", action="store_true", help="overwrite a workflow that was edited since it was rendered")
    matrix = actions.add_parser("matrix", help="print the per-wheel build matrix as JSON, for strategy.matrix")
    for p in (init, matrix):
        p.add_argument("project", nargs="?", default=Path("."), type=Path, help="project folder (default: .)")
        p.add_argument("--kind", choices=("auto", "pure", "native"), default=None, help="pure or native (default: detect)")
        _bool_flag(p, "free-threaded", "also build free-threaded (cp3XXt) wheels")
        p.add_argument("--platforms", default=None, metavar="LIST",
                       help="native wheels' platforms, comma-separated (default: all of linux-x86_64, linux-aarch64, "
                            "macos-x86_64, macos-arm64, windows-amd64, windows-arm64)")
    repo = actions.add_parser("repository", help="print the index a release tag goes to: pypi, or testpypi for a pre-release")
    repo.add_argument("tag", help="the git tag, e.g. v1.2.0 or v1.3.0rc1")
    ci.set_defaults(func=cmd_ci)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    p.add_argument("-q", "--quiet", action="store_true", help="print results only")
    p.add_argument("-v", "--verbose", action="store_true", help="show the tools' output")


class _RichReporter:
    """Progress for the long steps on stderr, with rich (imported only here)."""

    def __init__(self, quiet: bool) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False, soft_wrap=True)
        self.quiet = quiet

    @contextlib.contextmanager
    def step(self, text: str) -> Iterator[None]:
        if self.quiet or not self.console.is_terminal:
            if not self.quiet:
                self.console.print(f"• {text}")
            yield
            return
        with self.console.status(text):
            yield
        self.console.print(f"[green]✓[/] {text}")

    def warn(self, text: str) -> None:
        self.console.print(f"[yellow]warning:[/] {text}")


def cmd_build(args: argparse.Namespace) -> int:
    from toolkit import config
    from toolkit.build import build

    src: Path = args.src
    project = src if src.is_dir() else None
    flags: dict[str, Any] = {
        "outdir": args.outdir,
        "sdist": False if args.wheel else None,
        "wheel": False if args.sdist else None,
        "isolation": False if args.no_isolation else None,
        "installer": args.installer,
        "config_settings": args.config_setting,
        "build_constraints": args.build_constraints,
        "cache": False if args.no_cache else None,
        "pass_env": args.pass_env,
    }
    if args.sdist or args.wheel:  # an explicit --sdist/--wheel overrides the table's choice
        flags["sdist" if args.sdist else "wheel"] = True
    options = config.load("build", project, flags)
    from toolkit.build import PlainReporter

    reporter = PlainReporter() if args.quiet else _RichReporter(args.quiet)  # -q: no need to import rich
    result = build(src, options, reporter=reporter, echo=args.verbose)
    if args.format == "json":
        doc = {"dists": [d.to_json() for d in result.dists], "manifest": str(result.manifest),
               "log": str(result.log), "source_date_epoch": result.source_date_epoch}
        print(json.dumps(doc, indent=2))
    else:
        for d in result.dists:
            print(f"{d.path}  {d.size:,} bytes  sha256:{d.sha256}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from toolkit import config
    from toolkit.check import check

    if args.list_codes:
        from toolkit.check.rules import load_all

        rules = sorted(load_all().items())
        if args.format == "markdown":
            print("| code | level | PyPI rejects | what it checks |\n| --- | --- | --- | --- |")
        for code, rule in rules:
            if args.format == "markdown":
                print(f"| {code} | {rule.level} | {'yes' if rule.pypi_rejects else 'no'} | {rule.summary.replace('|', '/')} |")
            else:
                pypi = "PyPI rejects" if rule.pypi_rejects else "toolkit"
                print(f"{code}  {rule.level:<7}  {pypi:<12}  {rule.summary}")
        return 0
    options = config.load("check", Path.cwd(), {"ignore": args.ignore, "strict": args.strict})
    report = check(args.paths or [Path("dist")], ignore=options.ignore, strict=options.strict, jobs=args.jobs)
    if args.format == "markdown":
        raise ConfigError("--format markdown goes with --list-codes", hint="use text, json or github for a report")
    out = {"json": report.to_json, "github": report.to_github}.get(args.format, report.to_text)()
    if out:
        print(out)
    return 0 if report.ok else 1


def cmd_ci(args: argparse.Namespace) -> int:
    from toolkit import ci, config

    if args.ci_action == "repository":
        print(ci.repository_for_tag(args.tag))
        return 0
    flags = {"kind": args.kind, "free_threaded": args.free_threaded, "platforms": args.platforms}
    options = config.load("ci", args.project, flags)
    project = ci.detect(args.project, options.kind)
    if args.ci_action == "matrix":
        print(ci.to_json(ci.matrix(project, options)))
        return 0
    given = [name for name, value in flags.items() if value is not None]
    change = ci.init(project, options, force=args.force, given=given)
    if change.diff:
        print(change.diff, end="")
    if change.action == "edited" and not args.force:
        raise ToolkitError(f"{args.project / change.path} was edited since toolkit rendered it (diff above); not overwritten",
                           hint="keep your edits, or run `toolkit ci init --force` to replace them")
    print(f"{change.action if change.action != 'edited' else 'replaced'}: {args.project / change.path} "
          f"({project.kind}: {project.reason})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = make_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args))
    except ToolkitError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

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
    return parser


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
        from toolkit.check.report import REFUSERS
        from toolkit.check.rules import load_all

        rules = sorted(load_all().items())
        if args.format == "markdown":
            print("| code | level | refused by | what it checks |\n| --- | --- | --- | --- |")
        for code, rule in rules:
            who = REFUSERS[rule.refused_by]
            if args.format == "markdown":
                print(f"| {code} | {rule.level} | {who} | {rule.summary.replace('|', '/')} |")
            else:
                print(f"{code}  {rule.level:<7}  {who:<17}  {rule.summary}")
        return 0
    options = config.load("check", Path.cwd(), {"ignore": args.ignore, "strict": args.strict})
    report = check(args.paths or [Path("dist")], ignore=options.ignore, strict=options.strict, jobs=args.jobs)
    if args.format == "markdown":
        raise ConfigError("--format markdown goes with --list-codes", hint="use text, json or github for a report")
    out = {"json": report.to_json, "github": report.to_github}.get(args.format, report.to_text)()
    if out:
        print(out)
    return 0 if report.ok else 1


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

"""The `toolkit` command: its parsers and its entry point.

Each stage's flags are made from its options dataclass (config.py), so a stage's
options are declared once; each subcommand is a parser here and one `cmd_*` function
in commands.py. main() runs it: ToolkitError becomes one line on stderr and the
error's exit code; a signal, a closed stdout and Ctrl-C end it quietly.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from toolkit import __version__, config
from toolkit.commands import (
    cmd_attest,
    cmd_build,
    cmd_check,
    cmd_ci,
    cmd_publish,
    cmd_release,
    cmd_repair,
    cmd_verify,
    release_classes,
)
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


def _common(p: argparse.ArgumentParser, formats: Sequence[str] = ("text", "json")) -> None:
    p.add_argument("--format", choices=formats, default="text", help="output format")
    p.add_argument("-q", "--quiet", action="store_true", help="print results only")
    p.add_argument("-v", "--verbose", action="store_true", help="show the tools' output and every step")


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


def _release_parser(sub: Any) -> None:
    r = sub.add_parser("release", help="build, repair, check, attest and publish in one command",
                       description="Build the sdist and wheels, repair native wheels, check every file, attest (in CI) "
                                   "and publish, wheels first. Nothing is uploaded unless every file passes check; a "
                                   "file already on the index with the same sha256 is not sent again, so running the "
                                   "same command after an interruption finishes the release.")
    r.add_argument("src", nargs="?", default=".", type=Path, help="project folder (default: .)")
    for cls in release_classes().values():
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

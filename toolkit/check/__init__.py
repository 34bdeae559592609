"""Stage 3, check: every file is judged by the rules PyPI applies on upload, and
by toolkit's stricter ones, reading each archive once and never extracting it.

`check(dists, options, *, reporter) -> Report`. Files are checked in parallel processes when there
are several (the work is CPU-bound: inflating, hashing, parsing).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from toolkit._proc import PARALLEL_MIN_BYTES, process_pool
from toolkit.check.report import FileReport, Finding, Report
from toolkit.config import CheckOptions
from toolkit.dist import Dist, expand_paths
from toolkit.errors import ConfigError
from toolkit.gate import Gate, MetadataPick, Refusal, UploadGate, Verdict
from toolkit.reporter import PlainReporter, Reporter

INTERNAL = "K000"  # a rule crashed: a bug of toolkit's, reported as a finding
UNREADABLE = "K001"  # the file could not be read at all
_LARGE_FILE = 64 << 20
_GROUP = 8  # files of one release checked by one worker in a row
_METADATA_MAX = 16 << 20  # the metadata member publish reads at most (publish/prepare.py)


def collect(paths: Sequence[Path | Dist]) -> list[Path]:
    """Files named (or Dists from another stage), the visible files of folders named, quoted globs; each once."""
    files = expand_paths(paths)
    for path in files:
        if not os.access(path, os.R_OK):
            raise ConfigError(f"{path}: cannot be read (permission denied)", hint="check the file's permissions")
    if not files:
        raise ConfigError(f"nothing to check in {', '.join(map(str, paths))}", hint="run `toolkit build` first")
    return files


def check_file(path: Path, ignore: Iterable[str] = (), strict: bool = False,
               only: tuple[str, ...] | None = None) -> FileReport:
    """Run every rule that applies to one file (or those whose codes start with one of `only`); a rule that
    crashes becomes a K000 finding.

    The verdict is remembered by the file's sha256, its name and the rule set (verdicts.py): the same
    bytes are judged once, whichever stage asks. A verdict of a few rules is not the file's: not remembered."""
    return _check_file(path, ignore, strict, only)[0]


def _check_file(path: Path, ignore: Iterable[str] = (), strict: bool = False, only: tuple[str, ...] | None = None,
                sha256: str | None = None, pick: MetadataPick | None = None) -> tuple[FileReport, bytes | None]:
    """check_file, given the file's sha256 when the caller has it, and handing back the member `pick` names
    (as the walk read it) when the file is judged now."""
    from toolkit.check import verdicts

    report = FileReport(path)
    if only is not None:
        found, kept = _judge(path, only, pick)
        return _reported(report, found, ignore, strict), kept
    try:
        # Past the cap, hashing costs as much as judging (and a damaged giant is judged from its first bytes).
        digest = (sha256 or verdicts.file_digest(path)) if path.stat().st_size <= verdicts.REMEMBER_MAX else None
    except OSError as exc:
        report.findings.append(_unreadable(exc))
        return report, None
    remembered = verdicts.recall(digest, path.name) if digest else None
    if remembered is not None:
        return _reported(report, remembered, ignore, strict), None
    found, kept = _judge(path, None, pick)
    # a crash or a read error is not a verdict
    if digest and not any(f.code in (INTERNAL, UNREADABLE) for f in found):
        verdicts.remember(digest, path.name, found)
    return _reported(report, found, ignore, strict), kept


def _reported(report: FileReport, found: list[Finding], ignore: Iterable[str], strict: bool) -> FileReport:
    skip = set(ignore)
    for f in found:
        if f.code in skip:
            continue
        if strict and f.level == "warning":
            f = Finding(f.code, "error", f.refused_by, f.message, f.hint)
        report.findings.append(f)
    return report


def _unreadable(exc: OSError) -> Finding:
    from toolkit.check.rules import load_all

    return Finding(UNREADABLE, "error", "toolkit", f"cannot read the file: {exc.strerror or exc}",
                   load_all()[UNREADABLE].hint)


def _judge(path: Path, only: tuple[str, ...] | None = None,
           pick: MetadataPick | None = None) -> tuple[list[Finding], bytes | None]:
    from toolkit.check.rules import load
    from toolkit.check.view import DistView

    rules = load(only)
    view = DistView(path)
    try:
        view.archive  # noqa: B018 - opened here so that an unreadable file is one finding, not a crash
    except OSError as exc:
        return [_unreadable(exc)], None
    found: list[Finding] = []
    for code in sorted(rules):
        rule = rules[code]
        if (rule.applies != "any" and rule.applies != view.kind) or (only is not None and not code.startswith(only)):
            continue
        if rule.needs_archive and view.archive.format is None:
            continue  # the archive rules said why it cannot be read; the rest would only repeat it
        try:
            found.extend(list(rule.run(view)))  # all of a rule's findings, or none when it crashes
        except Exception as exc:  # a bug in a rule must not hide the other findings
            found.append(Finding(INTERNAL, "error", "toolkit", f"rule {code} failed on this file: "
                                 f"{type(exc).__name__}: {exc}", rules[INTERNAL].hint))
    kept = None
    if pick is not None and view.archive.format is not None:
        name = pick([m.name for m in view.archive.members if m.kind == "file"])
        # A name the archive holds twice is read by name as its last copy, and the picker meant the first: not handed.
        if name is not None and sum(m.name == name for m in view.archive.members) == 1:
            kept = view.read(name, limit=_METADATA_MAX)
    view.archive.close()
    return found, kept


def refusal(path: Path, options: CheckOptions | None = None, only: tuple[str, ...] | None = None) -> Refusal | None:
    """Why the check stage refuses one file (its first error and how many more), or None; `only`: as check_file."""
    options = options or CheckOptions()
    return _refusal(check_file(path, options.ignore, options.strict, only))


def verdict(path: Path, options: CheckOptions | None = None, *, sha256: str | None = None,
            metadata: MetadataPick | None = None) -> Verdict:
    """publish's gate (UploadGate): the refusal, and the member `metadata` picks as the walk read it."""
    options = options or CheckOptions()
    report, kept = _check_file(path, options.ignore, options.strict, None, sha256, metadata)
    return Verdict(_refusal(report), kept)


def _refusal(report: FileReport) -> Refusal | None:
    errors = report.errors
    if not errors:
        return None
    return Refusal(errors[0].code, errors[0].message, errors[0].hint or "", len(errors) - 1)


def gate(options: CheckOptions | None = None) -> UploadGate:
    """`verdict` with these options, for publish. The rules load now, so that the worker processes publish forks
    inherit them."""
    from toolkit.check.rules import load_all

    load_all()
    return functools.partial(verdict, options=options)


# The check families of what a repair writes: binaries (B), RECORD (R), the wheel's layout (W), the zip (Z), its
# size (I), the platform tag (N021), a rule's crash (K). The name, metadata and contents come from the input
# unchanged: `toolkit check` judges them (a name PyPI takes, as MarkupSafe-1.1.1's, is no reason to refuse a repair).
REPAIR_WRITES = ("B", "R", "W", "Z", "I", "K", "N021")


def repair_gate() -> Gate:
    """The gate of a repaired wheel: the rules over what repair writes run, none over what it takes from its input
    (their modules are not even imported)."""
    from toolkit.check.rules import load

    load(REPAIR_WRITES)
    return functools.partial(refusal, only=REPAIR_WRITES)


def check(dists: Sequence[Path | Dist], options: CheckOptions | None = None, *,
          reporter: Reporter | None = None) -> Report:
    """Check every file (Dists from build or repair, or paths); the report holds every finding."""
    options = options or CheckOptions()
    reporter = reporter or PlainReporter()
    files = collect(dists)
    ignore, strict = tuple(options.ignore), options.strict
    _validate_ignore(ignore)
    jobs = options.jobs or min(len(files), os.cpu_count() or 1)
    sizes = [f.stat().st_size for f in files]
    by_index: dict[int, FileReport] = {}
    # Progress counts bytes when a file is large, so that one long file moves the bar as much as it costs.
    weights = sizes if max(sizes) >= _LARGE_FILE else [1] * len(files)
    with reporter.progress(f"checking {len(files)} file(s)", sum(weights)) as advance:
        if jobs > 1 and sum(sizes) >= PARALLEL_MIN_BYTES:
            from concurrent.futures import as_completed

            with process_pool(jobs) as pool:
                futures = {pool.submit(_check_group, [files[i] for i in group], ignore, strict): group
                           for group in _release_groups(files, sizes)}
                for future in as_completed(futures):
                    for i, report in zip(futures[future], future.result(), strict=True):
                        by_index[i] = report
                        advance(weights[i])
        else:
            for i, f in enumerate(files):
                by_index[i] = check_file(f, ignore, strict)
                advance(weights[i])
    return Report([by_index[i] for i in range(len(files))])


def _release_groups(files: Sequence[Path], sizes: Sequence[int]) -> list[list[int]]:
    """The files' indexes in groups of one release (a project's sdist and wheels share one description, which
    one worker then renders once), at most _GROUP files each, largest groups first so that no worker is
    left with a big one at the end."""
    by_release: dict[str, list[int]] = {}
    for i, path in enumerate(files):
        name = path.name.lower()
        key = "-".join(name.split("-", 2)[:2]) if name.endswith(".whl") else name.rsplit(".tar", 1)[0].rsplit(".zip", 1)[0]
        by_release.setdefault(key, []).append(i)
    groups = [g[at:at + _GROUP] for g in by_release.values() for at in range(0, len(g), _GROUP)]
    return sorted(groups, key=lambda g: -sum(sizes[i] for i in g))


def _check_group(paths: list[Path], ignore: tuple[str, ...], strict: bool) -> list[FileReport]:
    return [check_file(path, ignore, strict) for path in paths]


def _validate_ignore(codes: Sequence[str]) -> None:
    from toolkit.check.rules import load_all

    rules = load_all()
    for code in codes:
        if code not in rules:
            raise ConfigError(f"cannot ignore {code}: no such check code", hint="`toolkit check --list-codes` lists them")
        if rules[code].level == "error":
            raise ConfigError(f"cannot ignore {code}: it is an error, not a warning", hint="fix the file instead")

"""Check rules: entry_points.txt read the way each installer reads it before it writes the scripts (W114):
pip through importlib.metadata and distlib, pypa/installer through its parse_entrypoints, uv through its
own INI reader and script rule. PyPI's stricter INI reading and its script-name rule are W004.
"""

from __future__ import annotations

import configparser
import importlib.metadata
import os
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn

from toolkit.check.rules import Problem, rule

if TYPE_CHECKING:
    from toolkit.check.view import DistView

SCRIPT_GROUPS = ("console_scripts", "gui_scripts")  # the only groups installers turn into files
_TOOLS = {"pip": "pip", "uv": "uv", "installer": "pypa/installer"}
_NAME_MAX = 255  # bytes in one file name (Linux, macOS; Windows counts UTF-16 units, launchers add .exe)

# uv is a Rust program with no Python API to ask: this is its console-script rule (uv-install-wheel,
# script.rs, Script::from_value), written from its text. Rust's \w is Unicode-aware, as Python's is.
_UV_SCRIPT = re.compile(r"[\w\-.]+\s*:\s*[\w\-.]+(?:\s*\[\s*(?:[^,]+,?\s*)+\])?\s*\Z")


@dataclass
class EntryVerdict:
    """One [console_scripts]/[gui_scripts] entry and what each installer says of it (absent: accepts)."""
    group: str
    name: str
    value: str
    refusals: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        who = "; ".join(f"{_TOOLS[tool]} refuses it ({why})" for tool, why in self.refusals.items())
        return f"entry_points.txt [{self.group}] {self.name} = {self.value!r}: {who}"


def judge(text: str) -> list[str]:
    """What the installers refuse in a strict-INI entry_points.txt (W004 judges the INI itself): the whole file,
    or each entry they refuse, naming them."""
    entries = _entries(text)
    if entries is None:
        return []
    unreadable = _pip(text, entries)
    _uv(entries)
    _installer(text, entries)
    for entry in entries.values():
        if len(entry.name.encode()) > _NAME_MAX:  # each one fails writing the script (ENAMETOOLONG)
            for tool in ("pip", "uv", "installer"):
                entry.refusals.setdefault(tool, f"a script name longer than {_NAME_MAX} bytes cannot be written")
    found = [e.describe() for e in entries.values() if e.refusals]
    return [f"entry_points.txt: pip refuses it ({unreadable})", *found] if unreadable else found


def _entries(text: str) -> dict[tuple[str, str], EntryVerdict] | None:
    """The script entries as installer and uv see them: [DEFAULT] keys belong to every group; no interpolation,
    so that each value is seen as written."""
    parser = configparser.RawConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # names are case-sensitive
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    return {(g, n): EntryVerdict(g, n, v or "") for g in parser.sections() if g in SCRIPT_GROUPS
            for n, v in parser.items(g)}


class _TextDistribution(importlib.metadata.Distribution):
    """A distribution whose only file is this entry_points.txt: importlib.metadata parses it as pip does."""

    def __init__(self, text: str) -> None:
        self._text = text

    def read_text(self, filename: str) -> str | None:
        return self._text if filename == "entry_points.txt" else None

    def locate_file(self, path: str | os.PathLike[str]) -> NoReturn:  # no files: entry points only
        raise FileNotFoundError(path)


def _pip(text: str, entries: dict[tuple[str, str], EntryVerdict]) -> str | None:
    """pip reads the groups with importlib.metadata, then gives `name = value` to distlib's script maker.
    Returns why pip cannot read the file at all (a line with no '=' in any group), or None."""
    from distlib import DistlibException
    from distlib.util import get_export_entry

    try:
        found = list(_TextDistribution(text).entry_points)
    except (TypeError, ValueError) as exc:  # importlib.metadata's own reader: a line with no '=', in any group
        return f"importlib.metadata cannot read the file: {exc}"
    for ep in found:
        if (entry := entries.get((ep.group, ep.name))) is None:
            continue
        try:
            export = get_export_entry(f"{ep.name} = {ep.value}")
        except DistlibException as exc:
            entry.refusals["pip"] = str(exc)
            continue
        if export is None:
            entry.refusals["pip"] = "not an object reference: pip fails with a TypeError"
        elif export.suffix is None:
            entry.refusals["pip"] = "no ':callable' after the module"
        elif _outside_scripts(export.name):
            entry.refusals["pip"] = "the script would be written outside the scripts folder"
    return None


def _outside_scripts(name: str, allow_folder: bool = False) -> bool:
    """Whether the script's path, joined to the scripts folder, leaves it: pip refuses the folder itself
    too (a name '.'), installer only a path outside it."""
    dest = posixpath.normpath(posixpath.join("/scripts", name.replace("\\", "/")))
    return not dest.startswith("/scripts/") and not (allow_folder and dest == "/scripts")


def _uv(entries: dict[tuple[str, str], EntryVerdict]) -> None:
    for entry in entries.values():
        if _UV_SCRIPT.match(entry.value) is None:
            entry.refusals["uv"] = "invalid console script"
        elif "/" in entry.name or "\\" in entry.name or entry.name in (".", ".."):
            entry.refusals["uv"] = "the script name is not a file name"


def _installer(text: str, entries: dict[tuple[str, str], EntryVerdict]) -> None:
    """pypa/installer's own parser: its interpolating ConfigParser (a '%' fails) and its reference regex,
    whose failure is a bare assert: the entry at which it stopped is the one it refused."""
    from installer.utils import parse_entrypoints

    order, done = list(entries), 0
    try:
        for _ in parse_entrypoints(text):
            done += 1
    except configparser.InterpolationError as exc:
        key: tuple[str, str] | None = (exc.section, exc.option)
        why = f"{type(exc).__name__}: {exc}".split("\n")[0]
    except (AssertionError, AttributeError):  # AttributeError: the same failure under python -O
        key, why = (order[done] if done < len(order) else None), "not a `module:attribute` reference"
    else:
        key, why = None, ""
    if key in entries:
        entries[key].refusals["installer"] = why
    for entry in entries.values():
        if _outside_scripts(entry.name, allow_folder=True):
            entry.refusals.setdefault("installer", "the script would be written outside the scripts folder")
    # installer writes both groups into one folder: a name in both is "File already exists"
    for name in {n for g, n in entries if g == "console_scripts"} & {n for g, n in entries if g == "gui_scripts"}:
        entries["gui_scripts", name].refusals.setdefault("installer", "a console script has the same name")


@rule("W114", refused_by="installer", applies="wheel",
      summary="entry_points.txt scripts are `module:callable` references pip, uv and installer accept",
      hint="write each [console_scripts]/[gui_scripts] value as `package.module:function` (optionally followed "
           "by `[extra]`), with nothing after it: no comment, no '%', no empty value")
def installable_entry_points(dist: DistView) -> Iterator[Problem]:
    if dist.archive.format != "zip" or dist.dist_info is None:
        return
    data = dist.read(f"{dist.dist_info}/entry_points.txt")
    if data is None:
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # W004
    yield from judge(text)

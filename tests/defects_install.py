"""Defects in what an installer parses in a wheel, for the oracle generator (tests/defects.py): entry_points.txt
drawn from groups x names x values x file shapes, RECORD rows, .data/scripts and their `#!python` line, and
WHEEL keys. Each is built at random from parts, so that the oracle meets combinations no one wrote by hand.
"""

from __future__ import annotations

import random

from defects import NAME, VERSION, Entry, Spec, defect

_GROUPS = ["console_scripts", "console_scripts", "gui_scripts", "my.plugins", "DEFAULT", "console_scripts  "]
_NAMES = ["tool", "tool", "my-tool.2", ".", "..", "a/b", "t:x", "-", "töol", "x" * 300, "pip3.11", "T00l"]
_VALUES = [
    "demo_pkg:f", "demo_pkg.core:f", "demo_pkg:f [extra]", "demo_pkg:f [a, b]", "demo_pkg:a.b", "demo_pkg : f",
    "", "not a valid :: reference", "%(x)s", "%(tool)s", "demo_pkg:f  # comment", "demo_pkg:f ; comment",
    "demo_pkg:f 100%", "demo_pkg:f%%", "demo-pkg:f", "demo_pkg", "demo_pkg:", ":f", "a:b:c", ".pkg:f",
    "demo_pkg:f []", "demo_pkg:f [x", "demo_pkg:f [a=1]", "1pkg:f", "démo:f", "demo_pkg.:f.", "demo_pkg:f\n  more",
]


@defect("entry points: a generated entry_points.txt", "wheel")
def _entry_points(spec: Spec, rng: random.Random) -> None:
    lines = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        group, name, value = rng.choice(_GROUPS), rng.choice(_NAMES), rng.choice(_VALUES)
        lines += [f"[{group}]", f"{name} = {value}".rstrip() if value else f"{name} ="]
    shape = rng.choice(["plain"] * 6 + ["no section", "duplicate key", "colon", "bom", "crlf", "blank name"])
    if shape == "no section":
        lines = [line for line in lines if not line.startswith("[")]
    elif shape == "duplicate key":
        lines += [lines[-1]]
    elif shape == "colon":
        lines[-1] = lines[-1].replace(" = ", ": ", 1)
    elif shape == "blank name":
        lines.append(" = demo_pkg:f")
    text = "\n".join(lines) + "\n"
    text = "\ufeff" + text if shape == "bom" else text.replace("\n", "\r\n") if shape == "crlf" else text
    spec.entries.append(Entry(f"{spec.dist_info}/entry_points.txt", text.encode()))


# RECORD rows: each edit changes the first file's row, or adds rows
def _first_row(change: str, line: str) -> str:
    path, digest, size = line.split(",")
    return {
        "extra column": f"{path},{digest},{size},extra",
        "one column": path,
        "size not a number": f"{path},{digest},ten",
        "wrong size": f"{path},{digest},{int(size) + 1}",
        "md5 hash": f"{path},md5=AAAAAAAAAAAAAAAAAAAAAA,{size}",
        "hash without '='": f"{path},{digest.replace('=', '', 1)},{size}",
        "unknown algorithm": f"{path},sha3_999={digest.split('=', 1)[1]},{size}",
        "no size": f"{path},{digest},",
        "backslash path": f"{path.replace('/', chr(92))},{digest},{size}",
        "./ path": f"./{path},{digest},{size}",
        "quoted path": f'"{path}",{digest},{size}',
        "upper-case algorithm": f"{path},SHA256={digest.split('=', 1)[1]},{size}",
        "padded hash": f"{path},{digest}=,{size}",
    }[change]


_ROW_CHANGES = ["extra column", "one column", "size not a number", "wrong size", "md5 hash", "hash without '='",
                "unknown algorithm", "no size", "backslash path", "./ path", "quoted path", "upper-case algorithm",
                "padded hash"]
_ADDED_ROWS = {
    "a row leaving the wheel": "../outside.py,,",
    "an absolute row": "/etc/outside.py,,",
    "a folder row": f"{NAME}/,,",
    "a blank line": "",
    "RECORD's own row with a hash": f"{NAME}-{VERSION}.dist-info/RECORD,sha256=AAAA,1",
    "a duplicate row": None,
}


@defect("RECORD: a changed row", "wheel")
def _record_row(spec: Spec, rng: random.Random) -> None:
    change = rng.choice(_ROW_CHANGES)
    spec.record_edit = lambda lines: [_first_row(change, lines[0]), *lines[1:]]
    spec.defects.append(f"  ({change})")


@defect("RECORD: an added row", "wheel")
def _record_added(spec: Spec, rng: random.Random) -> None:
    which = rng.choice(sorted(_ADDED_ROWS))
    row = _ADDED_ROWS[which]
    spec.record_edit = lambda lines: [*lines[:-1], row if row is not None else lines[0], lines[-1]]
    spec.defects.append(f"  ({which})")
    if which in ("a folder row", "a row leaving the wheel", "an absolute row", "a duplicate row"):
        spec.toolkit_refuses = True  # installers skip them; uninstall removes what they name (R103-R105)


@defect("RECORD: CRLF line ends", "wheel")
def _record_crlf(spec: Spec, rng: random.Random) -> None:
    spec.record_edit = lambda lines: [line + "\r" for line in lines]


# .data/scripts and the `#!python` line installers rewrite
_SCRIPTS = [b"#!python\nprint(1)\n", b"#!pythonw\nprint(1)\n", b"#!python3\nprint(1)\n", b"#!python -u\nprint(1)\n",
            b"#!python\r\nprint(1)\r\n", b"#!/usr/bin/env python\nprint(1)\n", b"\x7fELF\x02\x01\x01", b"",
            b"#!python", b"#!python\xff\nprint(1)\n", b"#! python\nprint(1)\n", b"print(1)\n"]


@defect("wheel: a generated .data/scripts file", "wheel")
def _data_script(spec: Spec, rng: random.Random) -> None:
    name = rng.choice(["demo", "demo.py", "sub/demo", "demo.exe", "../demo"])
    spec.entries.append(Entry(f"{NAME}-{VERSION}.data/scripts/{name}", rng.choice(_SCRIPTS)))


# WHEEL keys, as a generated header
_WHEEL_LINES = ["Wheel-Version: 1.0", "Wheel-Version: 1.0", "Wheel-Version: 1.1", "wheel-version: 1.0",
                "Wheel-Version:1.0", "Wheel-Version: 1.0 ", "Generator: x", "Root-Is-Purelib: true",
                "Root-Is-Purelib: true", "Root-Is-Purelib: false", "root-is-purelib: true", "Build: 1",
                "Tag: py3-none-any", "Tag: py2.py3-none-any", "Tag: cp315-abi3t-manylinux_2_39_x86_64", "X-Unknown: 1",
                "Wheel-Version: 1.0\nWheel-Version: 2.0", "Wheel-Version 1.0"]


@defect("WHEEL: a generated header", "wheel")
def _wheel_keys(spec: Spec, rng: random.Random) -> None:
    lines = rng.sample(_WHEEL_LINES, rng.randint(2, 6))
    spec.wheel_text = "\n".join(lines) + "\n"
    if not any(line.lower().startswith("root-is-purelib") for line in lines):
        spec.toolkit_refuses = True  # W108: installers read a missing value as false (toolkit's own rule)
    if any(line.startswith("Tag: ") and line != "Tag: py3-none-any" for line in lines):
        spec.toolkit_refuses = True  # W101: readers of WHEEL see other tags than installers (toolkit's own rule)


# The families above, which the generator draws more often (for 4 wheels in 10) than the other defects.
GENERATED = ["entry points: a generated entry_points.txt", "RECORD: a changed row", "RECORD: an added row",
             "wheel: a generated .data/scripts file", "WHEEL: a generated header"]

"""Check rules: what the installers (pip, uv, pypa/installer) refuse in a wheel that PyPI takes, the
WHEEL file read the way they read it (W102, W107-W111), and which member twine takes for METADATA
(W112, W113).

pip and installer parse WHEEL with the email parser: a blank line ends the header, so Tag lines
after one are not read at all (harmless: installers take the tags from the filename).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import Message
from typing import TYPE_CHECKING

from toolkit.check.rules import Problem, rule
from toolkit.check.rules.layout import wheel_file

if TYPE_CHECKING:
    from toolkit.check.view import DistView

SCHEMES = ("purelib", "platlib", "headers", "scripts", "data")  # the wheel spec's .data/ subfolders


@rule("W102", refused_by="installer", applies="wheel", summary="WHEEL is UTF-8 and declares Wheel-Version 1.x",
      hint="rebuild the wheel with its build backend; WHEEL is written by it, not by hand")
def wheel_version(dist: DistView) -> Iterator[str]:
    wheel = wheel_file(dist)
    if isinstance(wheel, str):
        yield f"{wheel}: pip refuses to install the wheel"
    elif wheel is not None:
        raw = wheel.get("Wheel-Version")
        version = (raw or "").strip()
        if not version:
            yield "WHEEL has no Wheel-Version: pip and installer refuse the wheel"
        # installer takes a value that starts with "1." as written; pip needs dot-separated integers
        elif not (raw or "").startswith("1.") or not re.fullmatch(r"\d+(\.\d+)*", version):
            yield f"WHEEL Wheel-Version is {version!r}: pip, uv and installer install 1.x wheels only"


@rule("W107", level="warning", applies="wheel", summary="WHEEL lists its Tag lines in its header",
      hint="installers take the tags from the filename, but tools that read WHEEL (wheel tags, auditwheel) find none")
def wheel_tag_lines(dist: DistView) -> Iterator[str]:
    wheel = wheel_file(dist)
    if isinstance(wheel, Message) and not wheel.get_all("Tag"):
        body = wheel.get_payload()
        if isinstance(body, str) and re.search(r"^Tag:", body, re.MULTILINE):
            yield "WHEEL has its Tag lines after a blank line, which ends the header: readers of WHEEL see no tags"
        else:
            yield "WHEEL has no Tag lines"


@rule("W108", applies="wheel", summary="WHEEL says Root-Is-Purelib: true or false",
      hint="installers read anything but 'true' as false and put the files in platlib; rebuild the wheel")
def wheel_root_is_purelib(dist: DistView) -> Iterator[str]:
    wheel = wheel_file(dist)
    if isinstance(wheel, Message):
        purelib = wheel.get("Root-Is-Purelib")
        if purelib is None:
            yield "WHEEL has no Root-Is-Purelib"
        elif purelib.strip().lower() not in ("true", "false"):
            yield f"WHEEL Root-Is-Purelib is {purelib.strip()!r}, not true or false"


def _top_folders(dist: DistView) -> set[str]:
    return {m.name.split("/", 1)[0] for m in dist.archive.members}


@rule("W109", refused_by="installer", applies="wheel", summary="a wheel has exactly one .dist-info folder",
      hint="a wheel holds the metadata of one distribution; drop the other .dist-info folder from the build")
def one_dist_info(dist: DistView) -> Iterator[str]:
    if dist.archive.format != "zip":
        return
    found = sorted(t for t in _top_folders(dist) if t.endswith(".dist-info"))
    if len(found) > 1:
        yield f"multiple .dist-info directories found: {', '.join(found)}: pip, uv and installer refuse the wheel"


@rule("W110", refused_by="installer", applies="wheel", summary="files under .data/ are in a scheme subfolder",
      hint=f"{{name}}-{{version}}.data/ holds only the subfolders {', '.join(SCHEMES)}")
def data_schemes(dist: DistView) -> Iterator[Problem]:
    if dist.archive.format != "zip" or dist.dist_info is None:
        return
    data_dir = dist.dist_info.removesuffix(".dist-info") + ".data"
    bad: dict[str, str] = {}
    for m in dist.archive.members:
        if m.kind == "dir" or not m.name.startswith(data_dir + "/"):
            continue
        rest = m.name[len(data_dir) + 1:]
        scheme = rest.split("/", 1)[0] if "/" in rest else rest
        if scheme not in SCHEMES:
            bad.setdefault(scheme, m.name)
    for scheme, example in bad.items():
        yield (f"{example} is not in a valid .data subfolder ({scheme!r} is not a scheme): pip, uv and installer "
               "refuse the wheel")


@rule("W111", refused_by="installer", applies="wheel", summary="METADATA is UTF-8",
      hint="write METADATA in UTF-8 (the core metadata spec requires it)")
def metadata_utf8(dist: DistView) -> Iterator[str]:
    if dist.dist_info is None:
        return
    data = dist.read(f"{dist.dist_info}/METADATA")
    if data is None:
        return
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield f"{dist.dist_info}/METADATA is not UTF-8 ({exc.reason} at byte {exc.start}): pip refuses the wheel"


# twine does not refuse this: it sends the other file, and PyPI judges that. toolkit refuses the ambiguity itself.
@rule("W112", applies="wheel", summary="twine sends {name}-{version}.dist-info/METADATA",
      hint="twine takes the first member whose name contains METADATA (shortest path first) and whose text holds "
           "'Metadata-Version': rename the other file, or keep it out of the wheel")
def sends_the_wheels_metadata(dist: DistView) -> Iterator[str]:
    sent = dist.sent
    if sent.sent is not None and sent.sent != sent.expected:
        yield (f"twine sends {sent.sent} as the metadata of this wheel, not {sent.expected}: PyPI judges that "
               "file, and the metadata checks here judge it too")


@rule("W113", level="warning", applies="wheel", summary="no other member could pass for METADATA",
      hint="uploaders search the wheel for METADATA by name; a file named like it is a trap for a future version")
def metadata_lookalikes(dist: DistView) -> Iterator[str]:
    for name in dist.sent.others:
        if name != dist.sent.expected:
            yield f"{name} also holds 'Metadata-Version'; twine reads {dist.sent.sent} first"

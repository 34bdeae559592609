"""A seeded generator of wheels and sdists with defects, for the oracle test (test_check_oracle.py).

Each file starts as a valid project (a wheel or an sdist that every tool accepts) and gets one or two
defects drawn at random from the families toolkit must judge like the real tools: metadata fields,
which metadata goes up, the wheel's layout and WHEEL/RECORD, the sdist's top folder and PKG-INFO, the
gzip and zip containers. A defect that only toolkit's own policy refuses says so (`toolkit_refuses`):
that is the one verdict not taken from a real tool.
"""

from __future__ import annotations

import bz2
import gzip
import io
import random
import struct
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from distfactory import record_line

NAME, VERSION = "demo_pkg", "1.0"
DESCRIPTION = "# Demo\n\nA demo package.\n"


@dataclass
class Entry:
    name: str
    data: bytes = b""
    kind: str = "file"  # file, dir, symlink, hardlink
    link: str = ""


@dataclass
class Spec:
    kind: str  # "wheel" or "sdist"
    filename: str
    headers: list[tuple[str, str]]
    description: str | None = DESCRIPTION
    entries: list[Entry] = field(default_factory=list)
    wheel_text: str = "Wheel-Version: 1.0\nGenerator: defects\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    top: str = f"{NAME}-{VERSION}"  # sdist folder
    metadata_name: str = f"{NAME}-{VERSION}.dist-info/METADATA"  # where METADATA / PKG-INFO goes
    metadata_raw: bytes | None = None  # bytes to write instead of the rendered headers
    record_edit: Callable[[list[str]], list[str]] | None = None
    compress: str = "gzip"  # sdist: gzip, bz2
    after: Callable[[bytes], bytes] | None = None  # byte-level change of the finished file
    toolkit_refuses: bool = False
    defects: list[str] = field(default_factory=list)

    @property
    def dist_info(self) -> str:
        return f"{NAME}-{VERSION}.dist-info"


def base(kind: str) -> Spec:
    headers = [("Metadata-Version", "2.4"), ("Name", "demo-pkg"), ("Version", VERSION),
               ("Summary", "A demo package"), ("License-Expression", "MIT"),
               ("Description-Content-Type", "text/markdown"), ("Requires-Dist", "packaging>=24")]
    if kind == "wheel":
        entries = [Entry(f"{NAME}/__init__.py", b"x = 1\n"), Entry(f"{NAME}/core.py", b"def f():\n    return 1\n")]
        return Spec("wheel", f"{NAME}-{VERSION}-py3-none-any.whl", headers, entries=entries)
    entries = [Entry("pyproject.toml", b"[project]\nname = 'demo-pkg'\nversion = '1.0'\n"),
               Entry(f"src/{NAME}/__init__.py", b"x = 1\n")]
    return Spec("sdist", f"{NAME}-{VERSION}.tar.gz", headers, entries=entries, metadata_name="PKG-INFO")


def render_metadata(spec: Spec) -> bytes:
    if spec.metadata_raw is not None:
        return spec.metadata_raw
    text = "".join(f"{k}: {v}\n" for k, v in spec.headers)
    if spec.description is not None:
        text += "\n" + spec.description
    return text.encode("utf-8", "surrogateescape")


def build(spec: Spec, folder: Path) -> Path:
    path = folder / spec.filename
    data = _wheel_bytes(spec) if spec.kind == "wheel" else _sdist_bytes(spec)
    path.write_bytes(spec.after(data) if spec.after else data)
    return path


def _wheel_bytes(spec: Spec) -> bytes:
    files = [(e.name, e.data) for e in spec.entries]
    files += [(spec.metadata_name, render_metadata(spec)), (f"{spec.dist_info}/WHEEL", spec.wheel_text.encode())]
    lines = [record_line(n, d) for n, d in files if not n.endswith("/")] + [f"{spec.dist_info}/RECORD,,"]
    if spec.record_edit:
        lines = spec.record_edit(lines)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            zf.writestr(name, data)
        if lines is not None:
            zf.writestr(f"{spec.dist_info}/RECORD", "\n".join(lines) + "\n")
    return buf.getvalue()


def _sdist_bytes(spec: Spec) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        pkg_info = [Entry(spec.metadata_name, render_metadata(spec))] if spec.metadata_name else []
        for e in [*spec.entries, *pkg_info]:
            info = tarfile.TarInfo(e.name if e.name.startswith(("/", "~")) else f"{spec.top}/{e.name}")
            info.name = info.name.removeprefix("~")
            info.mtime, info.mode = 1700000000, 0o644
            if e.kind == "file":
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}[e.kind]
            info.linkname = e.link
            tar.addfile(info)
    if spec.compress == "bz2":
        return bz2.compress(raw.getvalue())
    return gzip.compress(raw.getvalue(), mtime=0)


# -- the defects: each changes a Spec; the name is what the report shows ------------------------------

Defect = Callable[[Spec, random.Random], None]
DEFECTS: dict[str, tuple[str, Defect]] = {}  # name -> (applies: any/wheel/sdist, change)


def defect(name: str, applies: str = "any") -> Callable[[Defect], Defect]:
    def register(func: Defect) -> Defect:
        DEFECTS[name] = (applies, func)
        return func
    return register


def _header(value: tuple[str, str]) -> Defect:
    return lambda spec, rng: spec.headers.append(value)


def _replace(key: str, value: str | None) -> Defect:
    def change(spec: Spec, rng: random.Random) -> None:
        spec.headers = [(k, v) for k, v in spec.headers if k != key] + ([(key, value)] if value is not None else [])
    return change


# metadata fields: twine's refusals, PyPI's, and values everyone accepts
for _name, _value in {
    "misspelt header Requires_Dist": ("Requires_Dist", "foo"),
    "unknown header": ("X-Custom", "1"),
    "Requires-Python UNKNOWN": ("Requires-Python", "UNKNOWN"),
    "License UNKNOWN": ("Home-page", "UNKNOWN"),
    "private classifier": ("Classifier", "Private :: Do Not Upload"),
    "known classifier": ("Classifier", "Programming Language :: Python :: 3"),
    "second Summary": ("Summary", "again"),
    "author e-mail at localhost": ("Author-email", "jane@localhost"),
    "direct URL dependency": ("Requires-Dist", "pkg @ https://example.org/pkg.whl"),
    "Requires-Python >=3.*": ("Requires-Python", ">=3.*"),
    "long Project-URL label": ("Project-URL", "A label that is much longer than thirty-two, https://example.org"),
    "Project-URL": ("Project-URL", "Source, https://example.org/src"),
    "keywords": ("Keywords", "a,b,c"),
    "License-File not shipped": ("License-File", "LICENSE"),
    "dynamic version": ("Dynamic", "Version"),
    "bad provides-extra": ("Provides-Extra", "with spaces"),
    "bad license expression": ("License-Expression", "MIT OR Foo-1.0"),
    "empty Requires-Python": ("Requires-Python", ""),
    "empty Classifier": ("Classifier", ""),
    "Requires-Dist UNKNOWN": ("Requires-Dist", "UNKNOWN"),
    "Dynamic Name": ("Dynamic", "Name"),
    "second Keywords": ("Keywords", "x"),
    "long Summary": ("Summary", "x" * 600),
    "Requires-External": ("Requires-External", "libfoo"),
    "Obsoletes-Dist with URL": ("Obsoletes-Dist", "old @ https://example.org/old.whl"),
    "Provides-Extra": ("Provides-Extra", "extra-one"),
    "Supported-Platform": ("Supported-Platform", "linux"),
}.items():
    defect(f"metadata: {_name}")(_header(_value))

defect("metadata: non-UTF-8 Author")(_header(("Author", "J\udce9r\udcf4me")))
defect("metadata: Metadata-Version 2.0")(_replace("Metadata-Version", "2.0"))
defect("metadata: Metadata-Version 2.6")(_replace("Metadata-Version", "2.6"))
defect("metadata: Description-Content-Type text/html")(_replace("Description-Content-Type", "text/html"))
defect("metadata: Description-Content-Type charset=utf-8")(
    _replace("Description-Content-Type", "text/markdown; charset=utf-8"))
defect("metadata: no Description-Content-Type")(_replace("Description-Content-Type", None))
defect("metadata: local version")(_replace("Version", "1.0+local"))
defect("metadata: no Name")(_replace("Name", None))
defect("metadata: empty Description-Content-Type")(_replace("Description-Content-Type", ""))
defect("metadata: Version UNKNOWN")(_replace("Version", "UNKNOWN"))
defect("metadata: Summary with U+2028")(_replace("Summary", "A demo\u2028package"))  # twine 7 refuses these three
defect("metadata: Summary with U+001D")(_replace("Summary", "A demo\x1dpackage"))
defect("metadata: Description-Content-Type variant twice")(
    _replace("Description-Content-Type", "text/markdown; variant=GFM; variant=CommonMark"))


@defect("metadata: invalid Name '-foo'")
def _bad_name(spec: Spec, rng: random.Random) -> None:
    _replace("Name", rng.choice(["-foo", "foo-", "foo bar"]))(spec, rng)


@defect("metadata: invalid Import-Name")
def _import_name(spec: Spec, rng: random.Random) -> None:
    _replace("Metadata-Version", "2.5")(spec, rng)
    spec.headers.append(("Import-Name", rng.choice(["class.x", "1abc", "demo_pkg; privat"])))


@defect("metadata: License-File under 2.1")
def _old_license_file(spec: Spec, rng: random.Random) -> None:
    _replace("Metadata-Version", "2.1")(spec, rng)
    _replace("License-Expression", None)(spec, rng)
    spec.headers.append(("License-File", "LICENSE"))


@defect("metadata: broken reST")
def _bad_rst(spec: Spec, rng: random.Random) -> None:
    _replace("Description-Content-Type", "text/x-rst")(spec, rng)
    spec.description = rng.choice(["*broken emphasis\n", ".. raw:: html\n\n   <b>x</b>\n", "Title\n=====\n"])


@defect("metadata: no description")
def _no_description(spec: Spec, rng: random.Random) -> None:
    spec.description = None


@defect("metadata: not UTF-8 at all")
def _latin1(spec: Spec, rng: random.Random) -> None:
    spec.metadata_raw = render_metadata(spec).replace(b"A demo package", "Ä démo".encode("latin-1"))


@defect("metadata: no Metadata-Version")
def _no_marker(spec: Spec, rng: random.Random) -> None:
    _replace("Metadata-Version", None)(spec, rng)


# which metadata goes up (wheels): twine takes the first *METADATA* member holding "Metadata-Version"
@defect("wheel: stray METADATA at the top", "wheel")
def _stray_top(spec: Spec, rng: random.Random) -> None:
    text = render_metadata(spec)
    if rng.random() < 0.5:
        text = text.replace(b"Name: demo-pkg", b"Name: -other")
    spec.entries.append(Entry("METADATA", text))
    spec.toolkit_refuses = True  # twine sends another file than the wheel's METADATA: refused as ambiguous


@defect("wheel: module named like METADATA", "wheel")
def _module(spec: Spec, rng: random.Random) -> None:
    marker = rng.choice([True, False])
    body = b'HEADER = "Metadata-Version: 2.1"\n' if marker else b"x = 1\n"
    spec.entries.append(Entry(f"{NAME}/METADATA_tools.py", body))


@defect("wheel: second .dist-info", "wheel")
def _second_dist_info(spec: Spec, rng: random.Random) -> None:
    spec.entries.append(Entry(rng.choice(["other-1.0.dist-info/METADATA", "zzz-1.0.dist-info/INSTALLER"]),
                              b"Metadata-Version: 2.1\nName: other\nVersion: 1.0\n"))


@defect("wheel: .data subfolder that is not a scheme", "wheel")
def _data_scheme(spec: Spec, rng: random.Random) -> None:
    spec.entries.append(Entry(f"{NAME}-{VERSION}.data/{rng.choice(['foo/x.txt', 'x.txt', 'share/x'])}", b"x"))


@defect("wheel: .data scripts", "wheel")
def _data_scripts(spec: Spec, rng: random.Random) -> None:
    spec.entries.append(Entry(f"{NAME}-{VERSION}.data/scripts/demo", b"#!python\nprint(1)\n"))


# WHEEL
for _name, _text in {
    "Wheel-Version 2.0": "Wheel-Version: 2.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    "no Wheel-Version": "Root-Is-Purelib: true\nTag: py3-none-any\n",
    "blank line before Tag": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n\nTag: py3-none-any\n",
    "no Tag": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n",
    "Wheel-Version 1.0.0": "Wheel-Version: 1.0.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    "Wheel-Version 1.9": "Wheel-Version: 1.9\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    "Wheel-Version 0.9": "Wheel-Version: 0.9\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    "Wheel-Version 1": "Wheel-Version: 1\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    "Root-Is-Purelib True": "Wheel-Version: 1.0\nRoot-Is-Purelib: True\nTag: py3-none-any\n",
    "CRLF": "Wheel-Version: 1.0\r\nRoot-Is-Purelib: true\r\nTag: py3-none-any\r\n",
}.items():
    defect(f"WHEEL: {_name}", "wheel")(lambda spec, rng, text=_text: setattr(spec, "wheel_text", text))


@defect("WHEEL: no Root-Is-Purelib", "wheel")
def _no_purelib(spec: Spec, rng: random.Random) -> None:
    spec.wheel_text = "Wheel-Version: 1.0\nTag: py3-none-any\n"
    spec.toolkit_refuses = True  # installers read it as false; toolkit's own consistency rule (W108)


# RECORD
@defect("RECORD: wrong hash", "wheel")
def _bad_hash(spec: Spec, rng: random.Random) -> None:
    spec.record_edit = lambda lines: [line.replace("sha256=", "sha256=AAAA", 1) if i == 0 else line
                                      for i, line in enumerate(lines)]


@defect("RECORD: file not listed", "wheel")
def _unlisted(spec: Spec, rng: random.Random) -> None:
    spec.record_edit = lambda lines: lines[1:]


@defect("RECORD: lists an absent file", "wheel")
def _absent(spec: Spec, rng: random.Random) -> None:
    spec.record_edit = lambda lines: [*lines, record_line(f"{NAME}/gone.py", b"")]
    spec.toolkit_refuses = True  # installers skip it; uninstall then fails (R103)


@defect("RECORD: sha1 hashes", "wheel")
def _sha1(spec: Spec, rng: random.Random) -> None:
    import base64
    import hashlib

    data = {e.name: e.data for e in spec.entries}

    def edit(lines: list[str]) -> list[str]:
        out = []
        for line in lines:
            name = line.split(",")[0]
            if name in data:
                digest = base64.urlsafe_b64encode(hashlib.sha1(data[name]).digest()).rstrip(b"=").decode()
                line = f"{name},sha1={digest},{len(data[name])}"
            out.append(line)
        return out
    spec.record_edit = edit
    spec.toolkit_refuses = True  # the wheel spec forbids it; pip and installer check the sha1 all the same


@defect("RECORD: a row without hash", "wheel")
def _no_hash(spec: Spec, rng: random.Random) -> None:
    spec.record_edit = lambda lines: [",".join([line.split(",")[0], "", ""]) if i == 0 else line
                                      for i, line in enumerate(lines)]


@defect("RECORD: missing", "wheel")
def _no_record(spec: Spec, rng: random.Random) -> None:
    spec.record_edit = lambda lines: None  # type: ignore[arg-type,return-value]


@defect("wheel: bad entry point name", "wheel")
def _entry_points(spec: Spec, rng: random.Random) -> None:
    spec.entries.append(Entry(f"{spec.dist_info}/entry_points.txt", b"[console_scripts]\nmy tool = demo_pkg:f\n"))


@defect("wheel: member outside the wheel", "wheel")
def _dotdot(spec: Spec, rng: random.Random) -> None:
    spec.entries.append(Entry("../evil.py", b"x = 1\n"))


@defect("wheel: members differing by case", "wheel")
def _case(spec: Spec, rng: random.Random) -> None:
    spec.entries.append(Entry(f"{NAME}/Core.py", b"y = 2\n"))
    spec.toolkit_refuses = True  # one overwrites the other on Windows and macOS (Z104)


@defect("wheel: METADATA Name of another project", "wheel")
def _other_name(spec: Spec, rng: random.Random) -> None:
    _replace("Name", "other-pkg")(spec, rng)


@defect("wheel: dist-info spelt differently", "wheel")
def _dist_info_case(spec: Spec, rng: random.Random) -> None:
    spec.metadata_name = "Demo_Pkg-1.0.dist-info/METADATA"


@defect("zip: a member compressed with bzip2", "wheel")
def _bzip2_member(spec: Spec, rng: random.Random) -> None:
    spec.after = _rezip(zipfile.ZIP_BZIP2)


@defect("zip: bytes after the end record", "wheel")
def _zip_trailing(spec: Spec, rng: random.Random) -> None:
    spec.after = lambda data: data + b"\0" * 16


def _rezip(method: int) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
            for i, info in enumerate(src.infolist()):
                dst.writestr(info.filename, src.read(info), compress_type=method if i == 0 else zipfile.ZIP_DEFLATED)
        return out.getvalue()
    return change


@defect("wheel: bytecode", "wheel")
def _pyc(spec: Spec, rng: random.Random) -> None:
    spec.entries.append(Entry(f"{NAME}/__pycache__/core.cpython-311.pyc", b"\0" * 16))


@defect("wheel: unsupported platform tag", "wheel")
def _platform(spec: Spec, rng: random.Random) -> None:
    spec.filename = f"{NAME}-{VERSION}-py3-none-linux_x86_64.whl"
    spec.wheel_text = "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-linux_x86_64\n"


@defect("wheel: name not normalised in the filename", "wheel")
def _wheel_case(spec: Spec, rng: random.Random) -> None:
    spec.filename = spec.filename.replace(NAME, "Demo_Pkg", 1)


# sdist layout and PKG-INFO
@defect("sdist: top folder starting with a dot", "sdist")
def _dot_top(spec: Spec, rng: random.Random) -> None:
    spec.top = "." + spec.top


@defect("sdist: names starting with ./", "sdist")
def _dotslash(spec: Spec, rng: random.Random) -> None:
    spec.top = "./" + spec.top


@defect("sdist: PKG-INFO is a symlink", "sdist")
def _pkginfo_symlink(spec: Spec, rng: random.Random) -> None:
    spec.entries.append(Entry("meta/PKG-INFO", render_metadata(spec)))
    spec.entries.append(Entry("PKG-INFO", kind="symlink", link="meta/PKG-INFO"))
    spec.metadata_name = ""


@defect("sdist: PKG-INFO is a hard link", "sdist")
def _pkginfo_hardlink(spec: Spec, rng: random.Random) -> None:
    spec.entries.append(Entry("meta/PKG-INFO", render_metadata(spec)))
    spec.entries.append(Entry("PKG-INFO", kind="hardlink", link=f"{spec.top}/meta/PKG-INFO"))
    spec.metadata_name = ""


@defect("sdist: PKG-INFO is a folder", "sdist")
def _pkginfo_dir(spec: Spec, rng: random.Random) -> None:
    spec.entries.append(Entry("PKG-INFO", kind="dir"))
    spec.metadata_name = "PKG-INFO/PKG-INFO"


@defect("sdist: no PKG-INFO", "sdist")
def _no_pkginfo(spec: Spec, rng: random.Random) -> None:
    spec.metadata_name = ""


@defect("sdist: second top folder", "sdist")
def _two_tops(spec: Spec, rng: random.Random) -> None:
    spec.entries.append(Entry("~other/x.txt", b"x"))


@defect("sdist: link leaving the folder", "sdist")
def _escaping_link(spec: Spec, rng: random.Random) -> None:
    spec.entries.append(Entry("etc", kind="symlink", link="../../../etc"))
    spec.toolkit_refuses = True  # PyPI and twine take it; unpacking it writes outside the folder (Z102)


@defect("sdist: an absolute member", "sdist")
def _absolute(spec: Spec, rng: random.Random) -> None:
    spec.entries.append(Entry("/tmp/x.txt", b"x"))


@defect("sdist: a member listed twice", "sdist")
def _tar_duplicate(spec: Spec, rng: random.Random) -> None:
    spec.entries.append(Entry("pyproject.toml", b"[project]\nname = 'other'\n"))


@defect("sdist: no pyproject.toml", "sdist")
def _no_pyproject(spec: Spec, rng: random.Random) -> None:
    spec.entries = [e for e in spec.entries if e.name != "pyproject.toml"]


@defect("sdist: filename not normalised", "sdist")
def _sdist_name(spec: Spec, rng: random.Random) -> None:
    spec.filename = rng.choice(["Demo_Pkg-1.0.tar.gz", "demo-pkg-1.0.tar.gz", "demo_pkg-1.0.0.tar.gz"])


@defect("gzip: bytes after the stream", "sdist")
def _trailing(spec: Spec, rng: random.Random) -> None:
    spec.after = lambda data: data + b"trailing garbage"
    spec.toolkit_refuses = True  # GNU tar and gzip refuse it; PyPI stops at the tar's end marker


@defect("gzip: bad CRC", "sdist")
def _crc(spec: Spec, rng: random.Random) -> None:
    spec.after = lambda data: data[:-8] + struct.pack("<I", struct.unpack("<I", data[-8:-4])[0] ^ 1) + data[-4:]
    spec.toolkit_refuses = True  # as above


@defect("gzip: the tar is bzip2-compressed", "sdist")
def _bz2(spec: Spec, rng: random.Random) -> None:
    spec.compress = "bz2"


def generate(seed: int, count: int) -> list[Spec]:
    """`count` specs, half wheels and half sdists, each with one or two defects (a few with none)."""
    rng = random.Random(seed)
    specs = []
    for i in range(count):
        spec = base("wheel" if i % 2 == 0 else "sdist")
        pool = sorted(n for n, (applies, _) in DEFECTS.items() if applies in ("any", spec.kind))
        names = rng.sample(pool, rng.choice([0, 1, 1, 2, 2, 2]) if i >= 2 else 0)
        if spec.kind == "wheel" and i >= 2 and rng.random() < 0.4:  # what installers parse, drawn more often
            names = [*names, *{rng.choice(defects_install.GENERATED)} - set(names)]
        for name in names:
            spec.defects.append(name)  # before the change, which may add its details
            DEFECTS[name][1](spec, rng)
        specs.append(spec)
    return specs


import defects_install  # noqa: E402 - registers what installers parse (entry points, RECORD rows, scripts, WHEEL)

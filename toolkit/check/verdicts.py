"""Remembered verdicts: the findings of a file kept in the cache folder under its sha256, its name and the
version of the rule set, so that the same bytes are judged once (a re-run, `toolkit check` then `publish`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path

from toolkit.check.report import Finding

_FOLDER = "check-verdicts"
REMEMBER_MAX = 256 << 20  # bytes: larger files are judged each time
_FIELDS = ("code", "level", "refused_by", "message", "hint")
# What a verdict depends on besides toolkit's own code: the libraries the rules ask.
_JUDGES = ("packaging", "readme-renderer", "docutils", "installer", "distlib", "abi3info", "auditwheel",
           "trove-classifiers", "email-validator", "rfc3986", "pyelftools", "macholib", "pefile", "cmarkgfm", "nh3")


@functools.cache
def ruleset_version() -> str:
    """A digest of every toolkit source file and of the versions of the libraries the rules use: any change to
    either gives new verdicts. Hashing the sources (about 0.5 MB) costs a millisecond or two."""
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for source in sorted(root.rglob("*.py")):
        digest.update(str(source.relative_to(root)).encode() + b"\0" + source.read_bytes() + b"\0")
    for name in _JUDGES:
        try:
            digest.update(f"{name}={version(name)}\0".encode())
        except PackageNotFoundError:
            digest.update(f"{name}=-\0".encode())
    return digest.hexdigest()[:20]


def file_digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest() if hasattr(hashlib, "file_digest") else _digest(f)


def _digest(f: object) -> str:  # Python 3.10 has no hashlib.file_digest
    digest = hashlib.sha256()
    while chunk := f.read(1 << 20):  # type: ignore[attr-defined]
        digest.update(chunk)
    return digest.hexdigest()


def _entry(sha256: str, filename: str) -> Path:
    from toolkit._fs import writable_cache_dir

    name = hashlib.sha256(filename.encode()).hexdigest()[:16]
    return writable_cache_dir()[0] / _FOLDER / ruleset_version() / f"{sha256}-{name}.json"


def recall(sha256: str, filename: str) -> list[Finding] | None:
    """The findings judged before for these bytes under this name; None when there are none (or unreadable)."""
    try:
        doc = json.loads(_entry(sha256, filename).read_text(encoding="utf-8"))
        return [Finding(*(item[k] for k in _FIELDS)) for item in doc["findings"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember(sha256: str, filename: str, findings: list[Finding]) -> None:
    """Keep the verdict; a cache that cannot be written is skipped silently (the verdict was still given)."""
    target = _entry(sha256, filename)
    doc = {"file": filename, "sha256": sha256, "findings": [{k: getattr(f, k) for k in _FIELDS} for f in findings]}
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, staging = tempfile.mkstemp(dir=target.parent, prefix=".verdict-")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(doc, out)
        os.replace(staging, target)  # atomic: two workers judging the same bytes write the same verdict
    except OSError:
        return

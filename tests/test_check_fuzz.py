"""Hostile input never crashes the check: damaged copies of real archives give findings, not tracebacks."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from distfactory import make_sdist, make_wheel

from toolkit.check import INTERNAL, check_file

VARIANTS = 150


def _damaged(data: bytes, rng: random.Random) -> bytes:
    """One of: flipped bytes, a cut, an insertion, or a block overwritten with a copy of another."""
    buf = bytearray(data)
    kind = rng.randrange(4)
    if kind == 0:
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif kind == 1:
        del buf[rng.randrange(len(buf)):]
    elif kind == 2:
        at = rng.randrange(len(buf))
        buf[at:at] = rng.randbytes(rng.randint(1, 64))
    else:
        size = rng.randint(4, 64)
        src, dst = rng.randrange(len(buf) - size), rng.randrange(len(buf) - size)
        buf[dst:dst + size] = buf[src:src + size]
    return bytes(buf)


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_damaged_archives_give_findings_never_a_crash(kind: str, tmp_path: Path) -> None:
    files = {"demo_pkg/__init__.py": b"x = 1\n" * 50, "demo_pkg/data.txt": bytes(range(256)) * 40}
    good = make_wheel(tmp_path, files=files) if kind == "wheel" else make_sdist(tmp_path, files={
        "pyproject.toml": b"[project]\nname='demo-pkg'\n", **files})
    data = good.read_bytes()
    assert check_file(good).errors == []
    rng = random.Random(20261125)
    noticed = 0
    for i in range(VARIANTS):
        bad = tmp_path / "bad" / str(i) / good.name
        bad.parent.mkdir(parents=True)
        bad.write_bytes(_damaged(data, rng))
        report = check_file(bad)  # must not raise
        crashed = [f.message for f in report.findings if f.code == INTERNAL]
        assert crashed == [], f"variant {i}: {crashed}"
        noticed += bool(report.errors)
    # Most damage breaks a CRC, a header or the structure: the check must notice it.
    assert noticed > VARIANTS * 0.6, f"only {noticed} of {VARIANTS} damaged files gave an error"

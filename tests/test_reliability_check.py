"""check on large and forged files, through the real CLI: what a file is comes from its first bytes,
every read is bounded by what the format allows. The limits (400 MB, 30 s) are ones a correct
program meets many times over (it takes about a second and 30 MB), not benchmarks."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from projects import toolkit_env

MEMORY_LIMIT = 400 << 20
TIME_LIMIT = 30.0

# Runs `toolkit check` as its only child and prints the child's peak memory and wall time.
_MEASURE = """
import json, resource, subprocess, sys, time
start = time.monotonic()
proc = subprocess.run([sys.executable, "-m", "toolkit", "check", *sys.argv[1:]], capture_output=True, text=True)
seconds = time.monotonic() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # Linux: KiB
print(json.dumps({"code": proc.returncode, "out": proc.stdout, "err": proc.stderr, "peak": peak, "seconds": seconds}))
"""


def measure(*paths: str | Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", _MEASURE, *map(str, paths)], env=toolkit_env(),
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(proc.stdout)


def sparse(path: Path, size: int, tail: bytes = b"") -> Path:
    with open(path, "wb") as f:
        f.truncate(size)
        f.seek(size)
        f.write(tail)
    return path


def forged_zip64_end(directory_size: int) -> bytes:
    """ZIP64 end record, locator and end record declaring `directory_size` bytes of central
    directory from offset 0: the whole file before them."""
    eocd64 = b"PK\x06\x06" + struct.pack("<QHHIIQQQQ", 44, 45, 45, 0, 0, 10**6, 10**6, directory_size, 0)
    locator = b"PK\x06\x07" + struct.pack("<IQI", 0, directory_size, 1)
    eocd = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return eocd64 + locator + eocd


@pytest.mark.skipif(sys.platform != "linux", reason="sparse files and ru_maxrss in KiB")
@pytest.mark.parametrize("name", ["demo_pkg-1.0-py3-none-any.whl", "demo_pkg-1.0.tar.gz"])
def test_a_3_gb_file_of_zeros_is_judged_from_its_first_bytes(tmp_path: Path, name: str) -> None:
    path = sparse(tmp_path / name, 3 << 30)
    result = measure("-v", path)
    assert result["code"] == 1 and "Traceback" not in result["err"], result
    assert f"checking 1 file(s) ({3 << 30})" in result["err"]  # progress counts a large file's bytes
    assert ("Z002" if name.endswith(".whl") else "Z006") in result["out"]
    assert result["peak"] < MEMORY_LIMIT and result["seconds"] < TIME_LIMIT, result


@pytest.mark.skipif(sys.platform != "linux", reason="sparse files and ru_maxrss in KiB")
def test_a_zip64_end_record_declaring_the_whole_file_as_directory_is_not_read(tmp_path: Path) -> None:
    size = 1 << 30
    path = sparse(tmp_path / "demo_pkg-1.0-py3-none-any.whl", size, forged_zip64_end(size))
    result = measure(path)
    assert result["code"] == 1 and "Traceback" not in result["err"], result
    assert "Z002" in result["out"] and f"central directory of {size:,} bytes" in result["out"], result["out"]
    assert result["peak"] < MEMORY_LIMIT and result["seconds"] < TIME_LIMIT, result


def test_a_real_wheel_is_still_read_after_the_bounds(tmp_path: Path) -> None:
    from distfactory import make_wheel

    wheel = make_wheel(tmp_path, files={"demo_pkg/__init__.py": b"x = 1\n", "demo_pkg/data.bin": os.urandom(1 << 20)})
    result = measure(wheel)
    assert result["code"] == 0 and "PASSED" in result["out"], result

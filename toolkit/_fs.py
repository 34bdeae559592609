"""Files: atomic writes, staging folders, hashing and the cache folder.

Every stage writes its results through this module, so that a file appears in
an output folder only when it is complete.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

STAGING_PREFIX = ".toolkit-tmp-"
_CHUNK = 1 << 20


def sha256_file(path: Path) -> tuple[str, int]:
    """The sha256 hex digest and the size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def read_regular(path: Path, max_bytes: int = 64 << 20) -> bytes:
    """The bytes of a regular file; a FIFO, a device or a folder is an OSError, never a hang.

    Opened non-blocking so that a FIFO in the place of pyproject.toml or a manifest does not
    wait for a writer; `max_bytes` bounds what a configuration file may cost.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if info.st_size > max_bytes:
            raise OSError(errno.EFBIG, f"larger than {max_bytes >> 20} MiB", str(path))
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(max_bytes + 1)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write `data` to `path` through a temporary name in the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=STAGING_PREFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def staging_dir(outdir: Path) -> Iterator[Path]:
    """A hidden folder inside `outdir` where a stage writes before it publishes.

    It lives on the same file system as `outdir`, so `publish_file` is a rename;
    its name starts with a dot, so `dist/*` never matches a half-written file.
    """
    created = not outdir.exists()
    outdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=outdir, prefix=STAGING_PREFIX))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if created:  # a failed stage leaves no trace, not even the empty folder it made
            with contextlib.suppress(OSError):
                outdir.rmdir()
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish_file(staged: Path, outdir: Path) -> Path:
    """Move a complete file from a staging folder into `outdir` (atomic rename)."""
    target = outdir / staged.name
    os.replace(staged, target)
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def cache_dir() -> Path:
    """toolkit's cache folder: TOOLKIT_CACHE_DIR, else the platform's cache home.

    platformdirs knows these three places too; for three paths it is not worth a dependency.
    """
    if env := os.environ.get("TOOLKIT_CACHE_DIR"):
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
        return base / "toolkit" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "toolkit"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "toolkit"

"""Files: atomic writes, staging folders, hashing, locks and the cache folder.

Every stage writes its results through this module, so that a file appears in
an output folder only when it is complete. Staging entries name the process that
made them, so that what a killed run left is swept and a live run's never is; a
cache folder that cannot be written gives way to a private temporary one.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import socket
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

STAGING_PREFIX = ".toolkit-tmp-"
STALE_AGE = 24 * 3600  # a staging entry of unknown owner this old is a crashed run's, whatever host made it
_CHUNK = 1 << 20


def sha256_file(path: Path) -> tuple[str, int]:
    """The sha256 hex digest and the size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with _open_regular(path) as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def read_regular(path: Path, max_bytes: int = 64 << 20) -> bytes:
    """The bytes of a regular file; a FIFO, a device or a folder is an OSError, never a hang.

    Opened non-blocking so that a FIFO in the place of pyproject.toml or a manifest does not
    wait for a writer; `max_bytes` bounds what a configuration file may cost.
    """
    with _open_regular(path) as f:
        if os.fstat(f.fileno()).st_size > max_bytes:
            raise OSError(errno.EFBIG, f"larger than {max_bytes >> 20} MiB", str(path))
        return f.read(max_bytes + 1)


def _open_regular(path: Path) -> Any:
    """`open(path, "rb")` for a regular file only: a FIFO, a device or a folder is an OSError."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def stat_or_none(path: Path) -> os.stat_result | None:
    """os.stat(path), or None when nothing is there; a path behind a folder that cannot be entered
    is one ConfigError naming that folder (Path.exists() raises PermissionError there)."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except PermissionError:
        from toolkit.errors import ConfigError

        blocker = next((p for p in reversed(path.absolute().parents) if not os.access(p, os.X_OK)), path.parent)
        raise ConfigError(f"{path}: cannot be reached: {blocker} cannot be entered (permission denied)",
                          hint="check that folder's permissions, or run as a user who may enter it") from None


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write `data` to `path` through a temporary name in the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_staging_prefix())
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
    sweep_stale(outdir)
    tmp = Path(tempfile.mkdtemp(dir=outdir, prefix=_staging_prefix()))
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


def full_folders(folders: list[Path], free_below: int = 1 << 20) -> list[str]:
    """Which of `folders` are on a file system with (nearly) no space left, each named once."""
    full: list[str] = []
    for folder in folders:
        with contextlib.suppress(OSError, AttributeError):  # AttributeError: no statvfs (Windows)
            vfs = os.statvfs(folder)
            if vfs.f_bavail * vfs.f_frsize < free_below and str(folder) not in full:
                full.append(str(folder))
    return full


def _host() -> str:
    """This host and PID namespace: containers that share a volume (and perhaps a host name) each
    see their own process ids, so a PID is only checked where it means the same process."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return hashlib.sha256(f"{socket.gethostname()}\n{namespace}".encode()).hexdigest()[:8]


def _staging_prefix() -> str:
    """`.toolkit-tmp-PID@HOST-`: whose a staging entry is, so that a later run can tell a crashed
    run's leftovers from a live run's (the host matters where OUTDIR is shared, as on NFS)."""
    return f"{STAGING_PREFIX}{os.getpid()}@{_host()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, as another user's
        return True
    return True


def is_stale(name: str, mtime: float, now: float | None = None) -> bool:
    """Whether a staging entry was left by a run that is over: its process (on this host) is gone,
    or it is older than STALE_AGE. A live run's entry on this host is never stale, whatever its age."""
    owner = name.removeprefix(STAGING_PREFIX).partition("-")[0]
    pid, _, host = owner.partition("@")
    if host == _host() and pid.isdigit():
        return not _alive(int(pid))
    return (now if now is not None else time.time()) - mtime > STALE_AGE


def sweep_stale(outdir: Path) -> list[str]:
    """Remove the staging folders and files that crashed runs (SIGKILL, power loss) left in `outdir`."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(outdir):
            if not entry.name.startswith(STAGING_PREFIX):
                continue
            try:
                if not is_stale(entry.name, entry.stat(follow_symlinks=False).st_mtime):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
            except OSError:  # another run swept it first, or it cannot be removed: not ours to fail on
                continue
            removed.append(entry.name)
    return removed


def publish_file(staged: Path, outdir: Path) -> Path:
    """Move a complete file from a staging folder into `outdir` (atomic rename)."""
    target = outdir / staged.name
    os.replace(staged, target)
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def path_lock(kind: str, path: Path) -> Any:
    """A file lock for one path (a manifest, a source tree), kept in the temporary folder: a lock file
    beside the path would be one more file in dist/ or in the project."""
    from filelock import FileLock

    locks = Path(tempfile.gettempdir()) / "toolkit-locks"
    locks.mkdir(mode=0o1777, exist_ok=True)
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:24]
    return FileLock(str(locks / f"{kind}-{key}.lock"), mode=0o666)


@contextlib.contextmanager
def waiting_lock(kind: str, path: Path, waiting: Callable[[], AbstractContextManager[Any]]) -> Iterator[None]:
    """Hold path_lock(kind, path) for the block; while another process holds it, wait inside `waiting()` (the
    reporter's step that says so), so a second run neither collides with the first nor hangs without a word."""
    from filelock import Timeout

    lock = path_lock(kind, path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        with waiting():
            lock.acquire()
    try:
        yield
    finally:
        lock.release()


_writable: dict[Path, tuple[Path, str | None]] = {}


def writable_cache_dir() -> tuple[Path, str | None]:
    """The cache folder to write to, and a warning when it is not `cache_dir()`.

    A cache that is full, read-only or under an unwritable HOME (a CI container run with --user)
    must not stop a build: this run then uses a folder of its own in the temporary folder. The
    choice is made once per process, so that the log and the environments agree.
    """
    wanted = cache_dir()
    if wanted not in _writable:
        _writable[wanted] = _choose_cache(wanted)
    return _writable[wanted]


def _choose_cache(wanted: Path) -> tuple[Path, str | None]:
    reason = _unwritable(wanted)
    if reason is None:
        return wanted, None
    fallback = Path(tempfile.gettempdir()) / f"toolkit-cache-{_uid()}"
    if _unwritable(fallback, private=True) is not None:
        fallback = Path(tempfile.mkdtemp(prefix="toolkit-cache-"))
    return fallback, f"the cache folder {wanted} cannot be written ({reason}): using {fallback} for this run"


def _unwritable(folder: Path, private: bool = False) -> str | None:
    """Why files cannot be written in `folder` (made if missing), or None. `private`: it must also be
    a real folder of this user's (not a link, not another user's), since it lives in /tmp."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700 if private else 0o777)
        if private:
            info = os.lstat(folder)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != _uid() or info.st_mode & 0o022:
                return "not a private folder of this user's"
        with tempfile.NamedTemporaryFile(dir=folder, prefix=_staging_prefix()) as probe:
            probe.write(b"x" * 4096)  # a full disk refuses data, not always the empty file
            probe.flush()
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _uid() -> int:
    return os.getuid() if hasattr(os, "getuid") else 0


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

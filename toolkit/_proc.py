"""Subprocesses: every command a stage runs goes through here, its output
captured into a kept log (and echoed with -v), its environment filtered."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit import _fs, _text

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

# What may steer a backend or an installer from outside without the user asking.
LEAKY_PREFIXES = ("PIP_", "UV_")
LEAKY_NAMES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__")
# The credentials publish and attest read: a backend, an installer, a repair tool (third-party code, all)
# never sees them, whatever --pass-env says. Prefixes: every setting of publish and release (a token, a
# password, an index URL with userinfo) and of twine; suffix: GitLab's `id_tokens:` variables, named
# <AUDIENCE>_ID_TOKEN, which is where `id` looks for them (PYPI_ID_TOKEN, SIGSTORE_ID_TOKEN).
SECRET_NAMES = frozenset({"TOOLKIT_PASSWORD", "TOOLKIT_USERNAME", "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                          "ACTIONS_ID_TOKEN_REQUEST_URL", "CI_JOB_JWT", "CI_JOB_JWT_V1", "CI_JOB_JWT_V2"})
SECRET_PREFIXES = ("TOOLKIT_PUBLISH_", "TOOLKIT_RELEASE_", "TWINE_")
SECRET_SUFFIXES = ("_ID_TOKEN",)
_KEEP_LOGS = 30
TAIL_LINES = 15  # how much of a failed command's own output an error shows
_TRACEBACK = "Traceback (most recent call last):"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

Command = list[str | Path]


def clean_environ(
    environ: Mapping[str, str] | None = None, pass_env: Iterable[str] = ()
) -> dict[str, str]:
    """A copy of the environment without the variables that leak into builds.

    Names in `pass_env` (exact, or a prefix ending in `*`) are kept on purpose.
    """
    environ = os.environ if environ is None else environ
    keep = [p for p in pass_env]

    def kept(name: str) -> bool:
        return any(name == p or (p.endswith("*") and name.startswith(p[:-1])) for p in keep)

    return without_secrets({
        k: v
        for k, v in environ.items()
        if kept(k) or not (k in LEAKY_NAMES or k.startswith(LEAKY_PREFIXES))
    })


def is_secret(name: str) -> bool:
    """Whether an environment variable holds a credential of publish or attest (see SECRET_NAMES)."""
    upper = name.upper()  # Windows' names are case-insensitive
    return upper in SECRET_NAMES or upper.startswith(SECRET_PREFIXES) or upper.endswith(SECRET_SUFFIXES)


def without_secrets(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of the environment (default: this process's) without a credential: the environment of
    every command toolkit starts."""
    environ = os.environ if environ is None else environ
    return {k: v for k, v in environ.items() if not is_secret(k)}


def output_tail(output: str, max_lines: int = TAIL_LINES) -> list[str]:
    """The end of a command's output that says why it failed: its last `max_lines` lines,
    from the last traceback's start when one begins among them.

    Colours are removed and credentials in URLs (an index URL with a token) masked, since
    these lines are printed under the error.
    """
    lines = [_text.redact_urls(_ANSI.sub("", line)).rstrip() for line in output.splitlines()]
    lines = [line for line in lines if line.strip()][-max_lines:]
    starts = [i for i, line in enumerate(lines) if line.lstrip().startswith(_TRACEBACK)]
    return lines[starts[-1]:] if starts else lines


class ProcessFailed(Exception):
    def __init__(self, cmd: Sequence[str | Path], returncode: int, log: Path, tail: Sequence[str] = ()) -> None:
        super().__init__(f"{Path(cmd[0]).name} exited with {returncode}")
        self.cmd = [str(c) for c in cmd]
        self.returncode = returncode
        self.log = log
        self.tail = list(tail)  # the last lines of the command's own output (output_tail)


@dataclass
class Logger:
    """One kept log per run; every subprocess's output is appended to it."""

    path: Path
    echo: bool = False
    _started: float = field(default_factory=time.monotonic)

    @classmethod
    def create(cls, name: str, echo: bool = False) -> Logger:
        """A new log under the cache folder (a temporary one when the cache cannot be written)."""
        logs = _fs.writable_cache_dir()[0] / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        _prune(logs)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return cls(logs / f"{stamp}-{os.getpid()}-{name}.log", echo)

    def mentions(self, text: str, tail: int = 64 << 10) -> bool:
        """Whether the last `tail` bytes of the log hold `text` (what a tool said before it failed)."""
        try:
            with open(self.path, "rb") as f:
                f.seek(max(0, os.fstat(f.fileno()).st_size - tail))
                return text.encode() in f.read()
        except OSError:
            return False

    def note(self, text: str) -> None:
        text = _text.redact_urls(text)  # a command line may hold an index URL with a token
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"[toolkit +{time.monotonic() - self._started:.2f}s] {text}\n")

    def run(
        self,
        cmd: Sequence[str | Path],
        *,
        cwd: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        umask: int = -1,
    ) -> None:
        """Run `cmd`, its stdout and stderr appended to the log; raise ProcessFailed.

        `umask` (POSIX) sets the child's umask: builds run with 022 so that file modes
        in the archives they write do not depend on the user's umask.
        """
        self.note("$ " + " ".join(str(c) for c in cmd) + (f"  (in {cwd})" if cwd else ""))
        # The output reaches the kept log (and the screen) with URL credentials masked: without -v it goes to a
        # file first (not a pipe, which a daemon the command leaves behind would hold open), then to the log.
        with open(self.path, "ab") as log, tempfile.TemporaryFile(dir=self.path.parent) as raw:
            start = log.tell()
            with _tracked(subprocess.Popen(
                [str(c) for c in cmd],
                cwd=cwd,
                env=without_secrets(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if self.echo else raw,
                stderr=subprocess.STDOUT,
                umask=umask if os.name == "posix" else -1,
                **_GROUP,
            )) as proc:
                if self.echo:
                    assert proc.stdout is not None
                    for line in map(_masked, proc.stdout):
                        log.write(line)
                        sys.stderr.buffer.write(line)
                        sys.stderr.flush()
                returncode = proc.wait()
            if not self.echo:
                raw.seek(0)
                start = log.seek(0, os.SEEK_END)
                log.writelines(map(_masked, raw))
        if returncode:
            raise ProcessFailed(cmd, returncode, self.path, self._output_since(start))

    def _output_since(self, offset: int) -> list[str]:
        try:
            with open(self.path, "rb") as log:
                log.seek(offset)
                return output_tail(log.read().decode("utf-8", errors="replace"))
        except OSError:
            return []

    def capture(self, cmd: Sequence[str | Path], *, timeout: float = 60) -> tuple[int, str]:
        """Run a short command; its exit status (127: it cannot start, -1: no answer in `timeout`
        seconds) and its output, both noted in the log (as a probe, not a `$` command: it changes nothing)."""
        self.note("probe: " + " ".join(str(c) if "\n" not in str(c) else "<script>" for c in cmd))
        try:
            popen = subprocess.Popen([str(c) for c in cmd], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=without_secrets(), **_GROUP)
        except OSError as exc:
            self.note(f"cannot start it: {exc}")
            return 127, exc.strerror or str(exc)
        with _tracked(popen) as proc:
            try:
                out, _ = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                _end(proc, grace=1.0)
                return -1, f"no answer in {timeout:.0f} s"
        text = out.decode("utf-8", "replace").strip()
        self.note(f"exit {proc.returncode}: {text}" if text else f"exit {proc.returncode}")
        return proc.returncode, text


def _masked(line: bytes) -> bytes:
    return _text.redact_urls(line.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")


def _prune(logs: Path) -> None:
    """Keep the newest _KEEP_LOGS logs. Other runs prune the same folder at once: a log that is
    gone before it is looked at is simply gone."""
    dated = []
    for path in logs.glob("*.log"):
        try:
            dated.append((path.stat().st_mtime, path))
        except OSError:
            continue
    for _, stale in sorted(dated)[:-_KEEP_LOGS]:
        try:
            stale.unlink(missing_ok=True)
        except OSError:
            continue


# -- the processes a run started, so that a signal to toolkit ends them too -----------------------------

# Each command runs in a process group of its own (POSIX), so that stop_children() ends it with
# everything it started (a backend's compiler, uv's workers) and nothing else.
_GROUP: dict[str, Any] = {"process_group": 0} if os.name == "posix" else {}
_children: set[subprocess.Popen[bytes]] = set()
_children_lock = threading.Lock()


@contextlib.contextmanager
def _tracked(proc: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    with _children_lock:
        _children.add(proc)
    try:
        yield proc
    except BaseException:
        _end(proc, grace=STOP_GRACE)  # interrupted while it ran: it must not outlive the run
        raise
    finally:
        with _children_lock:
            _children.discard(proc)


STOP_GRACE = 5.0  # seconds a process gets to clean up after SIGINT before SIGKILL


def interrupt_children(grace: float = STOP_GRACE) -> None:
    """Ask every running command and its process group to end (SIGINT: Python tools, pip and uv clean
    up their temporary files on it), and SIGKILL what is left after `grace` seconds.

    Safe in a signal handler: it never waits (the interrupted thread may hold a Popen's wait lock);
    the threads that run the commands see them end and unwind.
    """
    with _children_lock:
        procs = list(_children)
    for proc in procs:
        _signal_group(proc, signal.SIGINT)
    if procs:
        timer = threading.Timer(grace, _kill_all, args=(procs,))
        timer.daemon = True
        timer.start()


def _kill_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        # A leader already reaped is left alone: its id may be another process's by now (the thread
        # that reaped it has already sent its group SIGKILL, in _end).
        if proc.returncode is None:
            _signal_group(proc, getattr(signal, "SIGKILL", signal.SIGTERM))


def stop_children(grace: float = STOP_GRACE) -> None:
    """End every command still running and wait for it (at the very end of an interrupted run)."""
    with _children_lock:
        procs = list(_children)
    for proc in procs:
        _end(proc, grace)


def _end(proc: subprocess.Popen[bytes], grace: float, first: int | None = signal.SIGINT) -> None:
    if first is not None and proc.poll() is None:
        _signal_group(proc, first)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    _signal_group(proc, getattr(signal, "SIGKILL", signal.SIGTERM))  # the group may outlive its leader
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace + 1)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(OSError):
        if _GROUP:
            os.killpg(proc.pid, sig)
        else:  # pragma: no cover - Windows: no process groups here
            proc.send_signal(sig)


def output(cmd: Sequence[str | Path], *, cwd: Path | str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a short query (a tool's `--print-...`) and return what it printed; no log, nothing to keep."""
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL, env=without_secrets())


PARALLEL_MIN_BYTES = 4 << 20  # below this, worker processes cost more than the checks they share


@contextlib.contextmanager
def process_pool(jobs: int) -> Iterator[ProcessPoolExecutor]:
    """The process pool of check and publish: its workers end at once when the run is interrupted (SIGTERM,
    Ctrl-C); leaving the pool normally would wait for every running file, minutes on large ones.

    multiprocessing is imported here, not with the module: most runs check one or two small files
    in-process, and its import is a tenth of their fixed cost."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    before = set(multiprocessing.active_children())
    pool: ProcessPoolExecutor | None = None
    try:
        pool = _forked_pool(ProcessPoolExecutor, jobs)
        yield pool
    except BaseException:
        # The order holds off two races in CPython's pool (seen with 3.11), each a traceback at exit:
        # - shutdown first, while the workers still run: its wake-up makes the manager thread drop the futures
        #   the caller cancelled (publish cancels those it will not wait for); one still on its books when it
        #   finds a worker dead gets set_exception and raises InvalidStateError in that thread;
        # - then the workers die and the manager thread ends; wait for it: left running, it closes its wake-up
        #   pipe while the interpreter's exit hook writes to that pipe (OSError: Bad file descriptor).
        # The thread is a private attribute: the pool offers no other handle on it.
        manager = getattr(pool, "_executor_manager_thread", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        ours = [p for p in multiprocessing.active_children() if p not in before]
        for proc in ours:  # SIGKILL: they only read, and a forked worker carries toolkit's SIGTERM handler
            proc.kill()
        for proc in ours:
            proc.join(5)
        if manager is not None:
            manager.join(10)
        raise
    pool.shutdown(wait=True)


_STOPS = {signal.SIGINT, signal.SIGTERM}


def _forked_pool(cls: type[ProcessPoolExecutor], jobs: int) -> ProcessPoolExecutor:
    """The pool with its workers started, SIGINT and SIGTERM held meanwhile: one that arrived during os.fork's
    hooks in this process would be printed as "Exception ignored" and lost, and the run would go on."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no fork
        return cls(max_workers=jobs)
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
    try:
        pool = cls(max_workers=jobs, initializer=signal.pthread_sigmask, initargs=(signal.SIG_SETMASK, held))
        pool.submit(int).result()  # a first task starts the workers (every one, with the fork start method)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)  # a signal that came meanwhile is raised here
    return pool


def find_uv() -> str | None:
    """The uv binary: the one the `uv` package ships (a dependency), else one on PATH."""
    try:
        from uv import find_uv_bin
    except ImportError:
        return shutil.which("uv")
    try:
        return find_uv_bin()
    except FileNotFoundError:
        return shutil.which("uv")

"""Subprocesses: every command a stage runs goes through here, its output
captured into a kept log (and echoed with -v), its environment filtered."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from toolkit import _fs

# What may steer a backend or an installer from outside without the user asking.
LEAKY_PREFIXES = ("PIP_", "UV_")
LEAKY_NAMES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__")
_KEEP_LOGS = 30
TAIL_LINES = 15  # how much of a failed command's own output an error shows
_TRACEBACK = "Traceback (most recent call last):"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_URL_CREDENTIALS = re.compile(r"(://)[^/\s@]+@")

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

    return {
        k: v
        for k, v in environ.items()
        if kept(k) or not (k in LEAKY_NAMES or k.startswith(LEAKY_PREFIXES))
    }


def output_tail(output: str, max_lines: int = TAIL_LINES) -> list[str]:
    """The end of a command's output that says why it failed: its last `max_lines` lines,
    from the last traceback's start when one begins among them.

    Colours are removed and credentials in URLs (an index URL with a token) masked, since
    these lines are printed under the error.
    """
    lines = [_URL_CREDENTIALS.sub(r"\1***@", _ANSI.sub("", line)).rstrip() for line in output.splitlines()]
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
        logs = _fs.cache_dir() / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        old = sorted(logs.glob("*.log"), key=lambda p: p.stat().st_mtime)
        for stale in old[:-_KEEP_LOGS]:
            stale.unlink(missing_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return cls(logs / f"{stamp}-{os.getpid()}-{name}.log", echo)

    def note(self, text: str) -> None:
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
        with open(self.path, "ab") as log:
            start = log.tell()
            proc = subprocess.Popen(
                [str(c) for c in cmd],
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if self.echo else log,
                stderr=subprocess.STDOUT,
                umask=umask if os.name == "posix" else -1,
            )
            if self.echo:
                assert proc.stdout is not None
                for line in proc.stdout:
                    log.write(line)
                    sys.stderr.buffer.write(line)
                    sys.stderr.flush()
            returncode = proc.wait()
        if returncode:
            raise ProcessFailed(cmd, returncode, self.path, self._output_since(start))

    def _output_since(self, offset: int) -> list[str]:
        try:
            with open(self.path, "rb") as log:
                log.seek(offset)
                return output_tail(log.read().decode("utf-8", errors="replace"))
        except OSError:
            return []


def output(cmd: Sequence[str | Path], *, cwd: Path | str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a short query (a tool's `--print-...`) and return what it printed; no log, nothing to keep."""
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL)

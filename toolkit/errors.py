"""The exception hierarchy shared by every stage.

A ToolkitError is an expected failure: the CLI prints its one-line message and
hint and exits with its code; anything else is a bug and may show a traceback.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from pathlib import Path


class ToolkitError(Exception):
    """An expected failure: one line that says what is wrong, and what to do.

    `detail`: a few lines of a tool's own output that show the cause (the end of a
    backend's traceback, the installer's reason), printed indented under the error.
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, detail: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.detail = list(detail)

    def __str__(self) -> str:
        return self.message


class ConfigError(ToolkitError):
    """Bad configuration or bad input on the command line."""

    exit_code = 2


class BuildError(ToolkitError):
    """A PEP 517 backend failed; names the backend, the hook and the kept log."""

    exit_code = 3

    def __init__(
        self,
        message: str,
        *,
        backend: str | None = None,
        hook: str | None = None,
        log: Path | None = None,
        hint: str | None = None,
        detail: Sequence[str] = (),
    ) -> None:
        where = " ".join(p for p in (f"backend {backend}" if backend else "", f"hook {hook}" if hook else "") if p)
        full = f"{where}: {message}" if where else message
        if log is not None and hint is None:
            hint = f"the backend's output is kept in {log}"
        super().__init__(full, hint=hint, detail=detail)
        self.backend = backend
        self.hook = hook
        self.log = log


class RepairError(ToolkitError):
    """A wheel could not be repaired."""

    exit_code = 4


class PublishError(ToolkitError):
    """An upload failed or was refused by the index."""

    exit_code = 5


class CheckFailed(ToolkitError):
    """`toolkit check` found at least one error (the report says which)."""

    exit_code = 1

    def __init__(self, message: str, *, report: object, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.report = report  # the check stage's Report, for the caller to print


class EnvironmentFailure(ToolkitError):
    """The machine failed the run, not its input: a disk full, a folder that cannot be written.

    Exit 6, apart from 2 (bad input), so that a CI script can tell "retry elsewhere" from "fix it".
    """

    exit_code = 6


class AttestError(ToolkitError):
    """Signing or verifying could not be done: no CI identity to sign with, Sigstore or the index's provenance
    out of reach. Exit 7: apart from 6, since CI settings (the job's id-token permission) are a usual cause."""

    exit_code = 7


NO_SPACE = "No space left on device"  # os.strerror(errno.ENOSPC) on Linux and macOS; how logs say it
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})  # the OS errors that say it

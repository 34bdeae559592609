"""What an index's answer to an upload means, and how long to wait before the next try.

Pure decisions over data (a status, a reason, a body; an attempt number), so that each rule is
tested without a server: the "already exists" answers of each index, what is retried, Retry-After,
the backoff, and what a look at the index says about a file.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["uploaded", "exists", "retry", "redirect", "proxy", "auth", "refused"]


@dataclass(frozen=True)
class ExistsAnswer:
    """One index's way of saying "this file name is taken": a status and words in its reason or body."""

    index: str
    status: int
    words: tuple[str, ...]  # any of these, case-insensitive, in the reason or the body; () = the status alone


# Every index that speaks the legacy upload API refuses a second upload of a file name, each in its own words.
EXISTS_ANSWERS = (
    ExistsAnswer("PyPI, TestPyPI, Google Artifact Registry", 400, ("already exist",)),
    ExistsAnswer("PyPI (a name used before, then deleted)", 400, ("filename has already been used",)),
    ExistsAnswer("pypiserver, devpi", 409, ()),
    ExistsAnswer("devpi (the same bytes again: a no-op)", 200, ("upload of identical file",)),
    ExistsAnswer("Artifactory", 403, ("overwrite artifact", "not enough permissions to overwrite", "already exists")),
    ExistsAnswer("Nexus", 400, ("updating asset", "does not allow updating")),
    ExistsAnswer("GitLab", 400, ("already been taken",)),
)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 507, 520, 521, 522, 523, 524, 529})


def says_exists(status: int, reason: str, body: str) -> bool:
    """Whether an answer is one of the "already exists" answers in EXISTS_ANSWERS."""
    text = f"{reason}\n{body}".lower()
    return any(a.status == status and (not a.words or any(w in text for w in a.words)) for a in EXISTS_ANSWERS)


def verdict(status: int, reason: str, body: str) -> Verdict:
    """The meaning of an index's answer to one upload."""
    if says_exists(status, reason, body):
        return "exists"
    if 200 <= status < 300:
        return "uploaded"
    if status in RETRY_STATUSES or status >= 500:
        return "retry"
    if 300 <= status < 400:
        return "redirect"
    if status == 407:  # Proxy Authentication Required: from the proxy (plain HTTP), not the index
        return "proxy"
    if status in (401, 403):
        return "auth"
    return "refused"


def retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now())


BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0


def backoff(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): exponential, with jitter.

    "Equal jitter": half of the exponential step is kept, the other half drawn at random, so that
    many clients failing together do not come back together, and no wait is near zero.
    """
    step = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
    return step / 2 + rand() * step / 2


Found = Literal["absent", "identical", "different", "unknown"]


def compare(listed: dict[str, str | None], filename: str, sha256: str) -> tuple[Found, str | None]:
    """What the index's listing of a project says about our file: (verdict, the index's sha256).

    The file name is looked up as given, then without regard to case (some indexes list a
    lower-cased name); "unknown" is a listed file without a sha256 to compare.
    """
    theirs = listed.get(filename, ...)
    if theirs is ...:
        lowered = {name.lower(): digest for name, digest in listed.items()}
        theirs = lowered.get(filename.lower(), ...)
    if theirs is ...:
        return "absent", None
    if theirs is None:
        return "unknown", None
    return ("identical" if theirs.lower() == sha256.lower() else "different"), theirs

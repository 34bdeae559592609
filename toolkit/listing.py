"""Naming a few of many: one limit and one wording for every message that lists names or findings."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

FEW = 5  # names shown in one message; the rest are counted
MANY = 20  # findings of one kind for one file; the rest are counted in one more


def few(names: Sequence[str], limit: int = FEW) -> str:
    """'a, b, c, d, e and 3 more'."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def more_line(count: int) -> str:
    return f"... and {count} more like the above"


def capped(items: Iterable[T], last: Callable[[str], T], limit: int = MANY) -> Iterator[T]:
    """At most `limit` items, then `last(more_line(n))` for the n left out: 500 alike are 20 and a count."""
    rest = 0
    for i, item in enumerate(items):
        if i < limit:
            yield item
        else:
            rest += 1
    if rest:
        yield last(more_line(rest))

"""Where every stage says what it is doing: steps, progress on long work, warnings.

Stages take a `Reporter` and never print; the CLI passes a rich one on a terminal
and a plain one otherwise (`-q`, pipes, CI logs), so a library caller gets no
output but warnings. rich is imported only when the rich reporter is made.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Protocol

Advance = Callable[[int], None]  # advance(n): n more units done


class Reporter(Protocol):
    def step(self, text: str) -> contextlib.AbstractContextManager[None]: ...

    def progress(self, text: str, total: int) -> contextlib.AbstractContextManager[Advance]: ...

    def info(self, text: str) -> None: ...

    def warn(self, text: str) -> None: ...


def _ignore(n: int) -> None:
    pass


class PlainReporter:
    """Warnings on stderr; steps and progress unseen (unless `verbose`: one line a step)."""

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose

    @contextlib.contextmanager
    def step(self, text: str) -> Iterator[None]:
        if self.verbose:
            print(f"• {text}", file=sys.stderr)
        yield

    @contextlib.contextmanager
    def progress(self, text: str, total: int) -> Iterator[Advance]:
        with self.step(f"{text} ({total})"):
            yield _ignore

    def info(self, text: str) -> None:
        if self.verbose:
            print(text, file=sys.stderr)

    def warn(self, text: str) -> None:
        print(f"warning: {text}", file=sys.stderr)


class RichReporter:
    """A spinner per step and a bar for long work on a terminal; plain lines elsewhere (stderr)."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False, soft_wrap=True)

    @contextlib.contextmanager
    def step(self, text: str) -> Iterator[None]:
        if not self.console.is_terminal:
            self.console.print(f"• {text}")
            yield
            return
        with self.console.status(text):
            yield
        self.console.print(f"[green]✓[/] {text}")

    @contextlib.contextmanager
    def progress(self, text: str, total: int) -> Iterator[Advance]:
        if not self.console.is_terminal or total < 2:
            with self.step(text):
                yield _ignore
            return
        from rich.progress import Progress

        with Progress(console=self.console, transient=True) as bar:
            task = bar.add_task(text, total=total)
            yield lambda n: bar.advance(task, n)
        self.console.print(f"[green]✓[/] {text}")

    def info(self, text: str) -> None:
        self.console.print(text)

    def warn(self, text: str) -> None:
        self.console.print(f"[yellow]warning:[/] {text}")


def make_reporter(quiet: bool = False, verbose: bool = False) -> Reporter:
    """-q: results only (and warnings); on a terminal, rich; elsewhere (CI logs, pipes) the same
    plain lines rich would print there, without importing rich (a tenth of a warm build). -v: plain lines
    on a terminal too, since the tools' output it echoes would tear a live spinner or bar."""
    if quiet:
        return PlainReporter()
    if verbose or not sys.stderr.isatty():
        return PlainReporter(verbose=True)
    return RichReporter()

"""Several uploads at once (--jobs): worker threads, each with a worker of its own (an uploader on its own
connection), and a reporter whose lines stay whole when the threads share it."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from toolkit.reporter import Advance, Reporter

W = TypeVar("W")
R = TypeVar("R")


class Lanes(Generic[W]):
    """`jobs` threads; each makes its own worker (`make`) on first use and keeps it: an http.client connection
    is never shared between threads. Daemon threads, not concurrent.futures' pool (whose threads are joined
    at exit): on Ctrl-C the process ends at once, as it did with one file at a time, and the uploads on the
    wire end with it (a re-run settles them by looking at the index)."""

    def __init__(self, jobs: int, make: Callable[[], W], close: Callable[[W], None]) -> None:
        self._make, self._close = make, close
        self._tasks: queue.SimpleQueue[tuple[Future[Any], Callable[[W], Any]] | None] = queue.SimpleQueue()
        self._futures: list[Future[Any]] = []
        self._made: list[W] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._serve, name=f"toolkit-upload-{n}", daemon=True)
                         for n in range(jobs)]
        for thread in self._threads:
            thread.start()

    def submit(self, task: Callable[[W], R]) -> Future[R]:
        future: Future[R] = Future()
        self._futures.append(future)
        self._tasks.put((future, task))
        return future

    def _serve(self) -> None:
        worker: W | None = None
        while (item := self._tasks.get()) is not None:
            future, task = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                if worker is None:
                    worker = self._make()
                    with self._lock:
                        self._made.append(worker)
                future.set_result(task(worker))
            except BaseException as exc:  # the caller's future.result() raises it, in the caller's thread
                future.set_exception(exc)

    def close(self, wait: bool = True) -> None:
        """Without `wait` (the run was interrupted): the files not started are dropped, the others left."""
        if not wait:
            for future in self._futures:
                future.cancel()
        for _ in self._threads:
            self._tasks.put(None)
        if wait:
            for thread in self._threads:
                thread.join()
            for worker in self._made:
                self._close(worker)


def _ignore(n: int) -> None:
    pass


class LaneReporter:
    """What the upload threads report through: no live spinner or bar (several at once would tear each other,
    and rich allows one), one line per file as it ends (`done`), warnings whole, one at a time."""

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def step(self, text: str) -> Iterator[None]:
        yield

    @contextlib.contextmanager
    def progress(self, text: str, total: int) -> Iterator[Advance]:
        yield _ignore

    def done(self, line: str) -> None:
        self.info(f"• {line}")

    def info(self, text: str) -> None:
        with self._lock:
            self.inner.info(text)

    def warn(self, text: str) -> None:
        with self._lock:
            self.inner.warn(text)

"""Several uploads at once (--jobs): worker threads, each with a worker of its own (an uploader on its own
connection), and a reporter whose lines stay whole when the threads share it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from toolkit.reporter import Advance, Reporter

W = TypeVar("W")
R = TypeVar("R")


class Lanes(Generic[W]):
    """`jobs` threads; each makes its own worker (`make`) on first use and keeps it: an http.client connection
    is never shared between threads. `close` waits for the files on the wire and drops the ones not started."""

    def __init__(self, jobs: int, make: Callable[[], W], close: Callable[[W], None]) -> None:
        self.pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="toolkit-upload")
        self._make, self._close = make, close
        self._local = threading.local()
        self._made: list[W] = []
        self._lock = threading.Lock()

    def submit(self, task: Callable[[W], R]) -> Future[R]:
        return self.pool.submit(lambda: task(self._worker()))

    def _worker(self) -> W:
        worker: W | None = getattr(self._local, "worker", None)
        if worker is None:
            worker = self._local.worker = self._make()
            with self._lock:
                self._made.append(worker)
        return worker

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
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

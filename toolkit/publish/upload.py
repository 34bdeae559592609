"""The publish stage's policy (`toolkit.publish.publish`): order, checks, uploads, settling unclear answers."""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import BrokenExecutor, Executor, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urljoin

from toolkit import __version__, _text, transport
from toolkit._proc import PARALLEL_MIN_BYTES, process_pool
from toolkit.config import PublishOptions
from toolkit.dist import Dist, expand_inputs
from toolkit.errors import PublishError
from toolkit.gate import UploadGate
from toolkit.publish import answers, index, remote
from toolkit.publish.lanes import LaneReporter, Lanes
from toolkit.publish.prepare import Prepared, prepare
from toolkit.publish.target import Target
from toolkit.reporter import PlainReporter, Reporter

T = TypeVar("T", bound="Path | Dist")
Outcome = Literal["uploaded", "exists", "failed", "dry-run"]


@dataclass(frozen=True)
class UploadResult:
    path: Path
    outcome: Outcome
    reason: str = ""
    sha256: str = ""
    hint: str = ""  # what to do about a failure that stopped the run
    rerun: bool = False  # a failure the same command, run again, may get past (the network, the index's state)

    @property
    def ok(self) -> bool:
        return self.outcome != "failed"

    def line(self) -> str:
        text = {"uploaded": "uploaded", "exists": "already there, identical",
                "dry-run": f"would upload ({self.reason})" if self.reason else "would upload",
                "failed": f"failed: {self.reason}"}[self.outcome]
        name = os.fsencode(self.path.name).decode("utf-8", "replace")  # a name that is not UTF-8 shows as such
        return f"{name}: {text}"

    def to_json(self) -> dict[str, str]:
        return {"file": str(self.path), "outcome": self.outcome, "reason": self.reason, "sha256": self.sha256}


class _Stop(Exception):
    """A failure that every following file would meet too (TLS, credentials, a redirect, no connection)."""

    def __init__(self, reason: str, hint: str | None = None, rerun: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint
        self.rerun = rerun


def order(items: Sequence[T]) -> list[T]:
    """Wheels first, then sdists, each group in the order given."""
    return sorted(items, key=lambda p: 0 if (p.path if isinstance(p, Dist) else p).name.endswith(".whl") else 1)


def publish(dists: Sequence[Path | Dist], target: Target, options: PublishOptions | None = None, *,
            gate: UploadGate | None, reporter: Reporter | None = None, prechecked: bool = False) -> list[UploadResult]:
    """Upload every file; the results say, file by file, what happened (nothing is skipped in silence).

    `gate` (toolkit.check.gate(options)) checks each file unless --no-check; None when `prechecked`: the
    caller (toolkit release) has just checked every file and refused to go on on any error.
    """
    options = options or PublishOptions()
    reporter = reporter or PlainReporter()
    items = order(expand_inputs(dists))
    paths = [i.path if isinstance(i, Dist) else i for i in items]
    if not options.check and not prechecked:
        reporter.warn("--no-check: the files are uploaded without toolkit check; the index may still refuse them")
    checks = gate if options.check and not prechecked else None
    if options.check and not prechecked and gate is None:
        raise TypeError("publish checks each file: pass gate=toolkit.check.gate(), or PublishOptions(check=False)")
    run = _Run(target, options, reporter)
    # Its own connection: an upload's stays fresh, so a drop on it is never taken for an idle keep-alive's end.
    forecast = remote.Forecast(transport.Transport(_timeouts(options), options.cacert), target, options.timeout * 4,
                               reporter.warn)
    slots: list[UploadResult | Future[UploadResult]] = []
    wheels = sum(p.name.endswith(".whl") for p in paths)  # order() put them first
    try:
        with _prepared(items, checks, options.attestations) as ready:
            for path, future in zip(paths, ready, strict=True):
                prep = _result(future, path)
                if not path.name.endswith(".whl"):  # sdists are sent once every wheel has ended
                    wait([s for s in slots[:wheels] if isinstance(s, Future)])
                if run.stopped is not None:
                    slots.append(run.not_tried(prep))
                elif prep.problem is not None:
                    slots.append(UploadResult(path, "failed", prep.problem, prep.sha256))
                elif (seen := forecast.judge(path, prep.sha256, prep.size))[0] == "refused":  # known before sending
                    slots.append(UploadResult(path, "failed", seen[1], prep.sha256, seen[2]))
                else:
                    slots.append(run.lanes.submit(functools.partial(_send_with, run, prep)))
            results = [s.result() if isinstance(s, Future) else s for s in slots]
    except BaseException:
        run.lanes.close(wait=False)  # Ctrl-C, SIGTERM: no file is started, the ones on the wire are not awaited
        raise
    finally:
        forecast.http.close()
    run.lanes.close()
    return results


DEFAULT_LANES = 4


def lanes_for(options: PublishOptions, upload_url: str) -> int:
    """--jobs, else 4 lanes; 1 to an index on this machine. A local index (pypiserver, devpi) spends this machine's
    cores on each upload, and concurrent uploads only contend there: 343 files to pypiserver on 127.0.0.1 took
    10.57 s with 4 lanes, 8.58 s with 1 (benchmarks/publish.py); a remote index's round trips are what lanes hide."""
    if options.jobs is not None:
        return options.jobs
    return 1 if transport.is_loopback(upload_url) else DEFAULT_LANES


class _Run:
    """The uploads of one publish: --jobs lanes, each an _Uploader on its own connection; the first _Stop
    (credentials refused, no connection...) keeps every lane from starting another file."""

    def __init__(self, target: Target, options: PublishOptions, reporter: Reporter) -> None:
        self.options = options
        jobs = lanes_for(options, target.upload_url)
        self.lanes_reporter = LaneReporter(reporter) if jobs > 1 else None
        shown: Reporter = self.lanes_reporter or reporter
        self.lanes: Lanes[_Uploader] = Lanes(jobs, lambda: _Uploader(target, options, shown), _Uploader.close)
        self.stopped: _Stop | None = None
        self._lock = threading.Lock()

    def not_tried(self, prep: Prepared) -> UploadResult:
        assert self.stopped is not None
        return UploadResult(prep.path, "failed", f"not tried: {self.stopped.reason}", prep.sha256,
                            rerun=self.stopped.rerun)

    def send(self, uploader: _Uploader, prep: Prepared) -> UploadResult:
        if self.stopped is not None:
            return self.not_tried(prep)
        try:
            result = uploader.dry_run(prep) if self.options.dry_run else uploader.upload(prep)
        except _Stop as stop:
            with self._lock:
                self.stopped = self.stopped or stop
            result = UploadResult(prep.path, "failed", stop.reason, prep.sha256, stop.hint or "", rerun=stop.rerun)
        if self.lanes_reporter is not None:
            self.lanes_reporter.done(result.line())
        return result


def _timeouts(options: PublishOptions) -> transport.Timeouts:
    return transport.Timeouts(connect=options.timeout, send=options.timeout, response=options.timeout)


@contextmanager
def _prepared(items: list[Path | Dist], checks: UploadGate | None, attestations: bool) -> Iterator[list[Future[Prepared]]]:
    """Each file's preparation, started now in upload order, so that the next is ready when the wire is free.

    A Dist's sha256 (hashed once, by the stage before, and verified against the file) is not computed again.
    Checking is CPU work in Python: several files share worker processes; hashing alone (or a small
    set) runs in one thread, since hashlib and file reads release the GIL while the upload waits on I/O.
    """
    paths = [i.path if isinstance(i, Dist) else i for i in items]
    total = sum(_size(p) for p in paths)
    if checks is not None and len(paths) > 1 and total >= PARALLEL_MIN_BYTES and (os.cpu_count() or 1) > 1:
        pool: contextlib.AbstractContextManager[Executor] = process_pool(min(len(paths), os.cpu_count() or 1))
    else:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="toolkit-prepare")
    with pool as executor:
        futures = [executor.submit(prepare, i.path, checks, attestations, (i.sha256, i.size)) if isinstance(i, Dist)
                   else executor.submit(prepare, i, checks, attestations) for i in items]
        try:
            yield futures
        finally:
            for f in futures:
                f.cancel()


def _result(future: Future[Prepared], path: Path) -> Prepared:
    try:
        return future.result()
    except BrokenExecutor:  # a worker killed from outside (out of memory...): this file only
        return Prepared(path, problem="the process that checked it ended abruptly (out of memory?)")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class _Uploader:
    """Sends one file at a time over its own connection to the target; retries, settles, reports."""

    def __init__(self, target: Target, options: PublishOptions, reporter: Reporter) -> None:
        self.target = target
        self.options = options
        self.reporter = reporter
        self.http = transport.Transport(_timeouts(options), target.cacert, client_cert=target.client_cert)
        self.origin = transport.origin_of(target.upload_url)
        self._hint: str | None = None

    def close(self) -> None:
        self.http.close()

    def upload(self, prep: Prepared) -> UploadResult:
        try:
            return self._upload(prep)
        except _Settled as settled:
            return settled.result

    def dry_run(self, prep: Prepared) -> UploadResult:
        """What an upload would do: nothing for a file the index holds, a failure for other bytes under its name."""
        self.http.deadline, self.http.deadline_seconds = time.monotonic() + self.options.deadline, self.options.deadline
        try:
            found, theirs = self.lookup(prep)
        except _Settled as settled:
            why = settled.result.reason.removesuffix("; run again to finish")
            return UploadResult(prep.path, "dry-run", why, prep.sha256)
        if found == "identical":
            return UploadResult(prep.path, "exists", "", prep.sha256)
        if found == "different":
            return self._unsettled(prep, found, theirs, "")
        return UploadResult(prep.path, "dry-run", "", prep.sha256)

    def _upload(self, prep: Prepared) -> UploadResult:
        deadline = time.monotonic() + self.options.deadline
        self.http.deadline, self.http.deadline_seconds = deadline, self.options.deadline  # no request outlives it
        attempts = self.options.retries + 1
        why = ""
        for attempt in range(1, attempts + 1):
            self._unchanged(prep)
            why, wait, unsure, unreachable = self._attempt(prep)
            if unsure:  # the index may hold the file now: look before sending it again
                found, theirs = self.lookup(prep)
                if found == "identical":
                    return UploadResult(prep.path, "uploaded", f"confirmed on the index after: {why}", prep.sha256)
                if found != "absent":
                    return self._unsettled(prep, found, theirs, why)
            if attempt == attempts:
                break
            pause = wait if wait is not None else answers.backoff(attempt)  # the index's Retry-After, if it said
            if time.monotonic() + pause > deadline:
                return UploadResult(prep.path, "failed", f"{why}; no time left before the deadline "
                                    f"({self.options.deadline:g} s) for another try", prep.sha256, rerun=True)
            self.reporter.warn(f"{prep.path.name}: {why}; trying again in {pause:.1f} s "
                               f"(attempt {attempt + 1} of {attempts})")
            time.sleep(pause)
        if unreachable:
            raise _Stop(f"{why} (after {attempts} attempt(s))", self._hint or "check the upload URL and the network",
                        rerun=True)
        return UploadResult(prep.path, "failed", f"{why} (after {attempts} attempt(s)); run again to finish", prep.sha256,
                            rerun=True)

    def _attempt(self, prep: Prepared) -> tuple[str, float | None, bool, bool]:
        """One POST. Returns (why it must be tried again, Retry-After, whether the index may hold the file now,
        whether the index could not be reached at all);
        raises _Settled when the file's fate is known, _Stop when every file would fail the same way."""
        content_type, body = transport.multipart(list(prep.form), prep.path.name, prep.path, prep.size)
        headers = {"Content-Type": content_type, "User-Agent": f"toolkit/{__version__}", "Accept": "*/*",
                   **self._authorization()}
        try:
            with self.reporter.progress(f"uploading {prep.path.name}", len(body)) as advance:
                answer = self.http.request("POST", self.target.upload_url, headers, body, advance)
        except transport.WireError as exc:
            why = self.target.redact(str(exc))
            if exc.fatal:
                raise _Stop(why, exc.hint) from None
            self._hint = exc.hint  # e.g. a proxy that is down: the proxy setting is what to check
            return why, None, exc.body_sent, exc.phase == "connect"
        return self._answered(prep, answer)

    def _answered(self, prep: Prepared, answer: transport.Response) -> tuple[str, float | None, bool, bool]:
        reason = self.target.redact(answer.said())
        detail = self.target.redact(answer.text())
        said = f"{answer.status} {reason}".strip() + (f": {detail}" if detail and detail not in reason else "")
        verdict = answers.verdict(answer.status, answer.reason, answer.text(2000))
        if verdict == "uploaded":
            raise _Settled(UploadResult(prep.path, "uploaded", "", prep.sha256))
        if verdict == "exists":
            found, theirs = self.lookup(prep)
            if found == "identical":
                raise _Settled(UploadResult(prep.path, "exists", "", prep.sha256))
            raise _Settled(self._unsettled(prep, found, theirs, f"the index answered {said}"))
        if verdict == "retry":
            return said, answers.retry_after(answer.headers.get("retry-after")), answer.status >= 500, False
        if verdict == "redirect":
            location = answer.headers.get("location", "")
            where = f" to {_text.redact_url(_text.printable(urljoin(answer.url, location), 200))}" if location else ""
            raise _Stop(f"the index answered {answer.status} {reason}, a redirect{where} (uploads never follow one)",
                        _redirect_hint(self.target.upload_url, location))
        if verdict == "proxy":
            raise _Stop(f"the proxy refused the request: {said}",
                        "give the proxy's user and password in the proxy URL: http://USER:PASSWORD@proxy:port")
        if verdict == "auth":
            raise _Stop(f"the index refused the credentials: {said}",
                        f"toolkit used {self.target.describe()}; check them, or the account's rights on the project")
        raise _Settled(UploadResult(prep.path, "failed", f"the index refused it: {said}", prep.sha256))

    def _unsettled(self, prep: Prepared, found: answers.Found, theirs: str | None, why: str) -> UploadResult:
        if found == "different":
            return UploadResult(prep.path, "failed", f"the index holds other bytes under this name (sha256 {theirs} "
                                f"there, {prep.sha256} here); a file name can be used once", prep.sha256)
        if found == "unknown":
            return UploadResult(prep.path, "failed", f"{why}; the index lists the file without a sha256 to compare",
                                prep.sha256)
        return UploadResult(prep.path, "failed", f"{why}; and the index does not list the file (a name once used, "
                            "then deleted, cannot be used again; or give --index-url, where to look)", prep.sha256)

    def lookup(self, prep: Prepared) -> tuple[answers.Found, str | None]:
        """What the index lists under the file's name: absent, identical, different, or unknown."""
        # A dry run with trusted publishing has no token (none is exchanged): its look-ups go anonymously.
        anonymous = self.options.dry_run and not self.target.creds.password
        headers = {"Accept": index.ACCEPT, "Cache-Control": "max-age=0", "User-Agent": f"toolkit/{__version__}",
                   **({} if anonymous else self._authorization())}
        last = ""
        for attempt in range(1, 4):
            for simple in self.target.simple_urls:
                # An --index-url with its own user and password: those go to its origin, and only there.
                own = self.target.simple_auth.get(transport.origin_of(simple))
                sent, auth_origin = ({**headers, "Authorization": own}, transport.origin_of(simple)) if own else (
                    headers, self.origin)
                try:
                    answer = self.http.get(index.project_url(simple, prep.project), sent, auth_origin)
                except transport.WireError as exc:
                    last = self.target.redact(str(exc))
                    break
                if answer.status == 404:
                    continue
                if answer.status != 200:
                    last = f"{answer.status} {self.target.redact(answer.said())}"
                    break
                try:
                    listed = index.parse_listing(answer.body, answer.headers.get("content-type", ""))
                except (ValueError, KeyError, TypeError, AttributeError):
                    last = f"{_text.redact_url(answer.url)} is not a simple API page"
                    break
                return answers.compare(listed, prep.path.name, prep.sha256)
            else:
                return "absent", None
            pause = answers.backoff(attempt)
            if self.http.left() < pause:
                break
            time.sleep(pause)
        raise _Settled(UploadResult(prep.path, "failed", f"cannot see whether the index holds the file ({last}); "
                                    "run again to finish", prep.sha256, rerun=True))

    def _authorization(self) -> dict[str, str]:
        """The Authorization header; a trusted-publishing exchange that fails stops the run (every file needs it)."""
        with self.target.lock:  # one exchange at a time: the other lanes wait, then use its token
            before = self.target.creds
            try:
                header = self.target.authorization()
            except PublishError as exc:
                raise _Stop(self.target.redact(exc.message), exc.hint) from None
            renewed = self.target.creds is not before and self.target.creds.expires is not None
        if renewed and self.target.creds.expires is not None:
            until = time.strftime("%H:%M:%S UTC", time.gmtime(self.target.creds.expires))
            self.reporter.info(f"trusted publishing: a new upload token, valid until {until}")
        return header

    def _unchanged(self, prep: Prepared) -> None:
        try:
            info = os.stat(prep.path)
        except OSError as exc:
            raise _Settled(UploadResult(prep.path, "failed", f"cannot read the file ({exc.strerror})", prep.sha256)) from None
        if info.st_size != prep.size or info.st_mtime_ns != prep.mtime_ns:
            raise _Settled(UploadResult(prep.path, "failed", "the file changed after it was checked and hashed", prep.sha256))


class _Settled(Exception):
    def __init__(self, result: UploadResult) -> None:
        super().__init__(result.reason)
        self.result = result


def _redirect_hint(url: str, location: str) -> str:
    if location and urljoin(url, location) == url.rstrip("/") + "/" != url:
        return f"the index wants the upload URL with a trailing slash: {url}/"
    return "give the index's upload URL itself (toolkit does not follow redirects on upload)"


def failed(results: Sequence[UploadResult]) -> list[UploadResult]:
    return [r for r in results if not r.ok]


def failure_hint(results: Sequence[UploadResult]) -> str:
    """What to do about the files that failed: the first specific hint, and the promise that running again
    finishes only when every failure is one a second run can get past."""
    bad = failed(results)
    hint = next((r.hint for r in bad if r.hint), "the lines above say why")
    if bad and all(r.rerun for r in bad):
        hint += "; running the same command again uploads only what is missing"
    return hint


__all__ = ["PublishError", "UploadResult", "order", "publish", "failed", "failure_hint"]


def _send_with(run: _Run, prep: Prepared, uploader: _Uploader) -> UploadResult:
    """One lane's task: `prep` sent by that lane's uploader (a partial of this, not a lambda, so it is typed)."""
    return run.send(uploader, prep)

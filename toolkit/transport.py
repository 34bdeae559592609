"""publish's wire: HTTP requests to an index over one keep-alive connection per origin, a timeout for
each phase (connect, a stalled send, the answer), a size cap on every answer, a wall-clock bound no
trickle stretches; TLS checked against the OS trust store or --cacert (a client certificate if asked);
proxies from the environment (CONNECT for https, NO_PROXY in curl's and requests' forms).

Kept on http.client after measuring urllib3 2 (2.8.0) and httpx (0.29.0), 2026-12, on 127.0.0.1:
- a 1 byte/s trickle: urllib3 with Timeout(connect=3, read=3, total=10) and httpx with Timeout(3) were both
  still reading at 25 s (each read timeout restarts with every byte; neither has a wall-clock bound on a
  response: httpx's docs leave it to the caller's cancellation). The bound here is a timer that shuts the
  socket (_Watchdog): it needs the socket, which both clients hide inside their pools.
- "was the whole body handed over": urllib3 and httpx raise one error type for a connection lost while
  sending and while waiting for the answer; here the phase is known at each step (WireError.body_sent),
  which decides whether the index is looked at before sending again.
- caps: read(cap + 1) here; urllib3 has the same (preload_content=False), httpx needs iter_bytes: no gain.
- import cost (python -X importtime, cumulative): http.client 21 ms, urllib3 82-93 ms, httpx 87-179 ms,
  requests 72-161 ms, against ~0.2 s for a whole small upload.
The file goes out with sendfile, not through a multipart encoder; redirects are never followed on upload.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import re
import secrets
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urljoin, urlsplit

from toolkit import _text
from toolkit.proxy import proxy_for

try:
    import fcntl
    import termios
except ImportError:  # Windows
    fcntl = termios = None  # type: ignore[assignment]

Phase = Literal["connect", "send", "response"]
_CHUNK = 4 << 20
ANSWER_CAP = 1 << 20  # an upload's answer, the trusted-publishing exchange: a few hundred bytes when honest
PAGE_CAP = 64 << 20  # a simple page: PyPI's largest JSON pages (thousands of files) are a few MiB


@dataclass(frozen=True)
class Timeouts:
    connect: float
    send: float  # the longest a send may stall, not the whole body's time
    response: float  # the longest wait for the answer (and between its parts)


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    url: str = ""

    def text(self, limit: int = 300) -> str:
        """The body as one short line of printable text (HTML tags dropped), for a reason shown to the user."""
        words = re.sub(r"<[^>]*>", " ", self.body[:20000].decode("utf-8", "replace"))
        return _text.printable(words, limit)

    def said(self) -> str:
        """The status line's reason, printable (a server may put anything there)."""
        return _text.printable(self.reason, 200)


class WireError(Exception):
    """A request that got no answer: in which phase, and whether the whole body had been handed over."""

    def __init__(self, message: str, *, phase: Phase, body_sent: bool, fatal: bool = False, hint: str | None = None):
        super().__init__(message)
        self.phase = phase
        self.body_sent = body_sent
        self.fatal = fatal
        self.hint = hint


@dataclass(frozen=True)
class Body:
    """A request body: bytes, or the bytes of `head`, a file and `tail` (a multipart upload)."""

    head: bytes
    file: Path | None = None
    tail: bytes = b""
    file_size: int = 0

    def __len__(self) -> int:
        return len(self.head) + self.file_size + len(self.tail)


def multipart(form: list[tuple[str, str]], filename: str, path: Path, size: int) -> tuple[str, Body]:
    """The content type and body of a multipart/form-data upload: the fields, then the file as `content`.

    Written here, not with urllib3 or requests-toolbelt: urllib3 wants the file's bytes in memory, the
    toolbelt imports requests; the format is a few lines, and the file goes out with sendfile.
    """
    boundary = secrets.token_hex(16)
    parts = []
    for key, value in form:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(key)}"\r\n\r\n'.encode())
        parts.append(value.encode("utf-8", "surrogateescape") + b"\r\n")
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="{_quote(filename)}"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n".encode())
    body = Body(b"".join(parts), path, f"\r\n--{boundary}--\r\n".encode(), size)
    return f"multipart/form-data; boundary={boundary}", body


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")


def basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def origin_of(url: str) -> str:
    """scheme://host:port, the unit credentials are bound to."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def is_loopback(url: str) -> bool:
    """Whether the URL's host is this machine: localhost (RFC 6761: every *.localhost too), 127.0.0.0/8 or ::1."""
    import ipaddress

    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def userinfo(url: str) -> tuple[str | None, str | None]:
    parts = urlsplit(url)
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return user, password


@dataclass
class Transport:
    """Connections to index origins, kept open between requests."""

    timeouts: Timeouts
    cacert: Path | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    # The wall-clock end (time.monotonic()) of everything this transport does, and its length in seconds for
    # messages: set per file by the uploader (--deadline); no exchange outlives it, whatever the index does.
    deadline: float | None = None
    deadline_seconds: float = 0.0
    client_cert: Path | None = None  # PEM: the certificate (and its key) an index that asks for one gets
    _conns: dict[str, http.client.HTTPConnection] = field(default_factory=dict)
    _context: ssl.SSLContext | None = None

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    def request(self, method: str, url: str, headers: Mapping[str, str], body: Body | None = None,
                advance: Callable[[int], None] | None = None, cap: int = ANSWER_CAP) -> Response:
        """One request, no redirect followed; an answer longer than `cap` bytes is refused. WireError when no
        whole answer came (see its phase and body_sent)."""
        conn, reused = self._connection(url)
        try:
            return self._exchange(conn, method, url, headers, body, advance, cap)
        except WireError as exc:
            if not (reused and exc.phase == "send"):
                raise
        # The server closed the kept-alive connection while it was idle: nothing of this request
        # reached it; one new connection, not a retry.
        conn, _ = self._connection(url)
        return self._exchange(conn, method, url, headers, body, advance, cap)

    def left(self) -> float:
        """Seconds before the deadline (infinity without one)."""
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    def get(self, url: str, headers: Mapping[str, str], auth_origin: str | None, max_redirects: int = 5,
            cap: int = PAGE_CAP) -> Response:
        """GET, following redirects; the Authorization header goes only to `auth_origin`."""
        for _ in range(max_redirects + 1):
            sent = dict(headers)
            if origin_of(url) != auth_origin:
                sent.pop("Authorization", None)
            response = self.request("GET", url, sent, cap=cap)
            location = response.headers.get("location")
            if response.status not in (301, 302, 303, 307, 308) or not location:
                return response
            url = urljoin(url, location)
        raise WireError(f"more than {max_redirects} redirects from {url}", phase="response", body_sent=True)

    # -- connections ----------------------------------------------------------------------------------

    def _connection(self, url: str) -> tuple[http.client.HTTPConnection, bool]:
        key = origin_of(url)
        conn = self._conns.get(key)
        if conn is not None and conn.sock is not None:
            return conn, True
        if conn is not None:
            conn.close()
        conn = self._connect(url)
        self._conns[key] = conn
        return conn, False

    def _connect(self, url: str) -> http.client.HTTPConnection:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        proxy = proxy_for(url, self.environ)
        if self.left() <= 0:
            raise WireError(self._deadline_passed("before connecting"), phase="connect", body_sent=False)
        timeout = min(self.timeouts.connect, self.left())
        conn: http.client.HTTPConnection
        via = (urlsplit(proxy).hostname or "", urlsplit(proxy).port or 80) if proxy else None
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(*(via or (host, port)), timeout=timeout, context=self._tls())
            if proxy:
                conn.set_tunnel(host, port, headers=_proxy_headers(proxy))
        elif via:
            conn = _ProxiedHTTPConnection(*via, timeout=timeout)
            conn.proxy_headers = _proxy_headers(proxy or "")
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.connect()
        except ssl.SSLCertVerificationError as exc:
            conn.close()
            raise WireError(f"the TLS certificate of {host} cannot be verified ({exc.verify_message})", phase="connect",
                            body_sent=False, fatal=True, hint=_TLS_HINT) from None
        except ssl.SSLError as exc:
            conn.close()
            raise WireError(f"the TLS handshake with {host}:{port} failed ({exc.reason or type(exc).__name__})",
                            phase="connect", body_sent=False, fatal=True, hint=_TLS_HINT) from None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            if via is not None:  # the proxy is the machine to look at, not the index
                raise _proxy_error(exc, via, (host, port)) from None
            raise WireError(f"cannot connect to {host}:{port} ({_why(exc)})", phase="connect", body_sent=False) from None
        return conn

    def _tls(self) -> ssl.SSLContext:
        if self._context is None:
            try:
                context = ssl.create_default_context(cafile=str(self.cacert) if self.cacert else None)
            except (OSError, ssl.SSLError) as exc:
                raise WireError(f"cannot read the CA bundle {self.cacert} ({_why(exc)})", phase="connect",
                                body_sent=False, fatal=True, hint="give a PEM file of CA certificates to --cacert") from None
            if self.client_cert is not None:
                try:
                    context.load_cert_chain(str(self.client_cert))
                except (OSError, ssl.SSLError) as exc:
                    raise WireError(f"cannot read the client certificate {self.client_cert} ({_why(exc)})",
                                    phase="connect", body_sent=False, fatal=True,
                                    hint="give --client-cert a PEM file holding the certificate and its private key"
                                    ) from None
            self._context = context
        return self._context

    # -- one exchange ---------------------------------------------------------------------------------

    def _exchange(self, conn: http.client.HTTPConnection, method: str, url: str, headers: Mapping[str, str],
                  body: Body | None, advance: Callable[[int], None] | None, cap: int) -> Response:
        body_sent = False
        answer: http.client.HTTPResponse | None = None
        slow: _Watchdog | None = None
        assert conn.sock is not None
        # Socket timeouts bound each stall; these bound the wall clock, which a trickle of one byte a
        # second would otherwise stretch without end: at the deadline, or when the answer has taken longer
        # than the response timeout, the socket is shut and the blocked read returns.
        with _Watchdog(conn.sock, self.left()) as overall:
            try:
                conn.sock.settimeout(self.timeouts.send)
                conn.putrequest(method, _request_target(conn, url), skip_accept_encoding=True)
                for name, value in {**headers, **getattr(conn, "proxy_headers", {})}.items():
                    conn.putheader(name, value)
                if body is not None or method in ("POST", "PUT"):
                    conn.putheader("Content-Length", str(len(body) if body is not None else 0))
                conn.endheaders()
                if body is not None:
                    for sent in _send_body(conn.sock, body):
                        if advance is not None:
                            advance(sent)
                body_sent = True
                _wait_delivered(conn.sock, self.timeouts.send)
                conn.sock.settimeout(self.timeouts.response)
                with _Watchdog(conn.sock, self.timeouts.response) as slow:
                    answer = conn.getresponse()
                    data = answer.read(cap + 1)
                    if len(data) > cap:
                        raise _TooLong
                if slow.fired or overall.fired:  # a body that ends with the connection looks whole: it is not
                    raise TimeoutError("cut off")
            except ssl.SSLCertVerificationError as exc:  # a tunnel through a proxy verifies here
                conn.close()
                raise WireError(f"the TLS certificate of {urlsplit(url).hostname} cannot be verified "
                                f"({exc.verify_message})", phase="connect", body_sent=False, fatal=True,
                                hint=_TLS_HINT) from None
            except (OSError, http.client.HTTPException, _TooLong) as exc:
                conn.close()
                phase: Phase = "response" if body_sent else "send"
                why = self._why_unfinished(exc, answer, cap, overall.fired, slow is not None and slow.fired, body_sent)
                raise WireError(why, phase=phase, body_sent=body_sent) from None
        if answer.will_close:
            conn.close()
        return Response(answer.status, answer.reason or "", {k.lower(): v for k, v in answer.getheaders()}, data, url)

    def _why_unfinished(self, exc: BaseException, answer: http.client.HTTPResponse | None, cap: int,
                        deadline: bool, slow: bool, body_sent: bool) -> str:
        """What went wrong, in words a user can act on: the request not sent, no answer at all, or an answer
        that began (its status is said) and then did not end, went on too long, or broke off."""
        began = f"the index answered {answer.status} {_text.printable(answer.reason or '', 80)}".rstrip() if answer else ""
        if isinstance(exc, _TooLong):
            return f"{began}, but its answer goes on past {cap >> 10} KiB (not read further)"
        if deadline:
            doing = (f"{began}, but its answer was still coming in" if began else
                     "while waiting for the answer" if body_sent else "while the request was being sent")
            return self._deadline_passed(doing)
        if began:
            rest = f"did not come within {self.timeouts.response:g} s" if slow or isinstance(exc, TimeoutError) \
                else f"broke off ({_why(exc)})"
            return f"{began}, but the rest of the answer {rest}"
        if not body_sent:
            return f"the request could not be sent ({_why(exc)})"
        if slow or isinstance(exc, TimeoutError):  # the timer or the socket's own timeout: the same wait
            return f"no answer within {self.timeouts.response:g} s"
        return f"no answer ({_why(exc)})"

    def _deadline_passed(self, doing: str) -> str:
        return f"the deadline ({self.deadline_seconds:g} s) passed {doing}"


class _TooLong(Exception):
    """An answer longer than the cap its caller set."""


class _Watchdog:
    """Shuts a socket down `seconds` from now unless the block ends first, so that a blocked send or read
    returns at a wall-clock moment. The socket's own shutdown (not SSLSocket's, which drops its TLS state
    under the reading thread) ends the blocked call with an error or an end of file."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self.fired = False
        self._sock = sock
        self._timer = threading.Timer(max(0.0, seconds), self._fire) if seconds != float("inf") else None

    def _fire(self) -> None:
        self.fired = True
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self._sock, socket.SHUT_RDWR)

    def __enter__(self) -> _Watchdog:
        if self._timer is not None:
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _send_body(sock: socket.socket, body: Body) -> Iterator[int]:
    sock.sendall(body.head)
    yield len(body.head)
    if body.file is not None:
        with open(body.file, "rb") as f:
            offset = 0
            while offset < body.file_size:
                count = min(_CHUNK, body.file_size - offset)
                sent = sock.sendfile(f, offset, count)
                if sent == 0:
                    raise OSError("the file became shorter while it was sent")
                offset += sent
                yield sent
    if body.tail:
        sock.sendall(body.tail)
        yield len(body.tail)


def _wait_delivered(sock: socket.socket, stall: float) -> None:
    """Wait until the index has acknowledged the whole body (or starts answering), while it makes progress.

    The kernel takes megabytes into its send buffer at once, so "sent" often means "queued": on a slow
    link the index is still receiving when the last send returns. Without this, that time would count
    against the response timeout, and a slow but steady upload would time out. Linux tells how much is
    unacknowledged (TIOCOUTQ); elsewhere the response timeout covers it.
    """
    import selectors

    def pending() -> int:
        try:
            return int(struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0])
        except (OSError, ValueError):
            return 0

    if fcntl is None or not hasattr(termios, "TIOCOUTQ"):
        return
    last, since, wait = pending(), time.monotonic(), 0.001
    if last == 0:
        return
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        while last > 0:
            if selector.select(wait):
                return  # the answer is arriving
            now = pending()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since > stall:
                raise TimeoutError("the index stopped receiving")
            wait = min(wait * 2, 0.05)


class _ProxiedHTTPConnection(http.client.HTTPConnection):
    """Plain HTTP through a proxy: the request line carries the absolute URL."""

    proxy_headers: dict[str, str] = {}


def _request_target(conn: http.client.HTTPConnection, url: str) -> str:
    if isinstance(conn, _ProxiedHTTPConnection):
        return without_userinfo(url)
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _proxy_error(exc: BaseException, via: tuple[str, int], target: tuple[str, int]) -> WireError:
    proxy, index = f"{via[0]}:{via[1]}", f"{target[0]}:{target[1]}"
    hint = "check the proxy in HTTPS_PROXY / HTTP_PROXY (or exempt the index with NO_PROXY)"
    said = exc.args[0] if isinstance(exc, OSError) and exc.args and isinstance(exc.args[0], str) else ""
    if said.startswith("Tunnel connection failed"):  # http.client's words for a CONNECT the proxy answered with an error
        answer = _text.printable(said.partition(":")[2], 120)
        if answer.startswith("407"):
            hint = "give the proxy's user and password in the proxy URL: http://USER:PASSWORD@proxy:port"
        return WireError(f"the proxy {proxy} refused the tunnel to {index} ({answer})", phase="connect",
                         body_sent=False, fatal=True, hint=hint)
    return WireError(f"cannot connect to the proxy {proxy} ({_why(exc)}), which the environment names for {index}",
                     phase="connect", body_sent=False, hint=hint)


def _proxy_headers(proxy: str) -> dict[str, str]:
    user, password = userinfo(proxy)
    return {"Proxy-Authorization": basic_auth(user, password or "")} if user else {}


def _why(exc: BaseException) -> str:
    """An exception as a few words, without its arguments' repr (which may hold a URL or a header)."""
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(exc, http.client.BadStatusLine):
        return "the answer is not HTTP"
    if isinstance(exc, http.client.IncompleteRead):
        return "the answer was cut short"
    if isinstance(exc, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    if isinstance(exc, OSError) and exc.args and isinstance(exc.args[0], str):
        return exc.args[0][:120]  # http.client's own words, e.g. a proxy's refusal of a tunnel
    return type(exc).__name__


_TLS_HINT = ("if the index uses a private certificate authority, give its CA bundle with --cacert FILE or add it to "
             "the operating system's trust store; toolkit never uploads without verifying")

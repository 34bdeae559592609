"""Servers for publish's tests that misbehave on purpose, on 127.0.0.1 at free ports:

- `FaultProxy`: our own HTTP proxy in front of a real index that breaks chosen uploads (drops the
  connection before, during or after the body; answers 5xx, 429 with Retry-After, 409, garbage, a
  redirect; hangs; reads slowly), records every request, and can play the index's trusted-publishing
  endpoints (/_/oidc/audience, /_/oidc/mint-token), accepting only the tokens it minted;
- `Recorder`: records the requests it gets (another origin a redirect points to) and answers 200;
- `github_oidc`: a stand-in for GitHub's OIDC token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL);
- `self_signed`: a certificate for a TLS index.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import secrets
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from indexes import PASSWORD, USER


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    action: str = ""
    arrived: float = 0.0  # time.monotonic() when its head was read
    answered: float = 0.0  # when the proxy's answer was ready, just before it went out (or the drop)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class HTTPServerBase:
    """Reads requests on kept-alive connections and hands each to `handle(conn, request_head)`."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Request] = []
        self.connections = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with owner._lock:
                    owner.connections += 1
                with contextlib.suppress(OSError):
                    sock = tls.wrap_socket(self.request, server_side=True) if tls else self.request
                    reader = sock.makefile("rb")
                    while owner._serve_one(sock, reader):
                        pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.origin = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HTTPServerBase:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _serve_one(self, sock: socket.socket, reader) -> bool:  # type: ignore[no-untyped-def]
        line = reader.readline()
        if not line:
            return False
        method, path, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (h := reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = h.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        req = Request(method, path, headers, arrived=time.monotonic())
        return self.handle(sock, reader, req)

    def handle(self, sock: socket.socket, reader, req: Request) -> bool:  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def record(self, req: Request) -> None:
        with self._lock:
            self.requests.append(req)


def send_response(sock: socket.socket, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
                  reason: str | None = None) -> None:
    reason = reason if reason is not None else http.client.responses.get(status, "Unknown")
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\n"
    for name, value in (headers or {}).items():
        head += f"{name}: {value}\r\n"
    sock.sendall(head.encode("latin-1") + b"\r\n" + body)


def read_body(reader, req: Request, limit: int | None = None, slow: bool = False) -> bytes:  # type: ignore[no-untyped-def]
    length = int(req.headers.get("content-length", "0"))
    want = length if limit is None else min(limit, length)
    chunks, got = [], 0
    while got < want:
        chunk = reader.read(min(65536, want - got) if not slow else min(8192, want - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
        if slow:
            time.sleep(0.03)
    return b"".join(chunks)


class Recorder(HTTPServerBase):
    """Records every request; answers from `routes` (path prefix -> (status, body, headers)), else 200."""

    def __init__(self, routes: dict[str, tuple[int, bytes, dict[str, str]]] | None = None) -> None:
        super().__init__()
        self.routes = routes or {}

    def handle(self, sock: socket.socket, reader, req: Request) -> bool:  # type: ignore[no-untyped-def]
        req.body = read_body(reader, req)
        self.record(req)
        for prefix, (status, body, headers) in self.routes.items():
            if req.path.startswith(prefix):
                send_response(sock, status, body, headers)
                return True
        send_response(sock, 200, b"recorded")
        return True


@dataclass
class Minted:
    """What the trusted-publishing stand-in handed out: upload tokens and when each expires."""

    audience: str = "toolkit-tests"
    oidc_tokens: set[str] = field(default_factory=set)  # the OIDC tokens it accepts
    tokens: dict[str, float] = field(default_factory=dict)
    lifetime: float = 900.0
    exchanges: int = 0


class FaultProxy(HTTPServerBase):
    """A proxy in front of `upstream` (an Index) that applies `faults` to upload POSTs, one per POST in order
    ("pass" once they run out). With `minted`, it also plays PyPI's trusted-publishing endpoints and accepts
    only the tokens it minted, forwarding with the index's own credentials."""

    def __init__(self, upstream: str, faults: list[str] | None = None, minted: Minted | None = None,
                 upstream_auth: tuple[str, str] = (USER, PASSWORD), tls: ssl.SSLContext | None = None,
                 hold: float | Callable[[int], float] = 0.0) -> None:
        super().__init__(tls)
        # Seconds each upload waits before its fault is applied (uploads at once overlap surely); a function
        # gets the upload's number in order of arrival (1, 2...).
        self.hold = hold if callable(hold) else lambda n: hold
        self.posts = 0
        self.in_flight = 0  # uploads being handled now, and the most at once
        self.most_in_flight = 0
        self.upstream = upstream
        self.faults = list(faults or [])
        self.minted = minted
        self.upstream_auth = upstream_auth
        self.url = self.origin + "/"

    @property
    def uploads(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST" and not r.path.startswith("/_/")]

    def handle(self, sock: socket.socket, reader, req: Request) -> bool:  # type: ignore[no-untyped-def]
        if req.path.startswith("/_/oidc/") and self.minted is not None:
            req.body = read_body(reader, req)
            self.record(req)
            return self._oidc(sock, req)
        if self.minted is not None and not self._token_ok(req):
            req.body = read_body(reader, req)
            self.record(req)
            send_response(sock, 403, b"Invalid API Token", reason="Invalid or non-existent authentication information.")
            return True
        if req.method != "POST":
            req.action = "pass"
            return self._apply(sock, reader, req, "pass")
        with self._lock:
            req.action = self.faults.pop(0) if self.faults else "pass"
            self.posts += 1
            hold = self.hold(self.posts)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(hold)
            return self._apply(sock, reader, req, req.action)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _apply(self, sock: socket.socket, reader, req: Request, action: str) -> bool:  # type: ignore[no-untyped-def]
        kind, _, arg = action.partition(":")
        req.answered = time.monotonic()
        if kind == "drop-before":
            self.record(req)
            return False
        if kind == "drop-during":
            read_body(reader, req, limit=int(req.headers.get("content-length", "0")) // 2)
            self.record(req)
            req.answered = time.monotonic()
            sock.shutdown(socket.SHUT_RDWR)
            return False
        req.body = read_body(reader, req, slow=kind == "slow")
        self.record(req)
        req.answered = time.monotonic()
        if kind in ("pass", "slow", "drop-after"):
            status, reason, body, headers = self._forward(req)
            req.answered = time.monotonic()
            if kind == "drop-after":
                return False
            send_response(sock, status, body, headers, reason)
        elif kind == "status":
            send_response(sock, int(arg), b"injected failure")
        elif kind == "429":
            send_response(sock, 429, b"slow down", {"Retry-After": arg or "1"})
        elif kind == "409":
            send_response(sock, 409, b"conflict")
        elif kind == "hang":
            with contextlib.suppress(OSError):
                sock.settimeout(30)
                sock.recv(1)  # until the client gives up and closes
            return False
        elif kind == "garbage":
            sock.sendall(b"\x00\x01 this is not HTTP \xff\r\n\r\n")
            return False
        elif kind == "redirect":
            send_response(sock, 307, b"", {"Location": arg})
        else:
            raise ValueError(action)
        return True

    def _forward(self, req: Request) -> tuple[int, str, bytes, dict[str, str]]:
        conn = http.client.HTTPConnection(self.upstream.split("//")[1].split("/")[0], timeout=60)
        headers = {k: v for k, v in req.headers.items() if k not in ("host", "connection", "authorization")}
        if self.minted is not None:  # the token was checked: the index itself wants its own user
            user, password = self.upstream_auth
            headers["authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        elif "authorization" in req.headers:
            headers["authorization"] = req.headers["authorization"]
        path = "/" + req.path.split("://", 1)[1].split("/", 1)[1] if "://" in req.path else req.path  # as a proxy
        conn.request(req.method, path, body=req.body or None, headers=headers)
        answer = conn.getresponse()
        body = answer.read()
        keep = {k: v for k, v in answer.getheaders() if k.lower() in ("content-type", "location", "www-authenticate")}
        conn.close()
        return answer.status, answer.reason, body, keep

    # -- the trusted-publishing stand-in (PyPI's /_/oidc/ endpoints) ------------------------------------------

    def _oidc(self, sock: socket.socket, req: Request) -> bool:
        assert self.minted is not None
        if req.path.startswith("/_/oidc/audience"):
            send_response(sock, 200, json.dumps({"audience": self.minted.audience}).encode(),
                          {"Content-Type": "application/json"})
            return True
        oidc = json.loads(req.body or b"{}").get("token")
        if oidc not in self.minted.oidc_tokens:
            body = {"message": "Token request failed", "errors": [{"code": "invalid-token", "description": "bad"}]}
            send_response(sock, 422, json.dumps(body).encode(), {"Content-Type": "application/json"})
            return True
        token = "pypi-minted-" + secrets.token_hex(16)
        expires = time.time() + self.minted.lifetime
        with self._lock:
            self.minted.tokens[token] = expires
            self.minted.exchanges += 1
        send_response(sock, 200, json.dumps({"success": True, "token": token, "expires": int(expires)}).encode(),
                      {"Content-Type": "application/json"})
        return True

    def _token_ok(self, req: Request) -> bool:
        assert self.minted is not None
        auth = req.headers.get("authorization", "")
        if not auth.startswith("Basic "):
            return req.method == "GET"
        user, _, token = base64.b64decode(auth[6:]).decode().partition(":")
        return user == "__token__" and self.minted.tokens.get(token, 0) > time.time()


def github_oidc(oidc_token: str, request_token: str) -> Recorder:
    """A stand-in for GitHub's OIDC token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL): hands out `oidc_token`
    to a request that bears `request_token`, refuses any other."""
    rec = Recorder()

    def handle(sock: socket.socket, reader, req: Request) -> bool:  # type: ignore[no-untyped-def]
        req.body = read_body(reader, req)
        rec.record(req)
        if req.headers.get("authorization", "").lower() != f"bearer {request_token}".lower():
            send_response(sock, 401, b"{}", {"Content-Type": "application/json"})
        else:
            send_response(sock, 200, json.dumps({"value": oidc_token}).encode(), {"Content-Type": "application/json"})
        return True

    rec.handle = handle  # type: ignore[method-assign]
    return rec


def self_signed(folder: Path, host: str = "127.0.0.1") -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for `host` (the CA file a client may trust) and a server context using it."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "toolkit test index")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "index-cert.pem", folder / "index-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return cert_path, context

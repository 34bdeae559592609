"""Private indexes as companies run them: a TLS index with its own CA that asks for a client certificate
(--cert/--client-cert, .pypirc's ca_cert/client_cert, TWINE_* variables, REQUESTS_CA_BUNDLE/PIP_CERT/
SSL_CERT_FILE), reached through an HTTP CONNECT proxy (with and without proxy authentication, NO_PROXY in
curl's and requests' forms); a proxy that is down or refuses is named as the proxy. All on 127.0.0.1: a real
pypiserver behind the tests' TLS front (faultproxy.FaultProxy), and a CONNECT proxy written here."""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import itertools
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from distfactory import make_wheel
from faultproxy import FaultProxy
from indexes import Index, creds, free_port, pypiserver, results, run_publish

PROXY_USER, PROXY_PASSWORD = "proxyuser", "proxy-pw-5a4b3c"


@dataclass
class Pki:
    ca: Path  # the CA certificate a client trusts
    client: Path  # the client certificate and its key, one PEM
    server: ssl.SSLContext  # asks for a client certificate signed by the CA
    server_open: ssl.SSLContext  # the same certificate, asks for none


def make_pki(folder: Path) -> Pki:
    """A CA of the test's own; a server certificate for 127.0.0.1 and localhost; a client certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def issue(subject: str, key, issuer_name, issuer_key, *, ca: bool = False, sans=None):  # type: ignore[no-untyped-def]
        builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def pem(key) -> bytes:  # type: ignore[no-untyped-def]
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "toolkit test CA")])
    ca_cert = issue("toolkit test CA", ca_key, ca_name, ca_key, ca=True)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    server_cert = issue("index", server_key, ca_name, ca_key,
                        sans=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    client_cert = issue("uploader", client_key, ca_name, ca_key)
    folder.mkdir(parents=True, exist_ok=True)
    ca = folder / "ca.pem"
    ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(server_cert.public_bytes(serialization.Encoding.PEM) + pem(server_key))
    client = folder / "client.pem"
    client.write_bytes(client_cert.public_bytes(serialization.Encoding.PEM) + pem(client_key))
    contexts = []
    for require in (True, False):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(folder / "server.pem")
        if require:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(ca)
        contexts.append(context)
    return Pki(ca, client, *contexts)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    with pypiserver(tmp_path_factory.mktemp("pypiserver")) as idx:
        yield idx


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def wheel(tmp_path: Path, name: str) -> Path:
    (tmp_path / "dist").mkdir(exist_ok=True)
    return make_wheel(tmp_path / "dist", name, "1.0")


def uploaded(proc, path: Path) -> None:  # type: ignore[no-untyped-def]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert results(proc.stdout) == {path.name: "uploaded"}


# -- certificates ----------------------------------------------------------------------------------------------

def test_cert_and_client_cert_reach_an_index_that_asks_for_one(tmp_path: Path, index: Index, pki: Pki) -> None:
    path = wheel(tmp_path, "client_cert_pkg")
    with FaultProxy(index.url, tls=pki.server) as tls:
        without = run_publish("--repository-url", tls.url, "--cert", pki.ca, "--retries", "0", path, home=tmp_path,
                              env=creds())
        assert without.returncode == 5 and "Traceback" not in without.stderr
        proc = run_publish("--repository-url", tls.url, "--cert", pki.ca, "--client-cert", pki.client, path,
                           home=tmp_path, env=creds())
    uploaded(proc, path)


def test_pypirc_ca_cert_and_client_cert_per_repository(tmp_path: Path, index: Index, pki: Pki) -> None:
    path = wheel(tmp_path, "pypirc_cert_pkg")
    with FaultProxy(index.url, tls=pki.server) as tls:
        (tmp_path / ".pypirc").write_text(f"[distutils]\nindex-servers = corp\n\n[corp]\nrepository = {tls.url}\n"
                                          f"ca_cert = {pki.ca}\nclient_cert = {pki.client}\n")
        proc = run_publish("-r", "corp", path, home=tmp_path, env=creds())
    uploaded(proc, path)


def test_twine_variables_name_the_repository_and_the_certificates(tmp_path: Path, index: Index, pki: Pki) -> None:
    first, second = wheel(tmp_path, "twine_env_pkg"), make_wheel(tmp_path / "dist", "twine_env_pkg", "2.0")
    with FaultProxy(index.url, tls=pki.server) as tls:
        (tmp_path / ".pypirc").write_text(f"[distutils]\nindex-servers = corp\n\n[corp]\nrepository = {tls.url}\n")
        certs = {"TWINE_CERT": str(pki.ca), "TWINE_CLIENT_CERT": str(pki.client)}
        by_name = run_publish(first, home=tmp_path, env={**creds(), **certs, "TWINE_REPOSITORY": "corp"})
        by_url = run_publish(second, home=tmp_path, env={**creds(), **certs, "TWINE_REPOSITORY_URL": tls.url})
    uploaded(by_name, first)
    uploaded(by_url, second)


CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "PIP_CERT", "SSL_CERT_FILE", "TWINE_CERT")


@pytest.mark.parametrize("variable", CA_VARIABLES[:3])
def test_the_ca_settings_of_pip_and_requests_users_are_honoured(variable: str, tmp_path: Path, index: Index,
                                                                pki: Pki) -> None:
    path = wheel(tmp_path, f"ca_{variable.lower()}")
    # This machine sets them all to the system bundle: only the one under test names the CA.
    env = {**creds(), **dict.fromkeys(CA_VARIABLES, ""), variable: str(pki.ca)}
    with FaultProxy(index.url, tls=pki.server_open) as tls:
        proc = run_publish("--repository-url", tls.url, path, home=tmp_path, env=env)
    uploaded(proc, path)


# -- an HTTP CONNECT proxy -------------------------------------------------------------------------------------

class ConnectProxy:
    """A CONNECT proxy on 127.0.0.1 (with `auth`, it answers 407 to a request without those credentials);
    records each tunnel's target."""

    def __init__(self, auth: tuple[str, str] | None = None) -> None:
        self.tunnels: list[str] = []
        owner = self
        expected = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode() if auth else None

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                head = self.rfile.readline().decode("latin-1").split()
                headers = {}
                while (line := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                if len(head) < 2 or head[0] != "CONNECT":
                    self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                    return
                if expected and headers.get("proxy-authorization") != expected:
                    self.wfile.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                                     b"Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
                    return
                owner.tunnels.append(head[1])
                host, _, port = head[1].rpartition(":")
                with socket.create_connection((host, int(port))) as upstream:
                    self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    self.wfile.flush()
                    _relay(self.connection, upstream)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> ConnectProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _relay(a: socket.socket, b: socket.socket) -> None:
    def pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    other = threading.Thread(target=pump, args=(b, a), daemon=True)
    other.start()
    pump(a, b)
    other.join()


def through_proxy(tls: FaultProxy, path: Path, tmp_path: Path, pki: Pki, proxy_url: str, no_proxy_value: str = "",
                  url: str | None = None):  # type: ignore[no-untyped-def]
    env = {**creds(), "HTTPS_PROXY": proxy_url, "NO_PROXY": no_proxy_value}
    return run_publish("--repository-url", url or tls.url, "--cert", pki.ca, "--retries", "0", path, home=tmp_path,
                       env=env)


def test_publish_through_a_connect_proxy(tmp_path: Path, index: Index, pki: Pki) -> None:
    path = wheel(tmp_path, "proxied_pkg")
    with FaultProxy(index.url, tls=pki.server_open) as tls, ConnectProxy() as proxy:
        proc = through_proxy(tls, path, tmp_path, pki, proxy.url)
    uploaded(proc, path)
    assert f"127.0.0.1:{tls.port}" in proxy.tunnels


def test_publish_through_a_proxy_that_asks_for_credentials(tmp_path: Path, index: Index, pki: Pki) -> None:
    path = wheel(tmp_path, "proxy_auth_pkg")
    with FaultProxy(index.url, tls=pki.server_open) as tls, ConnectProxy((PROXY_USER, PROXY_PASSWORD)) as proxy:
        refused = through_proxy(tls, path, tmp_path, pki, proxy.url)
        proc = through_proxy(tls, path, tmp_path, pki, proxy.url.replace("://", f"://{PROXY_USER}:{PROXY_PASSWORD}@"))
    assert refused.returncode == 5
    proxy_at = proxy.url.removeprefix("http://")
    assert (f"failed: the proxy {proxy_at} refused the tunnel to 127.0.0.1:{tls.port} "
            "(407 Proxy Authentication Required)") in refused.stdout
    assert "hint: give the proxy's user and password in the proxy URL" in refused.stderr
    uploaded(proc, path)
    assert PROXY_PASSWORD not in proc.stdout + proc.stderr


def test_a_proxy_that_is_down_is_named_as_the_proxy(tmp_path: Path, index: Index, pki: Pki) -> None:
    path = wheel(tmp_path, "proxy_down_pkg")
    down = free_port()
    with FaultProxy(index.url, tls=pki.server_open) as tls:
        proc = through_proxy(tls, path, tmp_path, pki, f"http://127.0.0.1:{down}")
    assert proc.returncode == 5
    line = results(proc.stdout)[path.name]
    assert line.startswith(f"failed: cannot connect to the proxy 127.0.0.1:{down} (connection refused), which the "
                           f"environment names for 127.0.0.1:{tls.port}"), line
    assert "hint: check the proxy in HTTPS_PROXY" in proc.stderr


_names = itertools.count()


@pytest.mark.parametrize(("host", "entry"), [
    ("127.0.0.1", "127.0.0.1"), ("127.0.0.1", "127.0.0.0/8"), ("127.0.0.1", "127.0.0.1:{port}"),
    ("localhost", "localhost"), ("localhost", ".localhost"), ("localhost", "localhost:{port}"), ("localhost", "*"),
])
def test_no_proxy_forms_reach_the_index_directly(host: str, entry: str, tmp_path: Path, index: Index,
                                                 pki: Pki) -> None:
    """HTTPS_PROXY names a proxy that is down: only a NO_PROXY that exempts the index lets the upload through."""
    path = wheel(tmp_path, f"no_proxy_{next(_names)}")
    with FaultProxy(index.url, tls=pki.server_open) as tls:
        url = f"https://{host}:{tls.port}/"
        proc = through_proxy(tls, path, tmp_path, pki, f"http://127.0.0.1:{free_port()}",
                             f"other.example, {entry.format(port=tls.port)}", url=url)
    uploaded(proc, path)


@pytest.mark.parametrize(("host", "port", "value", "exempt"), [
    ("index.corp.example", 443, "corp.example", True), ("index.corp.example", 443, ".corp.example", True),
    ("index.corp.example", 443, "*.corp.example", True), ("notcorp.example", 443, "corp.example", False),
    ("10.1.2.3", 443, "10.0.0.0/8", True), ("10.1.2.3", 443, "10.1.2.3", True), ("11.1.2.3", 443, "10.0.0.0/8", False),
    ("index.corp.example", 8443, "index.corp.example:8443", True), ("index.corp.example", 443, "index.corp.example:8443", False),
    ("::1", 443, "::1", True), ("::1", 443, "[::1]:443", True), ("fd00::5", 443, "fd00::/8", True),
    ("anything", 80, "*", True), ("anything", 80, "", False), ("Index.Corp.Example", 443, "CORP.example", True),
])
def test_no_proxy_forms(host: str, port: int, value: str, exempt: bool) -> None:
    from toolkit.proxy import no_proxy

    assert no_proxy(host, port, value) is exempt

"""HTTPS endpoints on loopback for the demo and the tests: real TLS servers (Python's ``ssl`` over
OpenSSL) with certificates from a CA generated on the fly (``trustme``), in good and bad
configurations, and plain-HTTP servers that do or do not redirect.

Only the demo and the tests import this module (``trustme`` is a development dependency).
"""

from __future__ import annotations

import datetime as dt
import ssl
import tempfile
import threading
import warnings
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from evidence.family import DemoEstate

GOOD_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Access-Control-Allow-Origin": "https://app.example",
}
CARELESS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Credentials": "true",
}


@dataclass
class Behaviour:
    """What a loopback server answers: status, headers, and whether it reflects the Origin."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    reflect_origin: bool = False


def _handler(behaviour: Behaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = b"ok\n"
            self.send_response(behaviour.status)
            for name, value in behaviour.headers.items():
                self.send_header(name, value.replace("{path}", self.path))
            if behaviour.reflect_origin and self.headers.get("Origin"):
                self.send_header("Access-Control-Allow-Origin", self.headers["Origin"])
                self.send_header("Access-Control-Allow-Credentials", "true")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that aborts its handshake (the version probes do) is not news


class LoopbackServer:
    """An HTTP server on 127.0.0.1, over TLS when given a server context."""

    def __init__(self, behaviour: Behaviour, context: ssl.SSLContext | None = None) -> None:
        self._server = _QuietServer(("127.0.0.1", 0), _handler(behaviour))
        self.port = int(self._server.server_address[1])
        if context is not None:
            # The handshake happens in the handler thread (do_handshake_on_connect on first read),
            # so a slow or failing client never blocks the accept loop.
            self._server.socket = context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.scheme = "https" if context is not None else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def server_context(
    cert_pem: bytes, key_pem: bytes, *, legacy: bool = False, only: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    """A server context; ``legacy`` also offers TLS 1.0 and 1.1 (OpenSSL's security level 0)."""
    folder = Path(tempfile.mkdtemp(prefix="evidence-https-"))
    (folder / "cert.pem").write_bytes(cert_pem)
    (folder / "key.pem").write_bytes(key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    if legacy:
        with warnings.catch_warnings():  # offering TLS 1.0 is what this server is for
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("ALL:@SECLEVEL=0")
    else:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
    if only is not None:
        context.minimum_version = only
        context.maximum_version = only
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    return context


def self_signed(name: str = "127.0.0.1") -> tuple[bytes, bytes]:
    """A self-signed leaf (cert PEM, key PEM) for ``name``: what a forgotten test setup serves."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(name))]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


class TestCA:
    """A trustme CA written to a file the collector can take as ``ca_file``."""

    def __init__(self) -> None:
        import trustme

        self.ca = trustme.CA()
        self.folder = Path(tempfile.mkdtemp(prefix="evidence-ca-"))
        self.ca_file = str(self.folder / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)

    def leaf(self, *, expired: bool = False, days: int = 365) -> tuple[bytes, bytes]:
        now = dt.datetime.now(dt.UTC)
        if expired:
            cert = self.ca.issue_cert(
                "127.0.0.1",
                "localhost",
                not_before=now - dt.timedelta(days=60),
                not_after=now - dt.timedelta(days=2),
            )
        else:
            cert = self.ca.issue_cert("127.0.0.1", "localhost", not_after=now + dt.timedelta(days=days))
        return cert.private_key_and_cert_chain_pem.bytes(), cert.private_key_pem.bytes()

    def close(self) -> None:
        for path in self.folder.iterdir():
            path.unlink()
        self.folder.rmdir()


@contextmanager
def demo_endpoints() -> Iterator[DemoEstate]:
    """A hardened endpoint and a careless one (expired certificate, TLS 1.0, no security headers,
    wildcard CORS with credentials), a self-signed one, a redirecting and a non-redirecting plain port."""
    ca = TestCA()
    try:
        with ExitStack() as stack:
            good = stack.enter_context(
                LoopbackServer(Behaviour(headers=GOOD_HEADERS), server_context(*ca.leaf()))
            )
            careless = stack.enter_context(
                LoopbackServer(
                    Behaviour(headers=CARELESS_HEADERS), server_context(*ca.leaf(expired=True), legacy=True)
                )
            )
            selfsigned = stack.enter_context(
                LoopbackServer(
                    Behaviour(headers=GOOD_HEADERS, reflect_origin=True), server_context(*self_signed())
                )
            )
            redirect = stack.enter_context(
                LoopbackServer(Behaviour(status=301, headers={"Location": good.url.rstrip("/") + "{path}"}))
            )
            plain = stack.enter_context(LoopbackServer(Behaviour(headers={})))
            urls = [good.url, careless.url, selfsigned.url]
            yield DemoEstate(
                settings={"urls": urls, "http_urls": [redirect.url, plain.url], "ca_file": ca.ca_file},
                description=(
                    f"TLS servers on {', '.join(urls)} (CA {ca.ca_file}); "
                    f"plain HTTP on {redirect.url}, {plain.url}"
                ),
                extra={
                    "expectations": {
                        "https.endpoint.certificate": {
                            "passing": {good.url},
                            "failing": {careless.url, selfsigned.url},
                        },
                        "https.endpoint.tls_versions": {
                            "passing": {good.url, selfsigned.url},
                            "failing": {careless.url},
                        },
                        "https.endpoint.security_headers": {
                            "passing": {good.url, selfsigned.url},
                            "failing": {careless.url},
                        },
                        "https.endpoint.cors": {
                            "passing": {good.url},
                            "failing": {careless.url, selfsigned.url},
                        },
                        "https.redirect.http_to_https": {"passing": {redirect.url}, "failing": {plain.url}},
                    },
                    "ca_file": ca.ca_file,
                },
            )
    finally:
        ca.close()

"""Fault injection at the HTTP level: a small threaded proxy on loopback in front of the moto server.

Point ``AwsConfig.endpoint_url`` at :attr:`FaultProxy.url` and botocore's real retry logic runs against
AWS-shaped failures: throttling (S3 ``SlowDown``, query ``Throttling``, JSON/CBOR
``ThrottlingException``, EC2 ``RequestLimitExceeded``), 503 ``ServiceUnavailable``, 500
``InternalError``, and malformed answers (a truncated or garbled body behind a 200).

Which requests fail is deterministic, not timing-dependent: the decision for the k-th attempt of a
request (method, path, body) is a keyed hash of (seed, request, k), so concurrent runs fault the same
attempts whatever order threads send them in. In the random mode a request is faulted at most
``max_consecutive`` times in a row, so with enough retries every call completes (transient faults);
rules can fault an operation on every attempt (retries exhausted) or on its first ``times`` attempts.

Bounded: loopback only (both ends), at most ``max_connections`` client connections served at once,
request bodies up to 16 MiB, socket timeouts on both sides.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

FaultKind = Literal["throttle", "unavailable", "internal", "truncate", "garble"]
TRANSIENT: tuple[FaultKind, ...] = ("throttle", "unavailable", "internal")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MAX_BODY = 16 * 1024 * 1024
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
)

# S3 bucket sub-resources (GET /bucket?<sub>) -> the operation, for the calls the collector makes.
S3_BUCKET_GETS = {
    "location": "GetBucketLocation",
    "encryption": "GetBucketEncryption",
    "versioning": "GetBucketVersioning",
    "replication": "GetBucketReplication",
    "object-lock": "GetObjectLockConfiguration",
    "publicAccessBlock": "GetPublicAccessBlock",
    "policy": "GetBucketPolicy",
    "lifecycle": "GetBucketLifecycleConfiguration",
    "logging": "GetBucketLogging",
}
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,]+/\d{8}/[^/,]+/([^/,]+)/aws4_request")

# kind -> protocol family -> (HTTP status, error code, message), as the real services answer.
_ERRORS: dict[str, dict[str, tuple[int, str, str]]] = {
    "throttle": {
        "s3": (503, "SlowDown", "Please reduce your request rate."),
        "query": (400, "Throttling", "Rate exceeded"),
        "ec2": (503, "RequestLimitExceeded", "Request limit exceeded."),
        "json": (400, "ThrottlingException", "Rate exceeded"),
    },
    "unavailable": {
        "s3": (503, "ServiceUnavailable", "Service is unable to handle request."),
        "query": (503, "ServiceUnavailable", "Service is unavailable."),
        "ec2": (503, "Unavailable", "The server is overloaded and can't handle the request."),
        "json": (503, "ServiceUnavailableException", "Service is unavailable."),
    },
    "internal": {
        "s3": (500, "InternalError", "We encountered an internal error. Please try again."),
        "query": (500, "InternalFailure", "An internal error occurred."),
        "ec2": (500, "InternalError", "An internal error has occurred."),
        "json": (500, "InternalFailure", "An internal error occurred."),
    },
}


@dataclass(frozen=True)
class ProxiedRequest:
    """What the proxy knows about one request: enough to name its operation and answer in its protocol."""

    method: str
    path: str  # with the query string
    body: bytes
    service: str  # the SigV4 signing name ("s3" for S3 Control too), corrected for S3 Control
    operation: str | None  # e.g. "GetBucketEncryption"; None when the proxy cannot tell
    protocol: Literal["s3", "query", "ec2", "json", "cbor", "rest"]

    @property
    def name(self) -> str:
        """``service:Operation`` (``s3:GetBucketEncryption``), or ``service:METHOD /path``."""
        return f"{self.service}:{self.operation or self.method + ' ' + urlsplit(self.path).path}"

    @property
    def key(self) -> bytes:
        """The same logical request on every retry (signatures and dates differ; this does not)."""
        return b"\0".join((self.method.encode(), self.path.encode(), hashlib.sha256(self.body).digest()))


def identify(method: str, path: str, headers: Any, body: bytes) -> ProxiedRequest:
    """Name a request's service, operation and wire protocol from what botocore sent."""
    scope = _CREDENTIAL_SCOPE.search(headers.get("Authorization", ""))
    service = scope.group(1) if scope else "unknown"
    parts = urlsplit(path)
    query = parse_qs(parts.query, keep_blank_values=True)
    operation: str | None = None
    protocol: Literal["s3", "query", "ec2", "json", "cbor", "rest"]
    target = headers.get("X-Amz-Target")
    if parts.path.startswith("/v20180820/"):
        service, protocol = "s3control", "s3"
        if parts.path.rstrip("/").endswith("/configuration/publicAccessBlock"):
            operation = {"GET": "GetPublicAccessBlock", "PUT": "PutPublicAccessBlock"}.get(method)
    elif service == "s3":
        protocol = "s3"
        segments = [s for s in parts.path.split("/") if s]
        if not segments and method == "GET":
            operation = "ListBuckets"
        elif len(segments) == 1 and method == "GET":
            sub = next((S3_BUCKET_GETS[k] for k in query if k in S3_BUCKET_GETS), None)
            operation = sub or ("ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects")
    elif headers.get("smithy-protocol", "").lower() == "rpc-v2-cbor":
        protocol, operation = "cbor", parts.path.rstrip("/").rsplit("/", 1)[-1]
    elif target:
        protocol, operation = "json", target.rsplit(".", 1)[-1]
    elif headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode("utf-8", "replace"))
        protocol = "ec2" if service == "ec2" else "query"
        operation = (form.get("Action") or query.get("Action") or [None])[0]
    else:
        protocol = "rest"  # rest-json or rest-xml (route53, cloudfront, backup...): cannot tell
    return ProxiedRequest(method, path, body, service, operation, protocol)


def _cbor_text(text: str) -> bytes:
    data = text.encode()
    if len(data) < 24:
        return bytes([0x60 + len(data)]) + data
    return bytes([0x78, len(data)]) + data  # the messages here are shorter than 256 bytes


def error_response(
    request: ProxiedRequest, kind: str, request_id: str
) -> tuple[int, list[tuple[str, str]], bytes]:
    """The error AWS would send for ``kind`` in the request's protocol (status, headers, body)."""
    family = {"cbor": "json", "rest": "query"}.get(request.protocol, request.protocol)
    status, code, message = _ERRORS[kind][family]
    headers = [("x-amzn-RequestId", request_id)]
    if request.protocol == "s3":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<RequestId>{request_id}</RequestId><HostId>fault-proxy</HostId></Error>"
        ).encode()
        headers += [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
    elif request.protocol == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
    elif request.protocol in ("query", "rest"):
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
        if request.protocol == "rest":
            # rest-json reads the code from this header, rest-xml from the body: both get an AWS code.
            headers.append(("x-amzn-ErrorType", _ERRORS[kind]["json"][1]))
    elif request.protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        headers.append(("Content-Type", "application/x-amz-json-1.1"))
    else:  # cbor: a two-entry map of text strings
        body = b"\xa2" + _cbor_text("__type") + _cbor_text(code) + _cbor_text("message") + _cbor_text(message)
        headers += [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
    return status, headers, body


@dataclass(frozen=True)
class FaultRule:
    """Fault every request whose name matches ``operation`` (``s3:GetBucketEncryption``, ``s3:*``,
    ``*``): on every attempt (``times=None``, retries are exhausted) or on its first ``times`` attempts."""

    operation: str
    fault: FaultKind
    times: int | None = None

    def matches(self, name: str) -> bool:
        if self.operation == "*":
            return True
        if self.operation.endswith(":*"):
            return name.startswith(self.operation[:-1])
        return name == self.operation


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of ``upstream`` that injects faults into some requests.

    ``rate``: the fraction of requests answered with a transient fault (one of ``kinds``, chosen by the
    same hash), at most ``max_consecutive`` times in a row per request. ``rules`` fault named operations
    regardless of ``rate``. Counters say what was injected (``injected``: by kind,
    ``injected_by_operation``: by (operation, kind)) and how many requests were served.
    """

    def __init__(
        self,
        upstream: str,
        *,
        rate: float = 0.0,
        seed: int = 0,
        kinds: Iterable[FaultKind] = TRANSIENT,
        max_consecutive: int = 2,
        rules: Iterable[FaultRule] = (),
        max_connections: int = 64,
        timeout: float = 30.0,
        latency: float = 0.0,
    ) -> None:
        target = urlsplit(upstream)
        if target.scheme != "http" or target.hostname not in LOOPBACK_HOSTS or target.port is None:
            raise ValueError(f"the fault proxy only fronts a loopback http://host:port server: {upstream}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1: {rate}")
        self.upstream_host, self.upstream_port = target.hostname, target.port
        self.rate = rate
        self.seed = seed
        self.kinds: tuple[FaultKind, ...] = tuple(kinds)
        self.max_consecutive = max_consecutive
        self.rules = tuple(rules)
        self.timeout = timeout
        self.max_connections = max_connections
        self.injected: Counter[str] = Counter()
        self.injected_by_operation: Counter[tuple[str, str]] = Counter()
        self.requests = 0
        # Seconds added to every request before it is answered (in-region AWS: about 0.05), and when
        # the first and the last request arrived (time.monotonic()), for whole-process benchmarks.
        self.latency = latency
        self.first_request_at: float | None = None
        self.last_request_at: float | None = None
        self._attempts: Counter[bytes] = Counter()  # request key -> attempts seen
        self._streak: Counter[bytes] = Counter()  # request key -> faults in a row (random mode)
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fault proxy is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def injected_total(self) -> int:
        return sum(self.injected.values())

    def _draw(self, key: bytes, attempt: int, salt: bytes) -> float:
        digest = hashlib.blake2b(
            key + b"\0" + str(attempt).encode() + salt, key=str(self.seed).encode(), digest_size=8
        ).digest()
        return int.from_bytes(digest, "big") / 2**64

    def decide(self, request: ProxiedRequest) -> FaultKind | None:
        """The fault for this attempt of ``request``, or None to forward it. Counts what it decides."""
        key = request.key
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            now = time.monotonic()
            self.first_request_at = self.first_request_at if self.first_request_at is not None else now
            self.last_request_at = now
            self.requests += 1
            attempt = self._attempts[key]
            self._attempts[key] += 1
            fault: FaultKind | None = next(
                (
                    r.fault
                    for r in self.rules
                    if r.matches(request.name) and (r.times is None or attempt < r.times)
                ),
                None,
            )
            if fault is None and self.rate > 0 and self.kinds:
                if self._streak[key] < self.max_consecutive and self._draw(key, attempt, b"") < self.rate:
                    pick = int(self._draw(key, attempt, b"kind") * len(self.kinds))
                    fault = self.kinds[min(pick, len(self.kinds) - 1)]
                    self._streak[key] += 1
                else:
                    self._streak[key] = 0
            if fault is not None:
                self.injected[fault] += 1
                self.injected_by_operation[(request.name, fault)] += 1
            return fault

    def start(self) -> FaultProxy:
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    """One thread per client connection, at most ``max_connections`` at once (the accept loop waits)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], proxy: FaultProxy):
        self.proxy = proxy
        self._slots = threading.BoundedSemaphore(proxy.max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self._slots.acquire()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: botocore pools its connections, so do we
    server: _Server

    def setup(self) -> None:
        self.timeout = self.server.proxy.timeout  # an idle keep-alive connection ends its thread
        super().setup()
        self._upstream: http.client.HTTPConnection | None = None

    def finish(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the counters say what happened

    def _respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        if self.command == "HEAD":  # no body, but the length of the one a GET would have had
            length = next((v for n, v in headers if n.lower() == "content-length"), "0")
        else:
            length = str(len(body))
        self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        proxy = self.server.proxy
        for attempt in (1, 2):  # once more on a fresh connection if moto closed the kept-alive one
            if self._upstream is None:
                self._upstream = http.client.HTTPConnection(
                    proxy.upstream_host, proxy.upstream_port, timeout=proxy.timeout
                )
            try:
                self._upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in self.headers.items():  # the client's Host too: SigV4 signed it
                    if name.lower() not in HOP_BY_HOP:
                        self._upstream.putheader(name, value)
                self._upstream.endheaders(body or None)
                response = self._upstream.getresponse()
                data = response.read()
                if response.will_close:
                    self._upstream.close()
                    self._upstream = None
                return response.status, response.getheaders(), data
            except (ConnectionError, http.client.HTTPException):
                self._upstream.close()
                self._upstream = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _handle(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._respond(501, [], b"the fault proxy does not take chunked request bodies")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._respond(413, [], b"request body too large for the fault proxy")
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        request = identify(self.command, self.path, self.headers, body)
        fault = self.server.proxy.decide(request)
        if fault in TRANSIENT:
            request_id = f"fault-{uuid.uuid4().hex[:16]}"
            self._respond(*error_response(request, fault, request_id))
            return
        try:
            status, headers, data = self._forward(body)
        except (OSError, http.client.HTTPException) as exc:
            self._respond(502, [("Content-Type", "text/plain")], f"upstream failed: {exc}".encode())
            return
        if fault == "truncate":
            data = data[: len(data) // 2]
        elif fault == "garble":
            data = b"\x00\xffgarbled\x00" + bytes(reversed(data))
        self._respond(status, headers, data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle

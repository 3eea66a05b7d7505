"""The HTTPS endpoints collector family: what a browser and an attacker see of a public endpoint.

Two sources, one unit per URL: ``https.endpoint`` (an ``https://`` URL: its certificate chain and
expiry, the TLS versions it offers, its security headers and its CORS answer to a foreign origin)
and ``https.redirect`` (an ``http://`` URL: is plain HTTP sent on to HTTPS?). ``connect`` opens a
TCP connection (and for HTTPS a TLS handshake that accepts any certificate and any version): an
unreachable host, a timeout or a handshake that cannot succeed at all makes every evidence type of
the unit an ``error`` record naming the cause. An invalid certificate is a finding, not an error.

The collector sends no credentials: its "permissions" are the network requests it makes, and the
policy lists them for the firewall (egress) and the endpoint's owners.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from collectors.core import CallRecorder, Failed, Found, Outcome, TargetUnavailable, one_line
from collectors.core.family import Family
from evidence.errors import ConfigError
from evidence.family import ConnectionSpec, DemoEstate, Setting, Unit
from evidence.records import ApiCall, SourceError
from evidence.registry import ApiPermission

_REQUEST = re.compile(r"(tls:handshake|https:(GET|HEAD|OPTIONS)|http:(GET|HEAD))")
T = TypeVar("T")

CONNECT = ApiPermission("tcp", "connect", "tls:handshake")
PLAIN_CONNECT = ApiPermission("tcp", "connect", "http:GET")
PROBE_HANDSHAKE = ApiPermission("tls", "handshake (any certificate)", "tls:handshake")

DEFAULT_FOREIGN_ORIGIN = "https://evidence-cors-probe.invalid"
# HSTS preload asks for a year; 180 days is the floor most scanners (Mozilla Observatory) accept.
DEFAULT_HSTS_MIN_AGE = 15_552_000
DEFAULT_MIN_DAYS = 30  # renew a month ahead: enough to notice a broken automatic renewal


class RequestPermissions:
    """The requests the collector makes (``tls:handshake``, ``https:GET``, ``http:GET``): no
    credentials; the "policy" is the egress the collector needs and the requests it sends."""

    name = "network requests"
    media_type = "application/json"

    def check(self, permission: str) -> str | None:
        return (
            None
            if _REQUEST.fullmatch(permission)
            else "not a read-only request (tls:handshake, https:GET...)"
        )

    def render(self, permissions: Sequence[str]) -> str:
        chosen = sorted(set(permissions))
        egress = []
        if any(p.startswith(("tls:", "https:")) for p in chosen):
            egress.append("tcp to each configured https:// URL's port")
        if any(p.startswith("http:") for p in chosen):
            egress.append("tcp to each configured http:// URL's port")
        return (
            json.dumps(
                {
                    "credentials": "none: the collector sends no token, cookie or client certificate",
                    "egress": egress,
                    "requests": chosen,
                },
                indent=2,
            )
            + "\n"
        )


@dataclass(frozen=True)
class HttpsConfig:
    urls: tuple[str, ...]  # https:// endpoints
    http_urls: tuple[str, ...]  # http:// URLs that must redirect to HTTPS
    ca_file: str | None = None  # trust anchors for the chain check; None: the system's
    timeout: float = 5.0
    min_days: int = DEFAULT_MIN_DAYS
    hsts_min_age: int = DEFAULT_HSTS_MIN_AGE
    foreign_origin: str = DEFAULT_FOREIGN_ORIGIN
    concurrency: int = 4


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return parts.hostname or "", parts.port or default


def _derived_http(url: str) -> str | None:
    """The plain-HTTP twin of an https:// URL on the default port (http://host/path); None for a URL
    on another port, whose plain twin cannot be guessed (name it in ``http_urls``)."""
    parts = urlsplit(url)
    if parts.port not in (None, 443):
        return None
    return f"http://{parts.hostname}{parts.path or '/'}"


def permissive_context() -> ssl.SSLContext:
    """A client context that completes a handshake with anything that speaks TLS (any certificate,
    TLS 1.0 upwards): for reading what the server offers, never for trusting it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.set_ciphers("ALL:@SECLEVEL=0")
    return context


def _failure(exc: BaseException) -> tuple[str, str]:
    """(kind, code) of a network failure, named after its cause."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return "unreachable", "Timeout"
    if isinstance(exc, socket.gaierror):
        return "unreachable", "NameResolutionFailed"
    if isinstance(exc, ConnectionRefusedError):
        return "unreachable", "ConnectionRefused"
    if isinstance(exc, ssl.SSLError):
        return "unavailable", "TLSHandshakeFailed"
    if isinstance(exc, ConnectionResetError):
        return "unavailable", "ConnectionReset"
    return "unreachable", type(exc).__name__


class HttpsRecorder(CallRecorder):
    def run(self, api: ApiPermission, params: Mapping[str, Any], action: Callable[[], T]) -> Outcome:
        """Run one network exchange; a network or TLS failure is a ``Failed`` naming its cause."""
        started = time.perf_counter()
        try:
            value = action()
        except (OSError, ssl.SSLError) as exc:
            kind, code = _failure(exc)
            self.record(
                ApiCall(service=api.service, operation=api.operation, params=dict(params), error_code=code)
            )
            detail = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
            return Failed(
                kind,  # type: ignore[arg-type]
                SourceError(
                    code=code, message=one_line(f"{params.get('url', '')}: {detail}"), operation=api.key
                ),
            )
        status = getattr(value, "status", None) if not isinstance(value, dict) else value.get("status")
        self.record(
            ApiCall(
                service=api.service,
                operation=api.operation,
                params={**params, "ms": round((time.perf_counter() - started) * 1000, 1)},
                http_status=status if isinstance(status, int) else None,
            )
        )
        return Found(value)


@dataclass(frozen=True)
class Endpoint:
    """A unit's connection: the URL, where it answers, and the configuration's thresholds."""

    url: str
    host: str
    port: int
    config: HttpsConfig


def handshake(
    host: str, port: int, context: ssl.SSLContext, timeout: float, server_hostname: str | None
) -> dict[str, Any]:
    """One TLS handshake: the version, the cipher and the leaf certificate (DER)."""
    with (
        socket.create_connection((host, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        return {
            "version": tls.version(),
            "cipher": (tls.cipher() or ("",))[0],
            "der": tls.getpeercert(True),
        }


class HttpsFamily(Family[Endpoint]):
    name = "https"
    title = "HTTPS endpoints"
    connection = ConnectionSpec(
        conn_type="http",
        default_conn_id="https_endpoints_default",
        description=(
            "public endpoints by URL; the Airflow connection's host (schema https) gives one, its extra "
            "may list more under 'urls' and the plain-HTTP URLs under 'http_urls'"
        ),
        settings=(
            Setting(
                "urls",
                "https:// endpoint to check (repeat)",
                env="EVIDENCE_HTTPS_URLS",
                flags=("--url",),
                multiple=True,
            ),
            Setting("host", "one endpoint's host (an Airflow http connection's host field): https://host/"),
            Setting(
                "http_urls",
                "http:// URL that must redirect to HTTPS (repeat); default: each https URL on port 443",
                env="EVIDENCE_HTTPS_HTTP_URLS",
                flags=("--http-url",),
                multiple=True,
            ),
            Setting(
                "ca_file",
                "CA bundle that anchors the chain check (default: the system's)",
                env="EVIDENCE_HTTPS_CA_FILE",
                flags=("--ca-file",),
            ),
            Setting("timeout", "seconds to wait for an endpoint", env="EVIDENCE_HTTPS_TIMEOUT", kind="float"),
            Setting(
                "min_days",
                "days a certificate must still be valid",
                env="EVIDENCE_HTTPS_MIN_DAYS",
                flags=("--min-days",),
                kind="int",
            ),
            Setting(
                "hsts_min_age",
                "smallest accepted HSTS max-age, seconds",
                env="EVIDENCE_HTTPS_HSTS_MIN_AGE",
                kind="int",
            ),
            Setting("foreign_origin", "the Origin sent to probe CORS", env="EVIDENCE_HTTPS_FOREIGN_ORIGIN"),
        ),
    )
    permission_model = RequestPermissions()
    modules = ("collectors.https.endpoint", "collectors.https.redirect")

    def configure(self, settings: Mapping[str, Any]) -> HttpsConfig:
        urls = tuple(str(u) for u in settings.get("urls") or ())
        http_urls = tuple(str(u) for u in settings.get("http_urls") or ())
        if not urls and settings.get("host"):  # an Airflow http connection's host field
            host = str(settings["host"])
            urls = (host if "://" in host else f"https://{host}/",)
        if not urls and not http_urls:
            raise ConfigError("https: set --url or EVIDENCE_HTTPS_URLS (https://host[:port]/path)")
        bad = [u for u in urls if urlsplit(u).scheme != "https" or not urlsplit(u).hostname]
        bad += [u for u in http_urls if urlsplit(u).scheme != "http" or not urlsplit(u).hostname]
        if bad:
            raise ConfigError(f"https: not an https:// (urls) or http:// (http_urls) URL: {', '.join(bad)}")
        if not http_urls:
            http_urls = tuple(d for u in urls if (d := _derived_http(u)))
        return HttpsConfig(
            urls=urls,
            http_urls=http_urls,
            ca_file=settings.get("ca_file") or None,
            timeout=float(settings.get("timeout") or 5.0),
            min_days=int(settings.get("min_days") or DEFAULT_MIN_DAYS),
            hsts_min_age=int(settings.get("hsts_min_age") or DEFAULT_HSTS_MIN_AGE),
            foreign_origin=str(settings.get("foreign_origin") or DEFAULT_FOREIGN_ORIGIN),
        )

    def plan(
        self,
        config: HttpsConfig,
        *,
        sources: Collection[str] | None = None,
        types: Collection[str] | None = None,
    ) -> list[Unit]:
        chosen, only = self.resolve_sources(sources, types)
        units = []
        for source in chosen:
            urls = config.http_urls if source.name == "https.redirect" else config.urls
            own = tuple(t for t in only if t.startswith(source.name + "."))
            units += [Unit(self.name, source.name, (("url", url),), own) for url in urls]
        return units

    def recorder(self) -> HttpsRecorder:
        return HttpsRecorder()

    def connect(self, opened: HttpsConfig, unit: Unit, recorder: Any) -> tuple[Endpoint, dict[str, str]]:
        url = unit.scope_dict["url"]
        host, port = host_port(url)
        target = {"url": url}
        if unit.source == "https.redirect":
            outcome = recorder.run(
                PLAIN_CONNECT,
                {"url": url},
                lambda: socket.create_connection((host, port), timeout=opened.timeout).close(),
            )
        else:
            outcome = recorder.run(
                PROBE_HANDSHAKE,
                {"url": url},
                lambda: handshake(host, port, permissive_context(), opened.timeout, host),
            )
        if isinstance(outcome, Failed):
            raise TargetUnavailable(target, outcome.error)
        return Endpoint(url=url, host=host, port=port, config=opened), target

    def demo(self) -> AbstractContextManager[DemoEstate]:
        return _demo()


@contextmanager
def _demo() -> Iterator[DemoEstate]:
    from collectors.https.demo import demo_endpoints

    with demo_endpoints() as estate:
        yield estate


HTTPS = HttpsFamily()

"""https.endpoint: one https:// endpoint as a browser and a scanner see it, read once per unit.

``fetch`` makes a verifying handshake (the chain against the configured or system trust anchors, and
the name), reads the leaf certificate, tries each TLS version on its own (1.0 to 1.3), and sends one
GET with a foreign ``Origin`` (the response's security headers and CORS answer). Each evidence type
below is a pure function of the snapshot, fed recorded answers in the unit tests.
"""

from __future__ import annotations

import http.client
import re
import ssl
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from collectors.core import Failed, Found, Outcome, Snapshot, failed_reason
from collectors.core.family import FetchContext
from collectors.core.timestamps import iso
from collectors.https.family import HTTPS, Endpoint, handshake, permissive_context
from evidence.registry import ApiPermission, Row

COLLECTOR = "https.endpoint"

VERIFY = ApiPermission("tls", "handshake (verify chain and name)", "tls:handshake")
VERSIONS = ApiPermission("tls", "handshake (one TLS version)", "tls:handshake")
GET = ApiPermission("https", "GET", "https:GET")

with warnings.catch_warnings():  # Python deprecates naming TLS 1.0/1.1: probing for them is the point
    warnings.simplefilter("ignore", DeprecationWarning)
    TLS_VERSIONS = {
        "tls1_0": ssl.TLSVersion.TLSv1,
        "tls1_1": ssl.TLSVersion.TLSv1_1,
        "tls1_2": ssl.TLSVersion.TLSv1_2,
        "tls1_3": ssl.TLSVersion.TLSv1_3,
    }
LEGACY = ("tls1_0", "tls1_1")
_MAX_AGE = re.compile(r"max-age\s*=\s*\"?(\d+)", re.I)
MAX_HEADER_CHARS = 512


@dataclass
class EndpointSnapshot(Snapshot):
    url: str = ""
    verified: Outcome | None = None  # Found({"ok": bool, "error": str|None})
    certificate: Outcome | None = None  # Found({"subject", "issuer", "not_after": datetime})
    versions: dict[str, Outcome] = field(default_factory=dict)  # tls1_x -> Found(offered: bool)
    response: Outcome | None = None  # Found({"status": int, "headers": {lower-case name: value}})
    min_days: int = 30
    hsts_min_age: int = 15_552_000
    foreign_origin: str = ""


def _verify(endpoint: Endpoint) -> dict[str, Any]:
    context = ssl.create_default_context(cafile=endpoint.config.ca_file)
    try:
        handshake(endpoint.host, endpoint.port, context, endpoint.config.timeout, endpoint.host)
    except ssl.SSLCertVerificationError as exc:
        return {"ok": False, "error": exc.verify_message or exc.reason or str(exc)}
    except ssl.CertificateError as exc:  # a name mismatch on older Pythons
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "error": None}


def _certificate(endpoint: Endpoint) -> dict[str, Any]:
    from cryptography import x509

    der = handshake(
        endpoint.host, endpoint.port, permissive_context(), endpoint.config.timeout, endpoint.host
    )["der"]
    cert = x509.load_der_x509_certificate(der)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_after": cert.not_valid_after_utc,
    }


def _offers(endpoint: Endpoint, version: ssl.TLSVersion) -> bool:
    """Does the server complete a handshake pinned to this one version? A refusal is an answer (no),
    not a failure; a timeout or a refused connection is."""
    context = permissive_context()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = version
            context.maximum_version = version
    except ValueError:  # this OpenSSL cannot even offer the version: say so, never guess
        raise ssl.SSLError(f"this client's OpenSSL cannot offer {version.name}") from None
    try:
        handshake(endpoint.host, endpoint.port, context, endpoint.config.timeout, endpoint.host)
    except ssl.SSLError as exc:
        return isinstance(exc, ssl.SSLCertVerificationError)  # a certificate complaint: it answered
    except ConnectionResetError:  # some servers reset instead of alerting
        return False
    return True


def _get(endpoint: Endpoint) -> dict[str, Any]:
    parts = endpoint.url.split("://", 1)[1]
    path = "/" + parts.split("/", 1)[1] if "/" in parts else "/"
    conn = http.client.HTTPSConnection(
        endpoint.host, endpoint.port, timeout=endpoint.config.timeout, context=permissive_context()
    )
    try:
        conn.request(
            "GET",
            path,
            headers={"Origin": endpoint.config.foreign_origin, "User-Agent": "evidence-collector"},
        )
        response = conn.getresponse()
        response.read(65536)
        headers = {
            k.lower(): v[:MAX_HEADER_CHARS] for k, v in response.getheaders() if k.lower() != "set-cookie"
        }
        return {"status": response.status, "headers": headers}
    finally:
        conn.close()


def fetch(ctx: FetchContext[Endpoint]) -> EndpointSnapshot:
    endpoint = ctx.connection
    recorder = ctx.recorder
    params = {"url": endpoint.url}
    snapshot = EndpointSnapshot(
        target=ctx.target,
        observed_at=ctx.observed_at,
        url=endpoint.url,
        min_days=endpoint.config.min_days,
        hsts_min_age=endpoint.config.hsts_min_age,
        foreign_origin=endpoint.config.foreign_origin,
    )
    snapshot.verified = recorder.run(VERIFY, params, lambda: _verify(endpoint))
    snapshot.certificate = recorder.run(
        VERIFY, {**params, "read": "leaf certificate"}, lambda: _certificate(endpoint)
    )
    for name, version in TLS_VERSIONS.items():
        snapshot.versions[name] = recorder.run(
            VERSIONS, {**params, "version": name}, lambda v=version: _offers(endpoint, v)
        )
    snapshot.response = recorder.run(
        GET, {**params, "origin": endpoint.config.foreign_origin}, lambda: _get(endpoint)
    )
    for api, outcome in ((VERIFY, snapshot.verified), (GET, snapshot.response)):
        if isinstance(outcome, Failed):
            snapshot.fail(api, outcome.error)
    snapshot.fail_if_uniform(VERSIONS, snapshot.versions.values())
    return snapshot


SOURCE = HTTPS.source(COLLECTOR, scope="url", description="an https:// endpoint's TLS and headers")(fetch)


def _row(snapshot: EndpointSnapshot, status: str, reason: str, **fields: Any) -> Row:
    return {"resource": snapshot.url, "region": None, "status": status, "reason": reason, **fields}


@SOURCE.evidence_type(
    "https.endpoint.certificate",
    title="The endpoint's certificate chain is valid for its name and does not expire soon",
    api_calls=(VERIFY,),
    resource_kind="endpoint",
)
def certificate(snapshot: EndpointSnapshot) -> list[Row]:
    """The chain must verify (trusted anchor, not expired, the endpoint's name) and the leaf must stay
    valid for ``min_days`` more days: an expiry noticed by the users is an outage."""
    fields: dict[str, Any] = dict.fromkeys(
        ("chain_valid", "verify_error", "subject", "issuer", "not_after", "days_to_expiry")
    )
    if isinstance(snapshot.certificate, Failed):
        return [
            _row(snapshot, "error", failed_reason(snapshot.certificate), certificate_valid=None, **fields)
        ]
    assert isinstance(snapshot.verified, Found) and isinstance(snapshot.certificate, Found)
    cert = snapshot.certificate.value
    not_after: datetime = cert["not_after"]
    days = (not_after - snapshot.observed_at).days
    fields.update(
        chain_valid=bool(snapshot.verified.value["ok"]),
        verify_error=snapshot.verified.value["error"],
        subject=cert["subject"],
        issuer=cert["issuer"],
        not_after=iso(not_after),
        days_to_expiry=days,
    )
    problems = []
    if not fields["chain_valid"]:
        problems.append(f"chain does not verify: {fields['verify_error']}")
    if days < snapshot.min_days:
        problems.append(
            f"expires in {days} days (< {snapshot.min_days})" if days >= 0 else f"expired {-days} days ago"
        )
    if problems:
        return [_row(snapshot, "fail", "; ".join(problems), certificate_valid=False, **fields)]
    reason = f"chain verifies ({fields['issuer']}); {days} days to expiry"
    return [_row(snapshot, "pass", reason, certificate_valid=True, **fields)]


@SOURCE.evidence_type(
    "https.endpoint.tls_versions",
    title="The endpoint offers no TLS version older than 1.2",
    api_calls=(VERSIONS,),
    resource_kind="endpoint",
)
def tls_versions(snapshot: EndpointSnapshot) -> list[Row]:
    """TLS 1.0 and 1.1 are deprecated (RFC 8996, PCI DSS): offering either fails."""
    fields: dict[str, Any] = {name: None for name in TLS_VERSIONS}
    unread = [n for n, o in snapshot.versions.items() if isinstance(o, Failed)]
    if unread:
        failed = snapshot.versions[unread[0]]
        assert isinstance(failed, Failed)
        reason = f"could not probe {', '.join(unread)}: {failed.error.code}: {failed.error.message}"
        return [_row(snapshot, "error", reason, legacy_tls_offered=None, **fields)]
    fields.update({n: bool(o.value) for n, o in snapshot.versions.items() if isinstance(o, Found)})
    offered = [n.replace("tls", "TLS ").replace("_", ".") for n in TLS_VERSIONS if fields[n]]
    legacy = [n.replace("tls", "TLS ").replace("_", ".") for n in LEGACY if fields[n]]
    if legacy:
        return [
            _row(
                snapshot,
                "fail",
                f"offers deprecated {', '.join(legacy)} (offered: {', '.join(offered)})",
                legacy_tls_offered=True,
                **fields,
            )
        ]
    if not offered:
        return [
            _row(
                snapshot,
                "fail",
                "completed no handshake at any TLS version",
                legacy_tls_offered=False,
                **fields,
            )
        ]
    return [_row(snapshot, "pass", f"offers {', '.join(offered)} only", legacy_tls_offered=False, **fields)]


def _headers(snapshot: EndpointSnapshot) -> dict[str, str]:
    assert isinstance(snapshot.response, Found)
    return dict(snapshot.response.value["headers"])


@SOURCE.evidence_type(
    "https.endpoint.security_headers",
    title="The endpoint sends HSTS, CSP and the other security headers",
    api_calls=(GET,),
    resource_kind="endpoint",
)
def security_headers(snapshot: EndpointSnapshot) -> list[Row]:
    """Required (OWASP Secure Headers): Strict-Transport-Security with max-age >= ``hsts_min_age``,
    Content-Security-Policy (enforced, not report-only), X-Content-Type-Options: nosniff, framing
    denied (X-Frame-Options DENY/SAMEORIGIN or CSP frame-ancestors), and a Referrer-Policy that is
    not unsafe-url."""
    if isinstance(snapshot.response, Failed):
        nulls = dict.fromkeys(
            (
                "headers_ok",
                "missing_headers",
                "hsts",
                "hsts_max_age",
                "content_security_policy",
                "x_content_type_options",
                "x_frame_options",
                "referrer_policy",
                "status_code",
            )
        )
        return [_row(snapshot, "error", failed_reason(snapshot.response), **nulls)]
    headers = _headers(snapshot)
    hsts = headers.get("strict-transport-security")
    found_age = _MAX_AGE.search(hsts or "")
    max_age = int(found_age.group(1)) if found_age else None
    csp = headers.get("content-security-policy")
    frame = headers.get("x-frame-options")
    referrer = headers.get("referrer-policy")
    missing = []
    if not hsts:
        missing.append("Strict-Transport-Security")
    elif max_age is None or max_age < snapshot.hsts_min_age:
        missing.append(f"Strict-Transport-Security max-age >= {snapshot.hsts_min_age} (is {max_age})")
    if not csp:
        missing.append(
            "Content-Security-Policy"
            + (" (only report-only)" if "content-security-policy-report-only" in headers else "")
        )
    if (headers.get("x-content-type-options") or "").strip().lower() != "nosniff":
        missing.append("X-Content-Type-Options: nosniff")
    if (frame or "").strip().upper() not in ("DENY", "SAMEORIGIN") and "frame-ancestors" not in (csp or ""):
        missing.append("X-Frame-Options or CSP frame-ancestors")
    if not referrer or referrer.strip().lower() == "unsafe-url":
        missing.append("Referrer-Policy")
    fields = {
        "missing_headers": ", ".join(missing) or None,
        "hsts": hsts,
        "hsts_max_age": max_age,
        "content_security_policy": csp,
        "x_content_type_options": headers.get("x-content-type-options"),
        "x_frame_options": frame,
        "referrer_policy": referrer,
        "status_code": snapshot.response.value["status"],  # type: ignore[union-attr]
    }
    if missing:
        return [_row(snapshot, "fail", "missing or weak: " + "; ".join(missing), headers_ok=False, **fields)]
    return [
        _row(
            snapshot,
            "pass",
            f"HSTS max-age {max_age}, CSP, nosniff, framing and referrer policies set",
            headers_ok=True,
            **fields,
        )
    ]


@SOURCE.evidence_type(
    "https.endpoint.cors",
    title="The endpoint does not grant a foreign origin access with credentials",
    api_calls=(GET,),
    resource_kind="endpoint",
)
def cors(snapshot: EndpointSnapshot) -> list[Row]:
    """The answer to a request from a foreign ``Origin``: no Access-Control-Allow-Origin, or one
    naming a specific other origin, passes; reflecting the foreign origin, ``null``, or a wildcard
    together with Access-Control-Allow-Credentials fails. A wildcard without credentials is a public
    resource and passes, said so in the reason."""
    if isinstance(snapshot.response, Failed):
        nulls = dict.fromkeys(
            ("cors_safe", "foreign_origin", "allow_origin", "allow_credentials", "status_code")
        )
        return [_row(snapshot, "error", failed_reason(snapshot.response), **nulls)]
    headers = _headers(snapshot)
    allow = headers.get("access-control-allow-origin")
    credentials = (headers.get("access-control-allow-credentials") or "").strip().lower() == "true"
    fields = {
        "foreign_origin": snapshot.foreign_origin,
        "allow_origin": allow,
        "allow_credentials": credentials,
        "status_code": snapshot.response.value["status"],  # type: ignore[union-attr]
    }
    origin = (allow or "").strip()
    if not origin:
        return [_row(snapshot, "pass", "no CORS grant to a foreign origin", cors_safe=True, **fields)]
    if origin == snapshot.foreign_origin:
        how = " with credentials" if credentials else ""
        return [_row(snapshot, "fail", f"reflects any Origin ({origin}){how}", cors_safe=False, **fields)]
    if origin == "null":
        return [
            _row(
                snapshot,
                "fail",
                "allows the 'null' origin (sandboxed pages, local files)",
                cors_safe=False,
                **fields,
            )
        ]
    if origin == "*" and credentials:
        return [
            _row(
                snapshot,
                "fail",
                "wildcard origin together with Access-Control-Allow-Credentials: true",
                cors_safe=False,
                **fields,
            )
        ]
    if origin == "*":
        return [
            _row(
                snapshot,
                "pass",
                "public resource: wildcard origin without credentials",
                cors_safe=True,
                **fields,
            )
        ]
    return [_row(snapshot, "pass", f"grants only {origin}", cors_safe=True, **fields)]

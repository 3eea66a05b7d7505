"""Unit tests of the https.endpoint and https.redirect mappings and the family's declarations
(recorded answers, no server)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from collectors.core import Failed, Found
from collectors.https.endpoint import EndpointSnapshot, certificate, cors, security_headers, tls_versions
from collectors.https.family import HTTPS
from collectors.https.redirect import RedirectSnapshot, http_to_https
from evidence.errors import ConfigError
from evidence.records import SourceError
from evidence.validation import schema_errors

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
URL = "https://shop.example/"
ORIGIN = "https://evidence-cors-probe.invalid"
GOOD_HEADERS = {
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "content-security-policy": "default-src 'self'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
}


def snap(
    *,
    verified: Any = None,
    not_after: datetime | None = None,
    versions: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> EndpointSnapshot:
    return EndpointSnapshot(
        target={"url": URL},
        observed_at=NOW,
        url=URL,
        verified=verified or Found({"ok": True, "error": None}),
        certificate=Found(
            {
                "subject": "CN=shop.example",
                "issuer": "CN=Test CA",
                "not_after": not_after or NOW + timedelta(days=90),
            }
        ),
        versions={
            k: Found(v)
            for k, v in (
                versions or {"tls1_0": False, "tls1_1": False, "tls1_2": True, "tls1_3": True}
            ).items()
        },
        response=Found({"status": 200, "headers": dict(GOOD_HEADERS if headers is None else headers)}),
        min_days=30,
        hsts_min_age=15_552_000,
        foreign_origin=ORIGIN,
    )


def only(rows: list[dict[str, Any]], type_id: str, url: str = URL) -> dict[str, Any]:
    assert len(rows) == 1
    assert schema_errors(type_id, {"evidence_type": type_id, "target": {"url": url}, "rows": rows}) == []
    return rows[0]


def test_certificate_valid_expiring_soon_and_unverified() -> None:
    good = only(certificate(snap()), "https.endpoint.certificate")
    assert good["status"] == "pass" and good["days_to_expiry"] == 90 and good["chain_valid"] is True
    soon = only(certificate(snap(not_after=NOW + timedelta(days=10))), "https.endpoint.certificate")
    assert soon["status"] == "fail" and "expires in 10 days (< 30)" in soon["reason"]
    expired = only(
        certificate(
            snap(
                verified=Found({"ok": False, "error": "certificate has expired"}),
                not_after=NOW - timedelta(days=3),
            )
        ),
        "https.endpoint.certificate",
    )
    assert expired["status"] == "fail" and "certificate has expired" in expired["reason"]
    assert "expired 3 days ago" in expired["reason"]
    selfsigned = only(
        certificate(snap(verified=Found({"ok": False, "error": "self-signed certificate"}))),
        "https.endpoint.certificate",
    )
    assert selfsigned["status"] == "fail" and selfsigned["verify_error"] == "self-signed certificate"


def test_tls_versions() -> None:
    assert only(tls_versions(snap()), "https.endpoint.tls_versions")["status"] == "pass"
    legacy = only(
        tls_versions(snap(versions={"tls1_0": True, "tls1_1": False, "tls1_2": True, "tls1_3": False})),
        "https.endpoint.tls_versions",
    )
    assert (
        legacy["status"] == "fail" and "TLS 1.0" in legacy["reason"] and legacy["legacy_tls_offered"] is True
    )
    probe = snap()
    probe.versions["tls1_1"] = Failed(
        "unreachable", SourceError(code="Timeout", message="slow", operation="tls")
    )
    assert only(tls_versions(probe), "https.endpoint.tls_versions")["status"] == "error"


@pytest.mark.parametrize(
    ("change", "missing"),
    [
        ({"strict-transport-security": None}, "Strict-Transport-Security"),
        ({"strict-transport-security": "max-age=300"}, "max-age >= 15552000 (is 300)"),
        ({"content-security-policy": None}, "Content-Security-Policy"),
        ({"x-content-type-options": None}, "X-Content-Type-Options"),
        ({"x-frame-options": None}, "X-Frame-Options or CSP frame-ancestors"),
        ({"referrer-policy": "unsafe-url"}, "Referrer-Policy"),
    ],
)
def test_each_missing_or_weak_header_fails(change: dict[str, str | None], missing: str) -> None:
    headers = {k: v for k, v in {**GOOD_HEADERS, **change}.items() if v is not None}
    row = only(security_headers(snap(headers=headers)), "https.endpoint.security_headers")
    assert row["status"] == "fail" and missing in row["reason"] and row["headers_ok"] is False


def test_headers_pass_and_frame_ancestors_replaces_x_frame_options() -> None:
    assert only(security_headers(snap()), "https.endpoint.security_headers")["status"] == "pass"
    headers = {k: v for k, v in GOOD_HEADERS.items() if k != "x-frame-options"}
    headers["content-security-policy"] = "default-src 'self'; frame-ancestors 'none'"
    assert (
        only(security_headers(snap(headers=headers)), "https.endpoint.security_headers")["status"] == "pass"
    )


@pytest.mark.parametrize(
    ("allow", "credentials", "status", "words"),
    [
        (None, None, "pass", "no CORS grant"),
        ("https://app.example", "true", "pass", "grants only https://app.example"),
        ("*", None, "pass", "public resource"),
        ("*", "true", "fail", "wildcard origin together with"),
        (ORIGIN, "true", "fail", "reflects any Origin"),
        ("null", None, "fail", "'null' origin"),
    ],
)
def test_cors_answer_to_a_foreign_origin(
    allow: str | None, credentials: str | None, status: str, words: str
) -> None:
    headers = dict(GOOD_HEADERS)
    if allow:
        headers["access-control-allow-origin"] = allow
    if credentials:
        headers["access-control-allow-credentials"] = credentials
    row = only(cors(snap(headers=headers)), "https.endpoint.cors")
    assert row["status"] == status and words in row["reason"] and row["foreign_origin"] == ORIGIN


@pytest.mark.parametrize(
    ("status", "location", "expected"),
    [
        (301, "https://shop.example/", "pass"),
        (308, "https://shop.example/login", "pass"),
        (302, "http://shop.example/", "fail"),
        (200, None, "fail"),
    ],
)
def test_http_to_https(status: int, location: str | None, expected: str) -> None:
    url = "http://shop.example/"
    snapshot = RedirectSnapshot(
        target={"url": url},
        observed_at=NOW,
        url=url,
        response=Found({"status": status, "location": location}),
    )
    row = only(http_to_https(snapshot), "https.redirect.http_to_https", url)
    assert row["status"] == expected and row["status_code"] == status


def test_configure_derives_plain_urls_on_the_default_port_only() -> None:
    config = HTTPS.configure({"urls": ["https://shop.example/cart", "https://api.example:8443/"]})
    assert config.http_urls == ("http://shop.example/cart",)
    explicit = HTTPS.configure({"urls": ["https://a.example/"], "http_urls": ["http://a.example:8080/"]})
    assert explicit.http_urls == ("http://a.example:8080/",)
    assert HTTPS.configure({"host": "shop.example"}).urls == ("https://shop.example/",)
    with pytest.raises(ConfigError, match="set --url"):
        HTTPS.configure({})
    with pytest.raises(ConfigError, match="not an https"):
        HTTPS.configure({"urls": ["http://shop.example/"]})
    units = HTTPS.plan(config)
    assert sorted((u.source, u.scope_dict["url"]) for u in units) == [
        ("https.endpoint", "https://api.example:8443/"),
        ("https.endpoint", "https://shop.example/cart"),
        ("https.redirect", "http://shop.example/cart"),
    ]


def test_policy_lists_requests_and_no_credentials() -> None:
    import json

    policy = json.loads(HTTPS.policy())
    assert policy["requests"] == ["http:GET", "https:GET", "tls:handshake"]
    assert policy["credentials"].startswith("none")
    assert HTTPS.permission_model.check("https:POST") is not None


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (TimeoutError("timed out"), "Timeout"),
        (socket.gaierror(-2, "Name or service not known"), "NameResolutionFailed"),
        (ConnectionRefusedError(111, "Connection refused"), "ConnectionRefused"),
        (
            __import__("ssl").SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"),
            "TLSHandshakeFailed",
        ),
        (ConnectionResetError(104, "reset"), "ConnectionReset"),
    ],
)
def test_network_failures_are_named_after_their_cause(exc: BaseException, code: str) -> None:
    from collectors.https.family import PROBE_HANDSHAKE, HttpsRecorder

    def fail() -> None:
        raise exc

    recorder = HttpsRecorder()
    outcome = recorder.run(PROBE_HANDSHAKE, {"url": "https://shop.example/"}, fail)
    assert isinstance(outcome, Failed) and outcome.error.code == code
    assert outcome.error.message.startswith("https://shop.example/: ")
    assert recorder.all_calls()[0].error_code == code

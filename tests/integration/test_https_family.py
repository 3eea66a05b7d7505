"""The HTTPS endpoints family against real TLS servers on loopback (Python's ssl over OpenSSL) with
certificates from a trustme CA: the demo estate (good, expired + TLS 1.0 + no headers + wildcard CORS
with credentials, self-signed + reflected Origin, redirect and no redirect), then the failures to
collect: nothing listening, a server that never answers, a plain-HTTP server on an https:// URL."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from collectors.https import FAMILY
from collectors.https.demo import (
    GOOD_HEADERS,
    Behaviour,
    LoopbackServer,
    TestCA,
    demo_endpoints,
    server_context,
)
from evidence.family import DemoEstate
from evidence.records import PreparedRecord, RunContext

pytestmark = pytest.mark.integration

ENDPOINT_TYPES = {
    "https.endpoint.certificate",
    "https.endpoint.tls_versions",
    "https.endpoint.security_headers",
    "https.endpoint.cors",
}


def collect(settings: dict[str, Any], *, run_gx: bool = False) -> list[PreparedRecord]:
    config = FAMILY.configure(FAMILY.connection.resolve({"timeout": 2, **settings}, environ={}))
    return [
        r for batch in FAMILY.collect(config, RunContext(run_id="https-test"), run_gx=run_gx) for r in batch
    ]


def rows(record: PreparedRecord) -> list[dict[str, Any]]:
    return list(json.loads(record.payload)["rows"])


@pytest.fixture(scope="module")
def estate() -> Iterator[tuple[DemoEstate, list[PreparedRecord]]]:
    with demo_endpoints() as demo:
        yield demo, collect(demo.settings, run_gx=True)


@pytest.fixture(scope="module")
def ca() -> Iterator[TestCA]:
    authority = TestCA()
    yield authority
    authority.close()


def test_the_demo_estate_passes_and_fails_as_configured(
    estate: tuple[DemoEstate, list[PreparedRecord]],
) -> None:
    demo, records = estate
    expectations = demo.extra["expectations"]
    assert {r.draft.evidence_type for r in records} == set(expectations)
    seen: dict[str, dict[str, str]] = {}
    for record in records:
        assert record.draft.status != "error", record.draft.reason
        assert record.draft.validation.schema_valid, record.draft.validation.schema_errors
        for row in rows(record):
            seen.setdefault(record.draft.evidence_type, {})[row["resource"]] = row["status"]
            if row["status"] == "fail":
                assert record.draft.status == "fail" and row["resource"] in record.draft.reason
        gx = record.draft.validation.gx
        if gx is not None:
            assert gx.success is (record.draft.status == "pass"), (record.draft.evidence_type, gx)
    for type_id, expected in expectations.items():
        for url in expected["passing"]:
            assert seen[type_id][url] == "pass", (type_id, url)
        for url in expected["failing"]:
            assert seen[type_id][url] == "fail", (type_id, url)


def test_findings_name_the_cause(estate: tuple[DemoEstate, list[PreparedRecord]]) -> None:
    _, records = estate
    reasons = " | ".join(row["reason"] for r in records for row in rows(r))
    for words in (
        "certificate has expired",
        "self-signed certificate",
        "offers deprecated TLS 1.0, TLS 1.1",
        "missing or weak: Strict-Transport-Security",
        "wildcard origin together with Access-Control-Allow-Credentials",
        "reflects any Origin",
        "served over plain HTTP with status 200",
    ):
        assert words in reasons


def test_a_certificate_close_to_expiry_fails_and_tls13_only_passes(ca: TestCA) -> None:
    import ssl

    context = server_context(*ca.leaf(days=10), only=ssl.TLSVersion.TLSv1_3)
    with LoopbackServer(Behaviour(headers=GOOD_HEADERS), context) as server:
        records = collect({"urls": [server.url], "ca_file": ca.ca_file})
    by_type = {r.draft.evidence_type: rows(r)[0] for r in records}
    assert by_type["https.endpoint.certificate"]["status"] == "fail"
    assert by_type["https.endpoint.certificate"]["days_to_expiry"] in (9, 10)
    assert by_type["https.endpoint.tls_versions"]["status"] == "pass"
    assert [
        k for k in ("tls1_0", "tls1_1", "tls1_2", "tls1_3") if by_type["https.endpoint.tls_versions"][k]
    ] == ["tls1_3"]


def _errors(records: list[PreparedRecord], types: set[str]) -> set[str]:
    assert {r.draft.evidence_type for r in records} == types
    assert {r.draft.status for r in records} == {"error"}
    return {r.draft.error.code for r in records if r.draft.error}


def test_nothing_listening_is_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    records = collect({"urls": [f"https://127.0.0.1:{port}/"], "http_urls": [f"http://127.0.0.1:{port}/"]})
    assert _errors(records, ENDPOINT_TYPES | {"https.redirect.http_to_https"}) == {"ConnectionRefused"}
    assert all(f"127.0.0.1:{port}" in (r.draft.error.message if r.draft.error else "") for r in records)


def test_a_server_that_never_answers_is_a_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts connections into the backlog, never speaks
        port = silent.getsockname()[1]
        records = collect({"urls": [f"https://127.0.0.1:{port}/"], "http_urls": [], "timeout": 0.5})
    assert _errors(records, ENDPOINT_TYPES) == {"Timeout"}


def test_plain_http_on_an_https_url_is_a_handshake_failure() -> None:
    with LoopbackServer(Behaviour()) as plain:
        records = collect({"urls": [f"https://127.0.0.1:{plain.port}/"], "http_urls": []})
    assert _errors(records, ENDPOINT_TYPES) == {"TLSHandshakeFailed"}
    assert all("TLS" in r.draft.reason or "SSL" in r.draft.reason for r in records)

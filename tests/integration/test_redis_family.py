"""The Redis family against real ``redis-server`` processes on free loopback ports, each with its own
configuration: the demo estate (hardened and careless), a server that wants a password, an ACL user
without CONFIG, a TLS-only server with a CA from trustme, and a port where nothing listens."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors.redis import FAMILY
from collectors.redis.demo import RedisProcess, demo_servers, free_port
from evidence.family import DemoEstate
from evidence.records import PreparedRecord, RunContext

pytestmark = pytest.mark.integration

TYPES = {
    "redis.server.persistence",
    "redis.server.memory_limit",
    "redis.server.eviction_policy",
    "redis.server.access_control",
    "redis.server.tls",
}
ADMIN_PASSWORD = "admin-pw-not-in-evidence"


def collect(settings: dict[str, Any], *, run_gx: bool = False) -> list[PreparedRecord]:
    config = FAMILY.configure(FAMILY.connection.resolve(settings, environ={}))
    return [
        r for batch in FAMILY.collect(config, RunContext(run_id="redis-test"), run_gx=run_gx) for r in batch
    ]


def rows(record: PreparedRecord) -> list[dict[str, Any]]:
    return list(json.loads(record.payload)["rows"])


@pytest.fixture(scope="module")
def estate() -> Iterator[tuple[DemoEstate, list[PreparedRecord]]]:
    with demo_servers() as demo:
        yield demo, collect(demo.settings, run_gx=True)


@pytest.fixture(scope="module")
def guarded() -> Iterator[RedisProcess]:
    """A server that wants a password, with one ACL user lacking CONFIG."""
    with RedisProcess(
        [
            f"requirepass {ADMIN_PASSWORD}",
            "user no-config on >weak-pw-1 resetchannels +ping +info",
        ]
    ) as server:
        yield server


def test_the_demo_estate_passes_and_fails_as_seeded(estate: tuple[DemoEstate, list[PreparedRecord]]) -> None:
    demo, records = estate
    assert {r.draft.evidence_type for r in records} == TYPES
    expectations = demo.extra["expectations"]
    for record in records:
        assert record.draft.status != "error", record.draft.reason
        assert record.draft.validation.schema_valid, record.draft.validation.schema_errors
        expected = expectations[record.draft.evidence_type]
        for row in rows(record):
            if row["resource"] in expected["passing"]:
                assert row["status"] == "pass", row
            elif row["resource"] in expected["failing"]:
                assert row["status"] == "fail", row
                assert row["resource"] in record.draft.reason
        if record.draft.status == "fail" and record.draft.validation.gx is not None:
            assert not record.draft.validation.gx.success, record.draft.evidence_type
        if record.draft.status == "pass" and record.draft.validation.gx is not None:
            assert record.draft.validation.gx.success, record.draft.validation.gx.failed_expectations


def test_renamed_commands_are_seen(estate: tuple[DemoEstate, list[PreparedRecord]]) -> None:
    demo, records = estate
    access = [r for r in records if r.draft.evidence_type == "redis.server.access_control"]
    by_server = {row["resource"]: row for r in access for row in rows(r)}
    hardened = next(iter(demo.extra["expectations"]["redis.server.persistence"]["passing"]))
    dangerous = set(by_server[hardened]["dangerous_commands"].split(","))
    assert not dangerous & {"FLUSHALL", "FLUSHDB", "DEBUG"}  # renamed away in its configuration
    assert "KEYS" in dangerous


def test_no_password_reaches_the_evidence(estate: tuple[DemoEstate, list[PreparedRecord]]) -> None:
    demo, records = estate
    password = demo.settings["password"]
    for record in records:
        blobs = [record.payload, *record.attachments.values(), record.draft.model_dump_json().encode()]
        assert not any(password.encode() in blob for blob in blobs)


def test_an_unreachable_server_is_an_error_record_naming_it() -> None:
    port = free_port()
    records = collect({"urls": [f"redis://127.0.0.1:{port}"]})
    assert {r.draft.evidence_type for r in records} == TYPES
    for record in records:
        assert record.draft.status == "error"
        assert record.draft.error is not None and record.draft.error.code == "ConnectionError"
        assert f"127.0.0.1:{port}" in record.draft.error.message
        assert record.draft.target == {"server": f"127.0.0.1:{port}"}


def test_a_server_that_wants_a_password_gives_noauth(guarded: RedisProcess) -> None:
    records = collect({"urls": [guarded.url]})
    assert {r.draft.status for r in records} == {"error"}
    assert {r.draft.error.code for r in records if r.draft.error} == {"NOAUTH"}


def test_a_wrong_password_gives_wrongpass(guarded: RedisProcess) -> None:
    records = collect({"urls": [guarded.url], "username": "no-config", "password": "not-the-password"})
    assert {r.draft.error.code for r in records if r.draft.error} == {"WRONGPASS"}
    assert all("not-the-password" not in r.draft.model_dump_json() for r in records)


def test_a_user_without_config_is_an_error_naming_the_acl_rule(guarded: RedisProcess) -> None:
    records = collect({"urls": [guarded.url], "username": "no-config", "password": "weak-pw-1"})
    for record in records:
        assert record.draft.status == "error", record.draft.reason
        assert record.draft.error is not None
        assert record.draft.error.code == "NOPERM" and record.draft.error.permission == "+config|get"
        assert "+config|get" in record.draft.reason


def test_the_generated_acl_line_is_enough(guarded: RedisProcess) -> None:
    import redis

    line = next(x for x in FAMILY.policy().splitlines() if x.startswith("ACL SETUSER"))
    admin = redis.Redis.from_url(guarded.url, password=ADMIN_PASSWORD)
    try:
        admin.execute_command(*line.replace(">CHANGE-ME", ">collector-pw-1").split())
    finally:
        admin.close()
    records = collect({"urls": [guarded.url], "username": "evidence-collector", "password": "collector-pw-1"})
    assert {r.draft.evidence_type for r in records} == TYPES
    assert all(r.draft.status != "error" for r in records), [r.draft.reason for r in records]
    (access,) = [r for r in records if r.draft.evidence_type == "redis.server.access_control"]
    assert access.draft.status == "pass"  # the anonymous probe got NOAUTH


def test_a_tls_only_server_passes_the_tls_check(tmp_path: Path) -> None:
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    with RedisProcess(['save ""'], tls_files=(str(cert), str(key), str(ca_file))) as server:
        records = collect({"urls": [server.url], "ca_file": str(ca_file)})
    (record,) = [r for r in records if r.draft.evidence_type == "redis.server.tls"]
    (row,) = rows(record)
    assert row["status"] == "pass", row
    assert row["connected_with_tls"] is True and row["port"] == 0 and row["tls_port"] == server.tls_port

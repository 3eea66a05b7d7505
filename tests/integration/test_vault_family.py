"""The Vault family against real OpenBao dev servers on loopback: the mixed demo estate (compliant and
non-compliant configuration side by side), a bare server (no audit device), the generated
least-privilege policy, AppRole, a denied endpoint, an expired token, a sealed and an unreachable
server, and a canary search for every secret value and credential in records, blobs, the store and logs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors.core.runner import collect_all
from collectors.vault.demo import DevServer, demo_estate
from collectors.vault.family import VAULT, VaultConfig
from evidence.records import PreparedRecord, RunContext
from tests.support.servers import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def estate() -> Iterator[Any]:
    with demo_estate() as running:
        yield running


@pytest.fixture(scope="module")
def bare() -> Iterator[DevServer]:
    server = DevServer.start(audit=False)
    try:
        yield server
    finally:
        server.stop()


def collect(
    url: str, token: str | None = None, *, run_gx: bool = False, **extra: Any
) -> list[PreparedRecord]:
    config = VAULT.configure(VAULT.connection.resolve({"url": url, "token": token, **extra}, environ={}))
    return collect_all(VAULT, config, RunContext(run_id="vault-test"), run_gx=run_gx)


def by_type(records: list[PreparedRecord]) -> dict[str, PreparedRecord]:
    return {r.draft.evidence_type: r for r in records}


def rows(record: PreparedRecord) -> dict[str, dict[str, Any]]:
    return {row["resource"]: row for row in json.loads(record.payload)["rows"]}


def token_with(server: DevServer, policy: str, name: str, ttl: str = "1h") -> str:
    client = server.client()
    client.sys.create_or_update_policy(name, policy)
    return str(
        client.auth.token.create(policies=[name], ttl=ttl, no_default_policy=True)["auth"]["client_token"]
    )


def test_every_type_judges_the_mixed_estate(estate: Any) -> None:
    records = by_type(collect(estate.settings["url"], estate.settings["token"], run_gx=True))
    assert set(records) == {t.id for t in VAULT.evidence_types()}
    for type_id, (passing, failing) in estate.extra["expectations"].items():
        record = records[type_id]
        judged = rows(record)
        assert record.draft.status in ("pass", "fail"), (type_id, record.draft.reason)
        for name, want in [*((p, "pass") for p in passing), *((f, "fail") for f in failing)]:
            chosen = list(judged.values()) if name == "*" else [judged[name]]
            assert [r["status"] for r in chosen] == [want], (type_id, name, chosen)
        assert record.draft.status == ("fail" if failing else "pass"), (type_id, record.draft.reason)
        assert record.draft.validation.schema_valid
    # Every call behind a record is in its provenance, with its HTTP status and Vault's request id.
    calls = records["vault.kv.secret_metadata"].draft.provenance.api_calls
    assert {c.operation for c in calls} >= {"GET /v1/sys/mounts", "GET /v1/{mount}/metadata/{path}"}
    assert all(c.http_status == 200 and c.request_id for c in calls if c.operation != "GET /v1/sys/mounts")
    assert records["vault.sys.health"].draft.target["cluster"].startswith("vault-cluster")


def test_a_bare_server_fails_audit_logging_and_tight_limits_fail_rotation(
    bare: DevServer, estate: Any
) -> None:
    records = by_type(collect(bare.url, bare.root_token))
    assert records["vault.sys.audit_devices"].draft.status == "fail"
    assert "no audit device" in records["vault.sys.audit_devices"].draft.reason
    assert records["vault.sys.auth_methods"].draft.status == "fail"  # token auth at the 768 h default
    tight = by_type(
        collect(
            estate.settings["url"], estate.settings["token"], key_max_age_days=1e-9, secret_max_age_days=1e-9
        )
    )
    assert tight["vault.sys.key_status"].draft.status == "fail"
    stale = rows(tight["vault.kv.secret_metadata"])
    assert {r["status"] for r in stale.values()} == {"fail"} and "not rotated" in next(iter(stale.values()))[
        "reason"
    ]


def test_the_generated_least_privilege_policy_is_enough(estate: Any) -> None:
    server = estate.extra["server"]
    token = token_with(server, VAULT.policy(), "evidence-collector")
    least = by_type(collect(server.url, token))
    full = by_type(collect(server.url, server.root_token))
    assert {t: r.draft.status for t, r in least.items()} == {t: r.draft.status for t, r in full.items()}
    assert "error" not in {r.draft.status for r in least.values()}


def test_a_token_denied_one_endpoint_gives_one_error_record_naming_the_capability(estate: Any) -> None:
    server = estate.extra["server"]
    policy = VAULT.policy().replace('path "sys/audit" {', 'path "sys/not-audit" {')
    records = by_type(collect(server.url, token_with(server, policy, "no-audit")))
    audit = records["vault.sys.audit_devices"].draft
    assert audit.status == "error" and audit.error is not None
    assert audit.error.permission == "sys/audit:read,sudo" and audit.error.code == "PermissionDenied"
    assert "missing permission sys/audit:read,sudo" in audit.reason
    assert [t for t, r in records.items() if r.draft.status == "error"] == ["vault.sys.audit_devices"]


def test_an_expired_token_is_an_error_record_for_every_type(estate: Any) -> None:
    server = estate.extra["server"]
    token = token_with(server, VAULT.policy(), "short-lived", ttl="1s")
    time.sleep(2.2)
    records = collect(server.url, token)
    assert len(records) == len(VAULT.evidence_types())
    for record in records:
        assert record.draft.status == "error" and record.draft.error is not None
        assert record.draft.error.code == "TokenRejected", record.draft.error
        assert "expired, revoked or invalid" in record.draft.reason


def test_an_unreachable_server_is_an_error_record(estate: Any) -> None:
    records = collect(f"http://127.0.0.1:{free_port()}", "any-token")
    assert {r.draft.status for r in records} == {"error"}
    assert {r.draft.error.code for r in records if r.draft.error} == {"Unreachable"}


def test_a_sealed_server_is_an_error_record() -> None:
    server = DevServer.start(audit=False)
    try:
        server.client().sys.seal()
        records = collect(server.url, server.root_token)
    finally:
        server.stop()
    assert {r.draft.status for r in records} == {"error"}
    assert {r.draft.error.code for r in records if r.draft.error} == {"Sealed"}
    assert "is sealed" in records[0].draft.reason


def test_approle_login_collects_with_the_generated_policy(estate: Any) -> None:
    server = estate.extra["server"]
    client = server.client()
    client.sys.create_or_update_policy("evidence-collector", VAULT.policy())
    if "approle/" not in client.sys.list_auth_methods()["data"]:
        client.sys.enable_auth_method("approle")
    client.auth.approle.create_or_update_approle(
        "evidence", token_policies=["evidence-collector"], token_ttl="10m"
    )
    role_id = client.auth.approle.read_role_id("evidence")["data"]["role_id"]
    secret_id = client.auth.approle.generate_secret_id("evidence")["data"]["secret_id"]
    # As the Airflow Vault connection hands them over: login = role_id, password (-> token) = secret_id.
    config = VAULT.configure(
        VAULT.connection.resolve({"url": server.url, "role_id": role_id, "token": secret_id}, environ={})
    )
    assert isinstance(config, VaultConfig) and config.token is None and config.secret_id == secret_id
    records = collect_all(VAULT, config, RunContext(run_id="approle"), run_gx=False)
    assert "error" not in {r.draft.status for r in records}
    logins = [c for r in records for c in r.draft.provenance.api_calls if "login" in c.operation]
    assert not logins or all(secret_id not in json.dumps(c.params) for c in logins)
    bad = VAULT.configure(
        VAULT.connection.resolve({"url": server.url, "role_id": role_id, "secret_id": "wrong"}, environ={})
    )
    refused = collect_all(VAULT, bad, RunContext(run_id="approle-bad"), run_gx=False)
    assert {r.draft.error.code for r in refused if r.draft.error} == {"LoginFailed"}


def test_no_secret_value_or_credential_reaches_records_blobs_store_or_logs(
    estate: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from evidence.store.config import open_store

    server = estate.extra["server"]
    canaries = [*estate.extra["secret_values"].values(), server.root_token]
    caplog.set_level(logging.DEBUG)
    records = collect(server.url, server.root_token, run_gx=True)
    judged = rows(by_type(records)["vault.kv.secret_metadata"])
    assert {"secret/app/db", "secret/app/api"} <= set(judged)  # the secrets were seen (their metadata)
    assert judged["secret/app/db"]["current_version"] == 2
    store_url = f"sqlite:///{tmp_path / 'evidence.db'}"
    with open_store(store_url, environ={}) as store:
        store.append_batch(records)
    written = [r.payload for r in records]
    written += [blob for r in records for blob in r.attachments.values()]
    written += [r.draft.model_dump_json().encode() for r in records]
    written += [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    written.append(caplog.text.encode())
    for value in canaries:
        for blob in written:
            assert value.encode() not in blob, "a secret value or token leaked"
    # The collector never called a data endpoint (the only one that returns values).
    operations = {c.operation for r in records for c in r.draft.provenance.api_calls}
    assert not [o for o in operations if "/data/" in o]

"""Unit tests of the postgres family's mappings (recorded answers, no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from collectors.core import Failed, Found
from collectors.pgsql.basebackup import BackupsSnapshot, verified
from collectors.pgsql.family import POSTGRES, PostgresConfig
from collectors.pgsql.pooler import PoolerSnapshot, pgbouncer
from collectors.pgsql.server import ServerSnapshot, connections, replication, ssl
from evidence.records import SourceError
from evidence.validation import schema_errors

NOW = datetime(2026, 1, 2, tzinfo=UTC)
CFG = PostgresConfig()


def snap(**kw: object) -> ServerSnapshot:
    base: dict[str, object] = {
        "target": {"server": "db:5432"},
        "observed_at": NOW,
        "server": "db:5432",
        "config": CFG,
    }
    base.update(kw)
    return ServerSnapshot(**base)  # type: ignore[arg-type]


def rule(kind: str, address: str | None, method: str = "scram-sha-256") -> dict[str, object]:
    return {
        "type": kind,
        "database": ["all"],
        "user_name": ["all"],
        "address": address,
        "auth_method": method,
    }


def test_ssl_needs_on_and_no_clear_tcp_rule() -> None:
    strict = [rule("local", None, "peer"), rule("host", "127.0.0.1"), rule("hostssl", "0.0.0.0")]
    assert ssl(snap(ssl="on", hba=strict))[0]["status"] == "pass"
    loose = ssl(snap(ssl="on", hba=[*strict, rule("host", "10.0.0.0")]))[0]
    assert loose["status"] == "fail" and loose["non_ssl_tcp_rules"] == 1
    assert ssl(snap(ssl="on", hba=[*strict, rule("host", "10.0.0.0", "reject")]))[0]["status"] == "pass"
    assert ssl(snap(ssl="off", hba=strict))[0]["reason"] == "ssl is off: connections are in clear"
    assert ssl(snap(ssl=None, hba=strict)) == []


def test_connections_and_replication() -> None:
    assert connections(snap(connections={"max": 100, "reserved": 3, "in_use": 10}))[0]["status"] == "pass"
    assert connections(snap(connections={"max": 100, "reserved": 3, "in_use": 90}))[0]["status"] == "fail"
    assert replication(snap(standbys=[]))[0]["reason"] == "no standby is streaming from this server"
    assert replication(snap(standbys=[], config=PostgresConfig(require_standby=False))) == []
    ok = {"name": "s1", "state": "streaming", "sync_state": "async", "lag_bytes": 10, "lag_seconds": 0.1}
    assert replication(snap(standbys=[ok]))[0]["status"] == "pass"
    slow = {**ok, "lag_seconds": 600.0}
    assert replication(snap(standbys=[slow]))[0]["status"] == "fail"
    payload = {
        "evidence_type": "pgsql.server.replication",
        "target": {},
        "rows": replication(snap(standbys=[ok])),
    }
    assert schema_errors("pgsql.server.replication", payload) == []


def test_pooler_and_backups() -> None:
    assert pgbouncer(PoolerSnapshot(target={}, observed_at=NOW)) == []
    pooled = PoolerSnapshot(
        target={}, observed_at=NOW, pooler="h:6432", config={"pool_mode": "transaction"}, databases=["app"]
    )
    assert pgbouncer(pooled)[0]["status"] == "pass"
    broken = Failed(
        "client_error", SourceError(code="exit 1", message="checksum mismatch for file", operation="x")
    )
    backups = BackupsSnapshot(
        target={},
        observed_at=NOW,
        folder="/b",
        backups={"old": (NOW - timedelta(days=3), Found("")), "new": (NOW, broken)},
    )
    rows = {r["resource"]: r for r in verified(backups)}
    assert rows["new"]["status"] == "fail" and "checksum mismatch" in rows["new"]["reason"]
    assert rows["old"]["status"] == "pass"
    assert (
        verified(BackupsSnapshot(target={}, observed_at=NOW, folder="/b"))[0]["reason"]
        == "no backup in the folder"
    )


def test_policy_is_sql_granting_exactly_the_declared_privileges() -> None:
    policy = POSTGRES.policy()
    assert "GRANT pg_monitor TO evidence_collector;" in policy
    assert "GRANT SELECT ON pg_catalog.pg_hba_file_rules TO evidence_collector;" in policy
    assert POSTGRES.permission_model.check("role:superuser") is not None

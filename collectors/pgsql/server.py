"""pgsql.server: one server read once (``ssl``, ``pg_hba_file_rules``, connection counts,
``pg_stat_replication``), mapped into ssl enforcement, connection limits and replication."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collectors.core import Failed, Found, Outcome, Snapshot
from collectors.core.family import FetchContext
from collectors.pgsql.family import POSTGRES, PostgresConfig
from evidence.registry import ApiPermission, Row

SETTINGS = ApiPermission("postgres", "SHOW ssl", "role:pg_monitor")
HBA = ApiPermission("postgres", "pg_hba_file_rules", "select:pg_hba_file_rules")
ACTIVITY = ApiPermission("postgres", "pg_stat_activity", "role:pg_monitor")
REPLICATION = ApiPermission("postgres", "pg_stat_replication", "role:pg_monitor")
LOOPBACK = ("127.0.0.1", "::1", "localhost", "samehost")


@dataclass
class ServerSnapshot(Snapshot):
    server: str = ""
    ssl: str | None = None
    hba: list[dict[str, Any]] | None = None
    connections: dict[str, int] | None = None
    standbys: list[dict[str, Any]] | None = None
    config: PostgresConfig | None = None


def _rows(outcome: Outcome) -> list[tuple[Any, ...]] | None:
    return list(outcome.value) if isinstance(outcome, Found) else None


def fetch(ctx: FetchContext[PostgresConfig]) -> ServerSnapshot:
    import psycopg

    config = ctx.connection
    snap = ServerSnapshot(target=ctx.target, observed_at=ctx.observed_at, server=config.server, config=config)
    rec = ctx.recorder
    with psycopg.connect(**config.conninfo(), autocommit=True) as conn:
        ssl = rec.query(SETTINGS, conn, "SELECT current_setting('ssl')")
        if isinstance(ssl, Failed):
            snap.fail(SETTINGS, ssl.error)
        else:
            snap.ssl = str(ssl.value[0][0])
        hba = rec.query(
            HBA,
            conn,
            "SELECT type, database, user_name, address, auth_method "
            "FROM pg_hba_file_rules WHERE error IS NULL ORDER BY line_number",
        )
        if isinstance(hba, Failed):
            snap.fail(HBA, hba.error)
        else:
            keys = ("type", "database", "user_name", "address", "auth_method")
            snap.hba = [dict(zip(keys, r, strict=True)) for r in _rows(hba) or []]
        activity = rec.query(
            ACTIVITY,
            conn,
            "SELECT current_setting('max_connections')::int,"
            " current_setting('superuser_reserved_connections')::int,"
            " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int",
        )
        if isinstance(activity, Failed):
            snap.fail(ACTIVITY, activity.error)
        else:
            mx, reserved, used = activity.value[0]
            snap.connections = {"max": mx, "reserved": reserved, "in_use": used}
        repl = rec.query(
            REPLICATION,
            conn,
            "SELECT application_name, state, sync_state,"
            " pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,"
            " extract(epoch FROM replay_lag)::float8 FROM pg_stat_replication",
        )
        if isinstance(repl, Failed):
            snap.fail(REPLICATION, repl.error)
        else:
            keys = ("name", "state", "sync_state", "lag_bytes", "lag_seconds")
            snap.standbys = [dict(zip(keys, r, strict=True)) for r in _rows(repl) or []]
    return snap


SOURCE = POSTGRES.source(
    "pgsql.server", scope="server", description="settings, pg_hba, activity, replication"
)(fetch)


def _row(snap: ServerSnapshot, ok: bool, reason: str, **fields: Any) -> Row:
    return {
        "resource": snap.server,
        "region": None,
        "status": "pass" if ok else "fail",
        "reason": reason,
        **fields,
    }


def non_ssl_rules(hba: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """TCP rules that admit a connection without TLS (``host``/``hostnossl``), loopback aside."""
    found = []
    for rule in hba:
        if rule["type"] not in ("host", "hostnossl") or rule["auth_method"] == "reject":
            continue
        address = str(rule.get("address") or "")
        if address.split("/")[0] in LOOPBACK:
            continue
        found.append(rule)
    return found


@SOURCE.evidence_type(
    "pgsql.server.ssl",
    title="PostgreSQL has ssl on and pg_hba enforces it for every TCP connection",
    api_calls=(SETTINGS, HBA),
    resource_kind="server",
)
def ssl(snap: ServerSnapshot) -> list[Row]:
    """``ssl = on`` and no pg_hba rule admits a non-loopback TCP connection without TLS."""
    if snap.ssl is None or snap.hba is None:
        return []
    on = snap.ssl == "on"
    tcp = [r for r in snap.hba if r["type"].startswith("host")]
    loose = non_ssl_rules(snap.hba)
    enforced = on and not loose
    if not on:
        reason = "ssl is off: connections are in clear"
    elif loose:
        reason = f"{len(loose)} pg_hba rule(s) admit TCP without TLS: " + ", ".join(
            f"{r['type']} {r.get('address')}" for r in loose[:3]
        )
    else:
        reason = "ssl on; every non-loopback TCP rule is hostssl (or reject)"
    return [
        _row(
            snap,
            enforced,
            reason,
            ssl_on=on,
            hba_tcp_rules=len(tcp),
            non_ssl_tcp_rules=len(loose),
            enforced=enforced,
        )
    ]


@SOURCE.evidence_type(
    "pgsql.server.connections",
    title="PostgreSQL connection limits leave headroom",
    api_calls=(ACTIVITY,),
    resource_kind="server",
)
def connections(snap: ServerSnapshot) -> list[Row]:
    """Client connections in use stay under the allowed share of the usable ones."""
    if snap.connections is None or snap.config is None:
        return []
    c = snap.connections
    usable = max(c["max"] - c["reserved"], 1)
    ratio = round(c["in_use"] / usable, 3)
    ok = ratio <= snap.config.max_connection_usage
    reason = f"{c['in_use']} of {usable} usable connections in use ({ratio:.0%})"
    if not ok:
        reason += f", above {snap.config.max_connection_usage:.0%}"
    return [
        _row(
            snap,
            ok,
            reason,
            max_connections=c["max"],
            in_use=c["in_use"],
            usage_ratio=ratio,
            reserved_connections=c["reserved"],
            within_limit=ok,
        )
    ]


@SOURCE.evidence_type(
    "pgsql.server.replication",
    title="PostgreSQL streams to a standby within lag limits",
    api_calls=(REPLICATION,),
    resource_kind="server",
)
def replication(snap: ServerSnapshot) -> list[Row]:
    """At least one standby streaming, replay lag within limits (bytes and seconds)."""
    if snap.standbys is None or snap.config is None:
        return []
    cfg = snap.config
    streaming = [s for s in snap.standbys if s["state"] == "streaming"]
    lag_b = max((int(s["lag_bytes"] or 0) for s in streaming), default=None)
    lag_s = max((float(s["lag_seconds"] or 0.0) for s in streaming), default=None)
    sync = sum(1 for s in streaming if s["sync_state"] in ("sync", "quorum"))
    fields = {
        "standbys": len(streaming),
        "sync_standbys": sync,
        "max_lag_bytes": lag_b,
        "max_lag_seconds": lag_s,
    }
    if not streaming:
        if not cfg.require_standby:
            return []  # no standby, and none required: the record says not_applicable
        return [_row(snap, False, "no standby is streaming from this server", **fields, replicated=False)]
    slow = (lag_b or 0) > cfg.max_lag_bytes or (lag_s or 0.0) > cfg.max_lag_seconds
    reason = f"{len(streaming)} standby(s) streaming ({sync} sync), lag {lag_b} bytes / {lag_s or 0:.1f} s"
    if slow:
        reason += f", above {cfg.max_lag_bytes} bytes / {cfg.max_lag_seconds:g} s"
    return [_row(snap, not slow, reason, **fields, replicated=not slow)]

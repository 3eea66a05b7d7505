"""pgsql.pooler: pgbouncer's admin console (``SHOW CONFIG``, ``SHOW DATABASES`` through ``psql``,
which speaks the simple query protocol the console requires), when a pgbouncer is configured."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from collectors.core import Failed, Found, Snapshot
from collectors.core.family import FetchContext
from collectors.pgsql.family import POSTGRES, PostgresConfig
from evidence.registry import ApiPermission, Row

SHOW = ApiPermission("pgbouncer", "SHOW CONFIG", "pgbouncer:stats_users")
DATABASES = ApiPermission("pgbouncer", "SHOW DATABASES", "pgbouncer:stats_users")


@dataclass
class PoolerSnapshot(Snapshot):
    pooler: str | None = None  # None: no pgbouncer configured
    config: dict[str, str] = field(default_factory=dict)
    databases: list[str] = field(default_factory=list)


def _psql(ctx: FetchContext[PostgresConfig], api: ApiPermission, command: str) -> Any:
    cfg = ctx.connection
    env = dict(os.environ)
    if cfg.password:
        env["PGPASSWORD"] = cfg.password
    argv = [
        "psql",
        "-X",
        "-At",
        "-F",
        "\t",
        "-h",
        str(cfg.pgbouncer_host or cfg.host),
        "-p",
        str(cfg.pgbouncer_port),
        "-U",
        cfg.user,
        "-d",
        "pgbouncer",
        "-c",
        command,
    ]
    return ctx.recorder.command(api, argv, params={"command": command}, env=env, timeout=30)


def fetch(ctx: FetchContext[PostgresConfig]) -> PoolerSnapshot:
    cfg = ctx.connection
    snap = PoolerSnapshot(target=ctx.target, observed_at=ctx.observed_at)
    if not cfg.pgbouncer_port:
        return snap
    snap.pooler = f"{cfg.pgbouncer_host or cfg.host}:{cfg.pgbouncer_port}"
    shown = _psql(ctx, SHOW, "SHOW CONFIG")
    if isinstance(shown, Failed):
        snap.fail(SHOW, shown.error)
        return snap
    assert isinstance(shown, Found)
    for line in str(shown.value).splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            snap.config[parts[0]] = parts[1]
    dbs = _psql(ctx, DATABASES, "SHOW DATABASES")
    if isinstance(dbs, Failed):
        snap.fail(DATABASES, dbs.error)
    else:
        assert isinstance(dbs, Found)
        snap.databases = [
            ln.split("\t")[0] for ln in str(dbs.value).splitlines() if ln and ln.split("\t")[0] != "pgbouncer"
        ]
    return snap


SOURCE = POSTGRES.source("pgsql.pooler", scope="server", description="pgbouncer admin console")(fetch)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@SOURCE.evidence_type(
    "pgsql.pooler.pgbouncer",
    title="Connections are pooled by pgbouncer",
    api_calls=(SHOW, DATABASES),
    resource_kind="pooler",
)
def pgbouncer(snap: PoolerSnapshot) -> list[Row]:
    """A pgbouncer pools at least one database; its pool mode and sizes are recorded."""
    if snap.pooler is None:
        return []
    mode = snap.config.get("pool_mode")
    pooled = bool(snap.databases) and mode in ("session", "transaction", "statement")
    reason = (
        f"pgbouncer pools {len(snap.databases)} database(s) in {mode} mode"
        if pooled
        else "pgbouncer answers but pools no database"
    )
    return [
        {
            "resource": snap.pooler,
            "region": None,
            "status": "pass" if pooled else "fail",
            "reason": reason,
            "pool_mode": mode,
            "max_client_conn": _int(snap.config.get("max_client_conn")),
            "default_pool_size": _int(snap.config.get("default_pool_size")),
            "databases": len(snap.databases),
            "pooled": pooled,
        }
    ]

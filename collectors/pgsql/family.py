"""The PostgreSQL collector family: one unit per server and source.

Sources: ``pgsql.server`` (ssl and pg_hba enforcement, connection limits, streaming replication
from ``pg_stat_replication``), ``pgsql.pooler`` (pgbouncer's admin console, when one is
configured) and ``pgsql.basebackup`` (``pg_verifybackup`` over a folder of ``pg_basebackup``
backups, when one is configured). ``connect`` opens a connection to the server: a server that
cannot be reached makes every evidence type of the unit an ``error`` record.

Permission model: database privileges (``role:<predefined role>``, ``select:<view>``), pgbouncer
admin console access (``pgbouncer:stats_users``) and file access on the host (``file:read_backups``).
The policy is the SQL (and pgbouncer.ini line) granting exactly those to a collector role.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from collectors.core import TargetUnavailable
from collectors.core.commands import CommandRecorder
from collectors.core.family import Family
from evidence.errors import ConfigError
from evidence.family import ConnectionSpec, DemoEstate, Setting, Unit
from evidence.records import SourceError

_PERMISSION = re.compile(r"(role:pg_[a-z_]+|select:[a-z_]+|pgbouncer:stats_users|file:read_backups)")
COLLECTOR_ROLE = "evidence_collector"


class PostgresPermissions:
    name = "PostgreSQL privileges"
    media_type = "application/sql"

    def check(self, permission: str) -> str | None:
        if _PERMISSION.fullmatch(permission):
            return None
        return "not role:pg_<role>, select:<view>, pgbouncer:stats_users or file:read_backups"

    def render(self, permissions: Sequence[str]) -> str:
        lines = [
            f"-- least privilege for the evidence collector ({', '.join(sorted(set(permissions)))})",
            f"CREATE ROLE {COLLECTOR_ROLE} LOGIN;  -- set its password or certificate out of band",
        ]
        for perm in sorted(set(permissions)):
            kind, _, what = perm.partition(":")
            if kind == "role":
                lines.append(f"GRANT {what} TO {COLLECTOR_ROLE};")
            elif kind == "select":
                lines.append(f"GRANT SELECT ON pg_catalog.{what} TO {COLLECTOR_ROLE};")
                lines.append(f"GRANT EXECUTE ON FUNCTION pg_catalog.{what}() TO {COLLECTOR_ROLE};")
            elif kind == "pgbouncer":
                lines.append(
                    f"-- pgbouncer.ini: stats_users = {COLLECTOR_ROLE}  (SHOW CONFIG, SHOW DATABASES)"
                )
            elif kind == "file":
                lines.append(
                    "-- host: read access to the pg_basebackup folder (pg_verifybackup reads every file)"
                )
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class PostgresConfig:
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    dbname: str = "postgres"
    password: str | None = None
    pgbouncer_host: str | None = None
    pgbouncer_port: int | None = None
    basebackup_dir: str | None = None
    require_standby: bool = True
    max_lag_bytes: int = 16 * 1024 * 1024
    max_lag_seconds: float = 60.0
    max_connection_usage: float = 0.8
    max_backup_age_hours: float = 26.0
    concurrency: int = 1

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"

    def conninfo(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "dbname": self.dbname,
            "connect_timeout": 10,
            "application_name": "evidence-collector",
        }
        if self.password:
            info["password"] = self.password
        return info


SETTINGS = (
    Setting("host", "server host", env="EVIDENCE_PG_HOST", flags=("--host",)),
    Setting("port", "server port", env="EVIDENCE_PG_PORT", flags=("--port",), kind="int"),
    Setting("user", "collector role", env="EVIDENCE_PG_USER", flags=("--user",)),
    Setting("dbname", "database to connect to", env="EVIDENCE_PG_DBNAME", flags=("--dbname",)),
    Setting("password", "collector role's password", env="EVIDENCE_PG_PASSWORD", secret=True),
    Setting(
        "pgbouncer_host",
        "pgbouncer host (pooling evidence)",
        env="EVIDENCE_PGBOUNCER_HOST",
        flags=("--pgbouncer-host",),
    ),
    Setting(
        "pgbouncer_port",
        "pgbouncer port",
        env="EVIDENCE_PGBOUNCER_PORT",
        flags=("--pgbouncer-port",),
        kind="int",
    ),
    Setting(
        "basebackup_dir",
        "folder of pg_basebackup backups to verify",
        env="EVIDENCE_PG_BASEBACKUP_DIR",
        flags=("--basebackup-dir",),
    ),
    Setting(
        "require_standby",
        "a streaming standby must exist",
        env="EVIDENCE_PG_REQUIRE_STANDBY",
        flags=("--require-standby",),
        kind="bool",
    ),
    Setting(
        "max_lag_bytes",
        "replay lag limit, bytes",
        env="EVIDENCE_PG_MAX_LAG_BYTES",
        flags=("--max-lag-bytes",),
        kind="int",
    ),
    Setting(
        "max_lag_seconds",
        "replay lag limit, seconds",
        env="EVIDENCE_PG_MAX_LAG_SECONDS",
        flags=("--max-lag-seconds",),
        kind="float",
    ),
    Setting(
        "max_connection_usage",
        "share of usable connections in use that still passes (0-1)",
        env="EVIDENCE_PG_MAX_CONNECTION_USAGE",
        flags=("--max-connection-usage",),
        kind="float",
    ),
    Setting(
        "max_backup_age_hours",
        "newest pg_basebackup may be this old",
        env="EVIDENCE_PG_MAX_BACKUP_AGE_HOURS",
        flags=("--max-backup-age-hours",),
        kind="float",
    ),
)


class PostgresRecorder(CommandRecorder):
    def query(self, api: Any, conn: Any, sql: str) -> Any:
        """One query, its rows as ``Found``; privilege and connection errors sorted into ``Failed``."""
        import psycopg

        from collectors.core import Failed, Found, one_line
        from evidence.records import ApiCall

        try:
            rows = conn.execute(sql).fetchall()
        except psycopg.errors.InsufficientPrivilege as exc:
            self.record(ApiCall(service=api.service, operation=api.operation, error_code="42501"))
            return Failed(
                "access_denied",
                SourceError(
                    code="42501", message=one_line(str(exc)), operation=api.key, permission=api.permission
                ),
            )
        except psycopg.Error as exc:
            code = getattr(exc, "sqlstate", None) or type(exc).__name__
            self.record(ApiCall(service=api.service, operation=api.operation, error_code=str(code)))
            return Failed(
                "client_error", SourceError(code=str(code), message=one_line(str(exc)), operation=api.key)
            )
        self.record(ApiCall(service=api.service, operation=api.operation))
        return Found(rows)


class PostgresFamily(Family[PostgresConfig]):
    name = "pgsql"
    title = "PostgreSQL"
    connection = ConnectionSpec(
        conn_type="postgres",
        default_conn_id="postgres_default",
        description="the PostgreSQL server (host, port, login, password; extra: pgbouncer, backups)",
        settings=SETTINGS,
    )
    permission_model = PostgresPermissions()
    modules = (
        "collectors.pgsql.basebackup",
        "collectors.pgsql.pooler",
        "collectors.pgsql.server",
    )
    framework_permissions = ("role:pg_monitor",)

    def configure(self, settings: Mapping[str, Any]) -> PostgresConfig:
        known = {s.name for s in SETTINGS}
        values = {k: v for k, v in settings.items() if k in known and v is not None}
        try:
            return PostgresConfig(**values)
        except TypeError as exc:
            raise ConfigError(f"pgsql: {exc}") from exc

    def plan(
        self,
        config: PostgresConfig,
        *,
        sources: Collection[str] | None = None,
        types: Collection[str] | None = None,
    ) -> list[Unit]:
        chosen, only = self.resolve_sources(sources, types)
        return [Unit(self.name, s.name, (("server", config.server),), only) for s in chosen]

    def recorder(self) -> PostgresRecorder:
        return PostgresRecorder()

    def connect(
        self, opened: PostgresConfig, unit: Unit, recorder: Any
    ) -> tuple[PostgresConfig, dict[str, str]]:
        target = {"server": opened.server}
        if unit.source != "pgsql.server":
            return opened, target
        import psycopg

        try:
            psycopg.connect(**opened.conninfo()).close()
        except psycopg.Error as exc:
            message = " ".join(str(exc).replace(opened.password or "\0", "***").split())[:300]
            raise TargetUnavailable(
                target, SourceError(code=type(exc).__name__, message=message, operation="connect")
            ) from exc
        return opened, target

    def demo(self) -> AbstractContextManager[DemoEstate]:
        from collectors.pgsql.demo import demo_estate

        return demo_estate()


POSTGRES = PostgresFamily()

"""The DR drill family: on-demand (and, when configured, scheduled) restore, failover and
replication drills.

A unit is one drill: restore a backup from one source into a scratch cluster and verify it. The
drill is one code path (:func:`run_restore_drill`) behind three entry points: ``evidence drill
restore`` (this family's CLI command), the ``dr_drill`` DAG (Airflow's trigger form and REST API)
and this family's ``collect`` (the ``drill_evidence`` DAG, when a connection names a source).
Failover and replication drills (:func:`run_pair_drill`, ``collectors/drill/failover.py``) run on a
scratch primary and its streaming standby, behind ``evidence drill failover|replication`` and the
``dr_drill`` DAG's ``kind``.

Permission model: access to the backup repositories and the database tools the drill runs on the
drill host (``<tool>:<access>``, e.g. ``pgbackrest:restore``); the policy lists, per tool, what the
drill's OS user must be granted (repository read, the server user for scratch clusters).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from collectors.core.family import Family
from evidence import registry
from evidence.family import ConnectionSpec, DemoEstate, Setting, Unit
from evidence.records import PreparedRecord, RunContext
from evidence.registry import ApiPermission, EvidenceType

_PERMISSION = re.compile(r"(pgbackrest|basebackup|restic|postgres):(read|verify|restore|run_server)")

GRANTS = {
    "pgbackrest:read": "run `pgbackrest info` on the stanza (read the repository and configuration)",
    "pgbackrest:verify": "run `pgbackrest verify` (read every file of the repository)",
    "pgbackrest:restore": "run `pgbackrest restore` into a scratch folder (read repository and WAL)",
    "basebackup:read": "read the pg_basebackup folder",
    "basebackup:verify": "run pg_verifybackup on it (read access)",
    "restic:read": "read the restic repository and its password (RESTIC_PASSWORD_FILE), list snapshots",
    "restic:verify": "run `restic check` (read access; it takes no exclusive lock)",
    "restic:restore": "run `restic restore` into a scratch folder",
    "postgres:run_server": "run initdb/pg_ctl as the server user (root: runuser) on loopback ports",
}


class DrillPermissions:
    """What the drill's host account needs, per tool: repository access and the server user."""

    name = "drill host access"
    media_type = "application/json"

    def check(self, permission: str) -> str | None:
        if not _PERMISSION.fullmatch(permission):
            return "not a drill permission (<tool>:<read|verify|restore|run_server>)"
        return None if permission in GRANTS else "no such access for this tool"

    def render(self, permissions: Sequence[str]) -> str:
        return (
            json.dumps(
                {
                    "drill_host_access": {p: GRANTS[p] for p in sorted(set(permissions))},
                    "database": "none on production: the drill restores into its own scratch cluster",
                },
                indent=2,
            )
            + "\n"
        )


SETTINGS = (
    Setting("kind", "drill kind: restore (default), failover or replication"),
    Setting(
        "kinds",
        "drill kinds a scheduled collection runs (repeat): restore (default; needs a source), "
        "failover, replication",
        env="EVIDENCE_DRILL_KINDS",
        multiple=True,
    ),
    Setting(
        "source",
        "backup source: pgbackrest, basebackup or restic",
        env="EVIDENCE_DRILL_SOURCE",
        flags=("--source",),
    ),
    Setting(
        "backup",
        "backup id (pgBackRest label, folder name, restic snapshot) or latest",
        env="EVIDENCE_DRILL_BACKUP",
        flags=("--backup",),
    ),
    Setting("rto", "RTO target in seconds", env="EVIDENCE_DRILL_RTO", flags=("--rto",), kind="float"),
    Setting("rpo", "RPO target in seconds", env="EVIDENCE_DRILL_RPO", flags=("--rpo",), kind="float"),
    Setting(
        "check_sql",
        "SQL that must return true on the restore (repeat)",
        flags=("--check-sql",),
        multiple=True,
    ),
    Setting(
        "database",
        "database the SQL checks run in (default: the backup's only one)",
        env="EVIDENCE_DRILL_DATABASE",
        flags=("--database",),
    ),
    Setting("keep", "keep the restored cluster running (for inspection)", flags=("--keep",), kind="bool"),
    Setting("stanza", "pgBackRest stanza", env="EVIDENCE_DRILL_STANZA", flags=("--stanza",)),
    Setting(
        "pgbackrest_config",
        "pgBackRest configuration file",
        env="EVIDENCE_DRILL_PGBACKREST_CONFIG",
        flags=("--pgbackrest-config",),
    ),
    Setting(
        "verify_repository",
        "pgBackRest: also run `pgbackrest verify` over the whole repository (every set, all WAL) "
        "alongside the restore, which checks the restored set's files itself",
        env="EVIDENCE_DRILL_VERIFY_REPOSITORY",
        flags=("--verify-repository",),
        kind="bool",
    ),
    Setting(
        "basebackup_dir",
        "folder of pg_basebackup backups (one folder each)",
        env="EVIDENCE_DRILL_BASEBACKUP_DIR",
        flags=("--basebackup-dir",),
    ),
    Setting(
        "restic_repository",
        "restic repository",
        env="EVIDENCE_DRILL_RESTIC_REPOSITORY",
        flags=("--restic-repository",),
    ),
    Setting(
        "restic_password_file",
        "file holding the restic password",
        env="EVIDENCE_RESTIC_PASSWORD_FILE",
        flags=("--restic-password-file",),
    ),
    Setting("restic_password", "restic password", env="EVIDENCE_RESTIC_PASSWORD", secret=True),
    Setting(
        "manifest_dir",
        "where pgBackRest backups' manifests (row counts, checksums) are kept",
        env="EVIDENCE_DRILL_MANIFEST_DIR",
        flags=("--manifest-dir",),
    ),
)

RESTORE_CALLS = (
    ApiPermission("pgbackrest", "info", "pgbackrest:read", required=False),
    ApiPermission("pgbackrest", "verify", "pgbackrest:verify", required=False),
    ApiPermission("pgbackrest", "restore", "pgbackrest:restore", required=False),
    ApiPermission("basebackup", "pg_verifybackup", "basebackup:verify", required=False),
    ApiPermission("basebackup", "copy", "basebackup:read", required=False),
    ApiPermission("restic", "snapshots", "restic:read", required=False),
    ApiPermission("restic", "check", "restic:verify", required=False),
    ApiPermission("restic", "restore", "restic:restore", required=False),
)

PAIR_CALLS = (
    ApiPermission("postgres", "pg_basebackup", "postgres:run_server"),
    ApiPermission("postgres", "pg_ctl stop", "postgres:run_server"),
    ApiPermission("postgres", "pg_ctl promote", "postgres:run_server", required=False),
)


class DrillFamily(Family[dict[str, Any]]):
    name = "drill"
    title = "DR drills (restore, failover, replication)"
    connection = ConnectionSpec(
        conn_type="generic",
        default_conn_id="drill_default",
        description="where the backups are (pgBackRest stanza and config, pg_basebackup folder, restic "
        "repository) and the drill's targets; the extra holds these settings",
        settings=SETTINGS,
    )
    permission_model = DrillPermissions()
    framework_permissions = ("postgres:run_server",)
    parallel_units = 1  # drills restore real backups: one at a time on a host

    def load(self) -> None:
        if not self._loaded:
            registry.register(RESTORE)
            registry.register(FAILOVER)
            registry.register(REPLICATION)
        super().load()

    def configure(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        return dict(settings)

    def plan(
        self,
        config: dict[str, Any],
        *,
        sources: Collection[str] | None = None,
        types: Collection[str] | None = None,
    ) -> list[Unit]:
        """The scheduled drills: one unit per kind in ``kinds`` (default: restore; or the kinds of the
        named ``types``), a restore drill only when a source is configured; drills are otherwise on
        demand (CLI, ``dr_drill``)."""
        kinds = scheduled_kinds(config)
        if types:  # named types run whatever ``kinds`` says (a failover type asked for is a failover drill)
            kinds = list(dict.fromkeys(t.collector.removeprefix("drill.") for t in self.select_types(types)))
        units = []
        for kind in kinds:
            source = f"drill.{kind}"
            if sources and source not in sources:
                continue
            if kind == "restore":
                if config.get("source"):
                    units.append(Unit(self.name, source, (("source", str(config["source"])),)))
            else:
                units.append(Unit(self.name, source))
        return units

    def collect(
        self,
        config: Any,
        context: RunContext,
        *,
        units: Sequence[Unit] | None = None,
        sources: Collection[str] | None = None,
        types: Collection[str] | None = None,
        run_gx: bool = True,
    ) -> Iterator[list[PreparedRecord]]:
        for unit in units if units is not None else self.plan(config, sources=sources, types=types):
            kind = unit.source.removeprefix("drill.")
            if kind in PAIR_KINDS:
                yield [run_pair_drill(kind, config, context, run_gx=run_gx)]
                continue
            yield [
                run_restore_drill(
                    {**config, "source": unit.scope_dict.get("source", config.get("source"))},
                    context,
                    run_gx=run_gx,
                )
            ]

    def run_drill(self, settings: Mapping[str, Any], context: RunContext) -> PreparedRecord:
        """The entry point the DR drill DAG calls (through the registry, by family name)."""
        kind = str(settings.get("kind") or "restore")
        if kind in PAIR_KINDS:
            return run_pair_drill(kind, settings, context)
        if kind != "restore":
            from evidence.errors import ConfigError

            raise ConfigError(f"unknown drill kind {kind!r}; choose restore, {', '.join(PAIR_KINDS)}")
        return run_restore_drill(settings, context)

    def commands(self) -> Sequence[tuple[str, Any]]:
        from collectors.drill.cli import drill_app

        return (("drill", drill_app()),)

    def demo(self) -> AbstractContextManager[DemoEstate]:
        from collectors.drill.demo import demo_estate

        return demo_estate()


def scheduled_kinds(config: Mapping[str, Any]) -> list[str]:
    """The ``kinds`` setting as a list (a comma-separated string from the environment or a list)."""
    raw = config.get("kinds") or ["restore"]
    kinds = [k.strip() for k in (raw.split(",") if isinstance(raw, str) else raw) if str(k).strip()]
    unknown = sorted(set(kinds) - {"restore", *PAIR_KINDS})
    if unknown:
        from evidence.errors import ConfigError

        choose = ", ".join(("restore", *PAIR_KINDS))
        raise ConfigError(f"unknown drill kind(s) {', '.join(unknown)}; choose {choose}")
    return list(dict.fromkeys(kinds))


def table_rows(result: Any) -> list[dict[str, Any]]:
    """The drill's rows: one per table checked against the backup's manifest (pure)."""
    return [dict(t) for t in result.tables]


RESTORE = EvidenceType(
    id="drill.restore.postgres",
    title="A restore drill restored a real backup into a scratch cluster, verified it, and met RTO/RPO",
    collector="drill.restore",
    family="drill",
    api_calls=RESTORE_CALLS,
    resource_kind="table",
    mapper=table_rows,
    description="One record per drill: every step's timing and outcome, RTO/RPO against targets, "
    "one row per table checked against the manifest recorded at backup time.",
)


def request_from(settings: Mapping[str, Any]) -> Any:
    from collectors.drill.restore import DrillRequest
    from evidence.errors import ConfigError

    source = settings.get("source")
    if not source:
        raise ConfigError("drill: choose a backup source (--source pgbackrest|basebackup|restic)")
    return DrillRequest(
        source=str(source),
        backup=str(settings.get("backup") or "latest"),
        rto_target_seconds=float(settings.get("rto") or 600),
        rpo_target_seconds=float(settings.get("rpo") or 3600),
        check_sql=tuple(settings.get("check_sql") or ()),
        keep=bool(settings.get("keep")),
        settings=dict(settings),
    )


def run_restore_drill(
    settings: Mapping[str, Any], context: RunContext, *, run_gx: bool = True
) -> PreparedRecord:
    """The one code path: settings (CLI options, DAG params, connection extra) -> drill -> record."""
    from collectors.drill.restore import drill_record, run_drill

    DRILL.load()
    result = run_drill(request_from(settings))
    return drill_record(RESTORE, result, context, run_gx=run_gx)


def pair_rows(result: Any) -> list[dict[str, Any]]:
    """Failover: one row per table (and the marker) checked against the primary's last state;
    replication: one row per standby (pure)."""
    return [dict(r) for r in result.rows]


FAILOVER = EvidenceType(
    id="drill.failover.postgres",
    title="A failover drill promoted a streaming standby after a primary crash within RTO/RPO targets",
    collector="drill.failover",
    family="drill",
    api_calls=PAIR_CALLS,
    resource_kind="table",
    mapper=pair_rows,
    description="One record per drill: every step's timing and outcome, RTO (failure to writable "
    "standby) and RPO (committed data lost) against targets, the failback (old primary rebuilt as a "
    "standby) timed, one row per table and the marker.",
)

REPLICATION = EvidenceType(
    id="drill.replication.postgres",
    title="A replication drill saw a streaming standby catch up under write load within the target",
    collector="drill.replication",
    family="drill",
    api_calls=PAIR_CALLS[:1],
    resource_kind="standby",
    mapper=pair_rows,
    description="One record per drill: every step's timing and outcome, lag in bytes and seconds "
    "under a small write load, catch-up time (RPO) against the target, one row per standby.",
)

PAIR_KINDS = ("failover", "replication")
PAIR_TYPES = {"failover": FAILOVER, "replication": REPLICATION}


def pair_request_from(kind: str, settings: Mapping[str, Any]) -> Any:
    from collectors.drill.failover import PairRequest

    defaults = PairRequest(kind=kind)
    return PairRequest(
        kind=kind,
        rto_target_seconds=float(settings.get("rto") or defaults.rto_target_seconds),
        rpo_target_seconds=float(settings.get("rpo") or defaults.rpo_target_seconds),
        keep=bool(settings.get("keep")),
    )


def run_pair_drill(
    kind: str, settings: Mapping[str, Any], context: RunContext, *, run_gx: bool = True
) -> PreparedRecord:
    """The one code path of failover and replication drills: settings -> drill -> record."""
    from collectors.drill.failover import pair_record
    from collectors.drill.failover import run_pair_drill as run

    DRILL.load()
    result = run(pair_request_from(kind, settings))
    return pair_record(PAIR_TYPES[kind], result, context, run_gx=run_gx)


DRILL = DrillFamily()


@DRILL.source("drill.restore", scope="backup source", description="restore a backup and verify it")
def _restore_source(ctx: Any) -> Any:
    """Drills build their own record (every step, RTO/RPO): ``DrillFamily.collect`` runs them."""
    raise NotImplementedError("restore drills run through DrillFamily.collect, not the collect loop")


@DRILL.source("drill.failover", scope="scratch pair", description="fail a primary over to its standby")
def _failover_source(ctx: Any) -> Any:
    """On demand only (CLI, ``dr_drill``): the drill builds its own record."""
    raise NotImplementedError("failover drills run on demand (evidence drill failover, dr_drill)")


@DRILL.source("drill.replication", scope="scratch pair", description="replication lag and catch-up")
def _replication_source(ctx: Any) -> Any:
    """On demand only (CLI, ``dr_drill``): the drill builds its own record."""
    raise NotImplementedError("replication drills run on demand (evidence drill replication, dr_drill)")

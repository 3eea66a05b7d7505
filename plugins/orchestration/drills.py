"""The DR drill DAG: ops trigger a drill from the Airflow trigger form (or the REST API, which
triggers this DAG with the same params); one task runs the drill through the ``drill`` collector
family (the same code path as ``evidence drill restore``) and appends its one record.

Params: drill kind (restore, failover, replication), target (the Airflow connection naming the
backups: stanza, folders, repository), backup source, backup id (``latest``), RTO and RPO targets,
extra SQL checks, keep the restored cluster. A drill that fails (bad backup, missed target) is a
``fail`` record and a successful task: the task fails only when the drill could not be recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pendulum

from evidence import registry

DRILL_FAMILY = "drill"
KINDS = ("restore", "failover", "replication")
SOURCES = ("pgbackrest", "basebackup", "restic")


def drill_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """The trigger form's params as the drill family's settings."""
    settings: dict[str, Any] = {
        "kind": params.get("kind") or "restore",
        "source": params.get("backup_source"),
        "backup": params.get("backup_id") or "latest",
        "rto": params.get("rto_target_seconds"),
        "rpo": params.get("rpo_target_seconds"),
        "check_sql": [s for s in params.get("check_sql") or [] if s],
        "database": params.get("database") or None,
        "keep": bool(params.get("keep")),
        # unticked leaves the connection's own setting in force
        "verify_repository": params.get("verify_repository") or None,
    }
    return {k: v for k, v in settings.items() if v not in (None, "", [])}


def run_drill(params: Mapping[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    from evidence.errors import ConfigError
    from evidence.store import open_store
    from plugins.orchestration.connections import connection_settings
    from plugins.orchestration.context import run_context

    if params.get("kind", "restore") not in KINDS:
        raise ConfigError(f"drill kind {params.get('kind')!r} is not built; choose one of {', '.join(KINDS)}")
    family: Any = registry.family(DRILL_FAMILY)
    layered = family.connection.resolve(
        connection_settings(family, params.get("target")), drill_settings(params)
    )
    prepared = family.run_drill(layered, run_context(context))
    with open_store() as store:
        result = store.append(prepared)
    record = result.record
    return {"record": record.id, "seq": record.seq, "status": str(record.status), "reason": record.reason}


def dr_drill_dag(doc_md: str | None = None) -> Any:
    """Build the ``dr_drill`` DAG (manual trigger only)."""
    from airflow.sdk import Param, dag, task

    @dag(
        dag_id="dr_drill",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        tags=["evidence", "dr", "drill"],
        default_args={"owner": "operations", "retries": 1, "retry_delay": pendulum.duration(minutes=1)},
        params={
            "kind": Param(
                "restore",
                enum=list(KINDS),
                description="Drill kind: restore a backup, fail a scratch primary over to its standby, "
                "or measure a standby's replication lag (failover/replication use only targets and keep).",
            ),
            "target": Param(
                "drill_default",
                type=["null", "string"],
                description="Airflow connection whose extra names the backups (stanza, pgbackrest_config, "
                "basebackup_dir, restic_repository...).",
            ),
            "backup_source": Param("pgbackrest", enum=list(SOURCES), description="Backup source."),
            "backup_id": Param("latest", type="string", description="Backup id, or latest."),
            "rto_target_seconds": Param(
                600, type="number", exclusiveMinimum=0, description="RTO target (s)."
            ),
            "rpo_target_seconds": Param(
                3600, type="number", exclusiveMinimum=0, description="RPO target (s)."
            ),
            "check_sql": Param(
                [], type="array", items={"type": "string"}, description="SQL that must return true."
            ),
            "database": Param(None, type=["null", "string"], description="Database the SQL checks run in."),
            "keep": Param(False, type="boolean", description="Keep the restored cluster running."),
            "verify_repository": Param(
                False,
                type="boolean",
                description="pgBackRest: also `pgbackrest verify` the whole repository (every set, all "
                "WAL) alongside the restore, which checks the restored set's files itself.",
            ),
        },
        doc_md=doc_md,
    )
    def dr_drill() -> None:
        @task(task_id="drill")
        def drill(**context: Any) -> dict[str, Any]:
            return run_drill(context["params"], context)

        drill()

    return dr_drill()

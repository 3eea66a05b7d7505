"""``evidence drill ...``: the restore, failover and replication drills on the CLI.

Mounted by the core CLI through the family contract (``DrillFamily.commands``); the core never
imports this module by name. Options override the ``EVIDENCE_DRILL_*`` environment.
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Annotated, Any

import typer


def _settings(**options: Any) -> dict[str, Any]:
    from collectors.drill.family import DRILL

    return DRILL.connection.resolve({k: v for k, v in options.items() if v is not None})


def drill_app() -> typer.Typer:
    app = typer.Typer(
        help="DR drills: restore a real backup into a scratch cluster, verify it, measure RTO/RPO.",
        no_args_is_help=True,
    )

    @app.command("restore")
    def restore(
        source: Annotated[
            str | None, typer.Option(help="pgbackrest, basebackup or restic [env EVIDENCE_DRILL_SOURCE]")
        ] = None,
        backup: Annotated[str, typer.Option(help="backup id, or latest")] = "latest",
        rto: Annotated[float | None, typer.Option(help="RTO target, seconds (default 600)")] = None,
        rpo: Annotated[float | None, typer.Option(help="RPO target, seconds (default 3600)")] = None,
        check_sql: Annotated[
            list[str] | None, typer.Option("--check-sql", help="SQL that must return true (repeat)")
        ] = None,
        database: Annotated[str | None, typer.Option(help="database the SQL checks run in")] = None,
        keep: Annotated[bool, typer.Option("--keep", help="keep the restored cluster running")] = False,
        stanza: Annotated[str | None, typer.Option(help="pgBackRest stanza")] = None,
        pgbackrest_config: Annotated[str | None, typer.Option(help="pgBackRest configuration file")] = None,
        verify_repository: Annotated[
            bool,
            typer.Option(
                "--verify-repository",
                help="pgBackRest: also `pgbackrest verify` the whole repository alongside the restore",
            ),
        ] = False,
        basebackup_dir: Annotated[str | None, typer.Option(help="folder of pg_basebackup backups")] = None,
        restic_repository: Annotated[str | None, typer.Option(help="restic repository")] = None,
        restic_password_file: Annotated[str | None, typer.Option(help="restic password file")] = None,
        manifest_dir: Annotated[
            str | None, typer.Option(help="folder of pgBackRest backups' manifests")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")] = False,
    ) -> None:
        """Run one restore drill and append its evidence record (exit 1 when the drill fails)."""
        from ulid import ULID

        from collectors.drill.family import run_restore_drill
        from evidence.records import RunContext

        settings = _settings(
            source=source,
            backup=backup,
            rto=rto,
            rpo=rpo,
            check_sql=check_sql,
            keep=keep or None,
            stanza=stanza,
            pgbackrest_config=pgbackrest_config,
            verify_repository=verify_repository or None,
            basebackup_dir=basebackup_dir,
            restic_repository=restic_repository,
            restic_password_file=restic_password_file,
            manifest_dir=manifest_dir,
        )
        # Libraries the drill loads (GX) may print: stdout carries only this command's answer.
        with contextlib.redirect_stdout(sys.stderr):
            prepared = run_restore_drill(settings, RunContext.from_env(f"drill-{ULID()}"))
        _append_and_report(
            prepared,
            as_json,
            ("tables_checked", "rows_checked", "kept"),
        )

    def _pair(
        kind: str, rto: float | None, rpo: float | None, keep: bool, as_json: bool, fields: tuple[str, ...]
    ) -> None:
        from ulid import ULID

        from collectors.drill.family import run_pair_drill
        from evidence.records import RunContext

        settings = _settings(kind=kind, rto=rto, rpo=rpo, keep=keep or None)
        with contextlib.redirect_stdout(sys.stderr):
            prepared = run_pair_drill(kind, settings, RunContext.from_env(f"drill-{ULID()}"))
        _append_and_report(prepared, as_json, fields)

    @app.command("failover")
    def failover(
        rto: Annotated[float | None, typer.Option(help="RTO target, seconds (default 60)")] = None,
        rpo: Annotated[float | None, typer.Option(help="RPO target, seconds (default 5)")] = None,
        keep: Annotated[bool, typer.Option("--keep", help="keep both clusters running")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")] = False,
    ) -> None:
        """Fail a scratch primary over to its streaming standby: RTO, data lost (exit 1 on fail)."""
        _pair(
            "failover",
            rto,
            rpo,
            keep,
            as_json,
            ("marker_replayed", "lag_bytes_at_failure", "kept"),
        )

    @app.command("replication")
    def replication(
        rpo: Annotated[float | None, typer.Option(help="catch-up (RPO) target, seconds (default 5)")] = None,
        keep: Annotated[bool, typer.Option("--keep", help="keep both clusters running")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")] = False,
    ) -> None:
        """Measure a streaming standby's lag under write load and its catch-up (exit 1 on fail)."""
        _pair(
            "replication",
            None,
            rpo,
            keep,
            as_json,
            ("standbys", "lag_bytes_max", "lag_seconds_max", "catch_up_seconds", "kept"),
        )

    @app.command("reap")
    def reap_command() -> None:
        """Stop and remove scratch clusters left by killed drills (kept ones stay)."""
        from collectors.pgscratch import reap

        for folder in reap():
            sys.stdout.write(f"removed {folder}\n")

    return app


def _append_and_report(prepared: Any, as_json: bool, fields: tuple[str, ...]) -> None:
    """Append the drill's record and print it (JSON, or steps and a verdict); exit 1 unless pass."""
    from evidence.cli import state
    from evidence.store import open_store

    store = open_store(state.store_url, create=True)
    try:
        result = store.append(prepared)
    finally:
        store.close()
    record = result.record
    payload = json.loads(prepared.payload)
    if as_json:
        sys.stdout.write(
            json.dumps(
                {
                    "record": record.id,
                    "seq": record.seq,
                    "status": str(record.status),
                    "reason": record.reason,
                    **{
                        k: payload.get(k)
                        for k in (
                            "rto_seconds",
                            "rpo_seconds",
                            "rto_target_seconds",
                            "rpo_target_seconds",
                            "steps",
                            *fields,
                        )
                    },
                },
                indent=2,
            )
            + "\n"
        )
    else:
        for step in payload["steps"]:
            sys.stderr.write(
                f"  {step['name']:<14} {step['outcome']:<8} {step['seconds']:>8.2f} s  {step['detail']}\n"
            )
        sys.stdout.write(f"{record.status} seq={record.seq} {record.reason}\n")
    if str(record.status) != "pass":
        from evidence.cli import CheckFailed

        raise CheckFailed(record.reason)

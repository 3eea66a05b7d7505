"""The restore drill: restore a real backup into a scratch cluster, start it, verify it, measure RTO
and RPO against targets, and build ONE evidence record (``drill.restore.postgres``) with every step.

The same function serves the CLI (``evidence drill restore``), the DR drill DAG and the REST API
(which triggers that DAG). Steps, in order:

- ``reap``: stop and remove scratch clusters a killed drill left behind;
- ``locate``: the chosen backup (``latest`` or an id) and the manifest recorded when it was taken;
- ``verify_backup``: the tool's own verifier (``pg_verifybackup``, ``restic check``), run alongside
  ``restore``, ``start``, ``load``, ``verify_data`` and ``check_sql`` (it only reads the backup; the drill
  is verified once it has passed); its failure is the drill's cause. pgBackRest's restore checks
  every file against the SHA-1 in the set's manifest as it writes it, so there the step records that
  check after ``restore``, and runs ``pgbackrest verify`` only to name the bad file of a failed restore
  (``verify_repository`` runs it always, alongside);
- ``restore``: into a new scratch cluster's data directory (or fetch the dumps);
- ``start``: the cluster on a free loopback port, recovery to the backup's consistent point; for a
  dump, a new empty cluster, made and started alongside ``restore`` (it needs nothing the dump holds);
- ``load`` (dumps only): ``pg_restore`` into the started cluster;
- ``verify_data``: per-table row counts and checksums against the manifest (``manifest.py``);
- ``check_sql``: the caller's SQL checks (each must return true);
- ``cleanup``: stop the cluster and remove its folder, unless ``keep`` (always runs, also on failure).

RTO is the wall time from the drill's start to verified and serving (end of ``check_sql``); RPO is
the drill's start minus the newest committed data in the restore: the newest replayed commit
(``pg_last_xact_replay_timestamp()``) or, if later or the only one known, the backup's consistent point.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from collectors.drill import manifest as manifests
from collectors.drill.sources import BackupSource, DrillStepFailed, Located, backup_source, start_server
from collectors.pgscratch import ScratchCluster, ScratchError, new_cluster, reap
from evidence.canonical import sha256_hex, utc_iso
from evidence.errors import ConfigError, EvidenceError
from evidence.pipeline import draft_record, idempotency_key
from evidence.records import BlobRef, Population, PreparedRecord, RunContext, SourceError, Status, Validation
from evidence.registry import EvidenceType
from evidence.validation import has_suite, run_suite, schema_errors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrillRequest:
    """What a drill restores and what it must achieve (the CLI's options, the DAG's params)."""

    source: str  # pgbackrest | basebackup | restic
    backup: str = "latest"
    rto_target_seconds: float = 600.0
    rpo_target_seconds: float = 3600.0
    check_sql: tuple[str, ...] = ()
    keep: bool = False
    settings: dict[str, Any] = field(default_factory=dict)  # the source's settings (stanza, folders...)


@dataclass
class Step:
    name: str
    started_at: datetime
    seconds: float = 0.0
    outcome: str = "ok"  # ok | failed | skipped
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "started_at": utc_iso(self.started_at),
            "seconds": round(self.seconds, 3),
            "outcome": self.outcome,
            "detail": self.detail[:500],
        }


class StepLog:
    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.raised: Step | None = None  # the step whose failure is propagating (the latest raised)

    @contextmanager
    def step(self, name: str) -> Iterator[Step]:
        step = Step(name, datetime.now(UTC))
        began = time.monotonic()
        self.steps.append(step)
        try:
            yield step
        except BaseException as exc:
            step.outcome = "failed"
            step.detail = str(exc) or type(exc).__name__
            self.raised = step
            raise
        finally:
            step.seconds = time.monotonic() - began

    @contextmanager
    def alongside(
        self, name: str, work: Callable[[], str], beside: str = "the restore and its checks"
    ) -> Iterator[Step]:
        """Run ``work`` (a step whose detail it returns) on a thread while the block (``beside``) runs;
        on leaving, wait for it and raise its failure, which wins over the block's own."""
        step = Step(name, datetime.now(UTC))
        began = time.monotonic()
        self.steps.append(step)

        def timed() -> str:
            try:
                return work()
            finally:
                step.seconds = time.monotonic() - began

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"drill-{name}") as pool:
            future = pool.submit(timed)
            try:
                yield step
            finally:
                try:
                    step.detail = f"{future.result()} (alongside {beside})"
                except BaseException as exc:
                    step.outcome = "failed"
                    step.detail = str(exc) or type(exc).__name__
                    self.raised = step
                    raise

    def failed_step(self) -> str:
        """The step a drill failed in: the one whose failure is propagating (a verifier's verdict
        raised over the restore's), else the first one marked failed, else the last one begun."""
        if self.raised is not None:
            return self.raised.name
        failed = [s.name for s in self.steps if s.outcome == "failed"]
        return failed[0] if failed else (self.steps[-1].name if self.steps else "drill")


@dataclass
class DrillResult:
    """Everything the drill found; :func:`drill_record` turns it into the record."""

    request: DrillRequest
    target: dict[str, str]
    started_at: datetime
    finished_at: datetime
    steps: list[Step]
    tables: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    rto_seconds: float | None
    rpo_seconds: float | None
    backup_id: str | None
    backup_consistent_at: datetime | None
    newest_commit_at: datetime | None
    failure: str | None  # why the drill failed (a bad backup, a failed verification), or None
    error: SourceError | None  # why the drill could not be run at all (missing tool, bad settings)
    kept: dict[str, Any] | None
    calls: list[Any]


def check_database(request: DrillRequest, located: Located) -> str:
    """Where the SQL checks run: the one asked for, else the backup's only application database."""
    if request.settings.get("database"):
        return str(request.settings["database"])
    held = sorted((located.manifest or {}).get("databases", {}))
    apps = [db for db in held if db != "postgres"]
    return apps[0] if len(apps) == 1 else "postgres"


def _checks(cluster: ScratchCluster, dbname: str, sqls: Sequence[str]) -> list[dict[str, Any]]:
    import psycopg

    results = []
    with psycopg.connect(cluster.dsn(dbname), autocommit=True) as conn:
        for sql in sqls:
            db_sql = sql
            try:
                row = conn.execute(db_sql).fetchone()
                ok = bool(row and row[0])
                results.append(
                    {"sql": sql, "status": "pass" if ok else "fail", "result": str(row[0] if row else None)}
                )
            except psycopg.Error as exc:
                results.append({"sql": sql, "status": "fail", "result": " ".join(str(exc).split())[:300]})
    return results


def _newest_commit(cluster: ScratchCluster) -> datetime | None:
    import psycopg

    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        row = conn.execute("SELECT pg_last_xact_replay_timestamp()").fetchone()
    return row[0] if row and row[0] else None


def _wait_writable(cluster: ScratchCluster, timeout: float = 600) -> None:
    """Recovery to the consistent point done and promoted: the cluster accepts writes."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(cluster.dsn(), autocommit=True, connect_timeout=5) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                if row and not row[0]:
                    return
        except psycopg.OperationalError:
            if not cluster.running():
                raise DrillStepFailed(
                    "the restored cluster stopped during recovery: " + cluster.log_tail()
                ) from None
        if time.monotonic() > deadline:
            raise DrillStepFailed(f"recovery did not finish in {timeout:.0f} s: " + cluster.log_tail())
        time.sleep(0.05)


def _restore(
    steps: StepLog, source: BackupSource, located: Located, cluster: ScratchCluster, checked: str | None
) -> None:
    """The ``restore`` step; where the restore checks the backup's files itself (``checked``), the
    ``verify_backup`` step that records it."""
    try:
        with steps.step("restore") as step:
            step.detail = source.restore(located, cluster)
    except DrillStepFailed:
        if checked:
            # A restore stopped by a bad file may not say which one (a decompression error): the
            # tool's verifier names it, and its verdict is the cause; a clean verdict leaves the
            # restore's own failure standing.
            with steps.step("verify_backup") as step:
                step.detail = f"{source.verifier}: {source.verify(located)} (after the failed restore)"
        raise
    if checked:
        with steps.step("verify_backup") as step:
            step.detail = checked


def serve(cluster: ScratchCluster) -> str:
    """Start the configured cluster and wait until it takes writes (recovery done, promoted)."""
    start_server(cluster)
    _wait_writable(cluster)
    return f"serving on 127.0.0.1:{cluster.port}"


def start_empty(cluster: ScratchCluster) -> str:
    """A new empty cluster for a dump to load into, serving."""
    cluster.init(checksums=False)
    return "empty cluster made; " + serve(cluster)


def run_drill(request: DrillRequest) -> DrillResult:
    """Run one restore drill; never raises for what a drill can find (it is in the result)."""
    steps = StepLog()
    started_at = datetime.now(UTC)
    began = time.monotonic()
    cluster: ScratchCluster | None = None
    source: BackupSource | None = None
    located: Located | None = None
    tables: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    failure: str | None = None
    error: SourceError | None = None
    rto: float | None = None
    newest: datetime | None = None
    kept: dict[str, Any] | None = None
    target: dict[str, str] = {"drill": "restore", "source": request.source}
    try:
        with steps.step("reap") as step:
            removed = reap()
            step.detail = (
                f"removed {len(removed)} cluster(s) left by killed drills" if removed else "nothing left over"
            )
        source = backup_source(request.source, request.settings)
        target = {"drill": "restore", **source.target()}
        with steps.step("locate") as step:
            located = source.locate(request.backup)
            step.detail = located.detail + (
                "" if located.manifest or not source.physical else "; no manifest"
            )
        checked_by_restore = source.checked_by_restore()
        with ExitStack() as verifying:
            if not checked_by_restore:
                # The verifier only reads the backup: it runs alongside the restore, the start and the
                # data checks, and the drill is verified only once it has passed; its failure wins over
                # theirs (a corrupt backup is the cause even when the restore also stumbled on it).
                verifying.enter_context(
                    steps.alongside("verify_backup", lambda: f"{source.verifier}: {source.verify(located)}")
                )
            cluster = made = new_cluster(f"drill-{request.source}", keep=request.keep)
            if source.physical:
                _restore(steps, source, located, cluster, checked_by_restore)
                with steps.step("start") as step:
                    cluster.configure()
                    step.detail = serve(cluster)
            else:
                # A dump loads into an empty cluster: it is made and started while the dump is fetched.
                with steps.alongside("start", lambda: start_empty(made), beside="the restore"):
                    _restore(steps, source, located, cluster, checked_by_restore)
                with steps.step("load") as step:
                    step.detail = source.load(located, cluster)
            with steps.step("verify_data") as step:
                if located.manifest is None:
                    step.outcome = "skipped"
                    step.detail = (
                        "no manifest was recorded with this backup: row counts and checksums not compared"
                    )
                else:
                    restored = manifests.take(
                        cluster.conninfo(),
                        sorted(located.manifest.get("databases", {})),
                        manifests.algorithm(located.manifest),
                    )
                    tables = manifests.compare(located.manifest, restored)
                    bad = [t for t in tables if t["status"] != "pass"]
                    rows = sum(t["expected_rows"] for t in tables)
                    step.detail = (
                        f"{len(tables) - len(bad)} of {len(tables)} tables ({rows} rows) match the manifest"
                    )
                    if bad:
                        step.outcome = "failed"
                        failure = "data differs from the manifest: " + ", ".join(
                            f"{t['resource']} ({t['reason']})" for t in bad[:5]
                        )
            with steps.step("check_sql") as step:
                if not request.check_sql:
                    step.outcome = "skipped"
                    step.detail = "no SQL checks given"
                else:
                    dbname = check_database(request, located)
                    checks = _checks(cluster, dbname, request.check_sql)
                    failed = [c for c in checks if c["status"] != "pass"]
                    step.detail = f"{len(checks) - len(failed)} of {len(checks)} checks true in {dbname}"
                    if failed:
                        step.outcome = "failed"
                        failure = failure or "SQL check failed: " + "; ".join(
                            f"{c['sql']} -> {c['result']}" for c in failed[:3]
                        )
        rto = time.monotonic() - began
        newest = _newest_commit(cluster)
    except DrillStepFailed as exc:
        failure = f"{steps.failed_step()} failed: {exc}"
    except (ConfigError, ScratchError) as exc:
        error = SourceError(
            code=type(exc).__name__,
            message=str(exc)[:500],
            operation=steps.failed_step() if steps.steps else "configure",
        )
    except EvidenceError as exc:
        error = SourceError(code=type(exc).__name__, message=str(exc)[:500])
    finally:
        if cluster is not None:
            with steps.step("cleanup") as step:
                if request.keep:
                    cluster.mark_kept()
                    kept = {
                        "folder": str(cluster.folder),
                        "port": cluster.port,
                        "datadir": str(cluster.datadir),
                    }
                    step.outcome = "skipped"
                    step.detail = f"kept on request: {cluster.folder} (port {cluster.port})"
                else:
                    cluster.destroy()
                    step.detail = "scratch cluster stopped and removed"
    consistent = located.consistent_at if located else None
    newest_data = max((t for t in (newest, consistent) if t is not None), default=None)
    rpo = (started_at - newest_data).total_seconds() if newest_data and rto is not None else None
    return DrillResult(
        request=request,
        target=target,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        steps=steps.steps,
        tables=tables,
        checks=checks,
        rto_seconds=rto,
        rpo_seconds=max(rpo, 0.0) if rpo is not None else None,
        backup_id=located.backup_id if located else None,
        backup_consistent_at=consistent,
        newest_commit_at=newest,
        failure=failure,
        error=error,
        kept=kept,
        calls=list(source.calls) if source else [],
    )


def judge(result: DrillResult) -> tuple[Status, str]:
    """The drill's status and reason: error (could not run), fail (a cause named), or pass."""
    if result.error is not None:
        return Status.ERROR, f"could not run the restore drill: {result.error.code}: {result.error.message}"
    if result.failure:
        return Status.FAIL, result.failure
    rto, rpo = result.rto_seconds, result.rpo_seconds
    req = result.request
    problems = missed_targets(result, rto_digits=1, rpo_digits=1)
    if problems:
        return Status.FAIL, "; ".join(problems)
    checked = len(result.tables)
    what = f"{checked} tables match the manifest" if checked else "no manifest to compare (restore started)"
    return Status.PASS, (
        f"restored {result.backup_id} and verified: {what}; RTO {rto:.1f} s <= {req.rto_target_seconds:g} s, "
        f"RPO {rpo if rpo is not None else float('nan'):.0f} s <= {req.rpo_target_seconds:g} s"
    )


def drill_record(
    etype: EvidenceType, result: DrillResult, context: RunContext, *, run_gx: bool = True
) -> PreparedRecord:
    """ONE record for the drill: status, every step, population = the tables checked."""
    status, reason = judge(result)
    req = result.request
    rows = etype.map(result)
    payload: dict[str, Any] = {
        "evidence_type": etype.id,
        "target": result.target,
        "drill": "restore",
        "source": req.source,
        "backup_id": result.backup_id,
        **timing_fields(result),
        "backup_consistent_at": utc_iso(result.backup_consistent_at) if result.backup_consistent_at else None,
        "newest_commit_at": utc_iso(result.newest_commit_at) if result.newest_commit_at else None,
        "steps": [s.to_dict() for s in result.steps],
        "tables_checked": len(rows),
        "rows_checked": sum(int(r.get("restored_rows") or 0) for r in rows),
        "checks": result.checks,
        "kept": result.kept,
        "rows": rows,
    }
    return seal_drill_record(
        etype, result, payload, rows, (status, reason), target=result.target, context=context, run_gx=run_gx
    )


def missed_targets(result: Any, *, rto_digits: int, rpo_digits: int) -> list[str]:
    """Each of RTO and RPO measured above the request's target, named (any drill kind's result)."""
    req = result.request
    rto, rpo = result.rto_seconds, result.rpo_seconds
    problems = []
    if rto is not None and rto > req.rto_target_seconds:
        problems.append(f"RTO {rto:.{rto_digits}f} s exceeds the target {req.rto_target_seconds:g} s")
    if rpo is not None and rpo > req.rpo_target_seconds:
        problems.append(f"RPO {rpo:.{rpo_digits}f} s exceeds the target {req.rpo_target_seconds:g} s")
    return problems


def timing_fields(result: Any) -> dict[str, Any]:
    """The payload fields every drill kind reports: when it ran, RTO and RPO against the targets."""
    req = result.request
    rto, rpo = result.rto_seconds, result.rpo_seconds
    return {
        "started_at": utc_iso(result.started_at),
        "finished_at": utc_iso(result.finished_at),
        "rto_seconds": None if rto is None else round(rto, 3),
        "rpo_seconds": None if rpo is None else round(rpo, 3),
        "rto_target_seconds": req.rto_target_seconds,
        "rpo_target_seconds": req.rpo_target_seconds,
        "rto_met": None if rto is None else rto <= req.rto_target_seconds,
        "rpo_met": None if rpo is None else rpo <= req.rpo_target_seconds,
    }


def seal_drill_record(
    etype: EvidenceType,
    result: Any,
    payload: dict[str, Any],
    rows: list[dict[str, Any]],
    verdict: tuple[Status, str],
    *,
    target: dict[str, Any],
    context: RunContext,
    run_gx: bool = True,
) -> PreparedRecord:
    """The part every drill kind shares: JSON Schema, the GX suite on the rows (a failed suite turns a
    pass into a fail), the population by status, and the one record with its provenance (the drill's
    times, calls and error from ``result``, any drill kind's)."""
    status, reason = verdict
    started_at, finished_at, calls, error = result.started_at, result.finished_at, result.calls, result.error
    if error is not None:
        payload["error"] = error.model_dump(mode="json")
    problems = [] if error else schema_errors(etype.id, payload)
    gx = None
    attachments: dict[str, bytes] = {}
    refs: list[BlobRef] = []
    if problems:
        status, reason = Status.ERROR, "payload failed its JSON Schema: " + "; ".join(problems[:5])
    elif run_gx and rows and has_suite(etype.id):
        gx, full = run_suite(etype.id, rows)
        data = json.dumps(full, sort_keys=True, default=str).encode()
        attachments[sha256_hex(data)] = data
        refs.append(
            BlobRef(sha256=sha256_hex(data), size=len(data), media_type="application/json", role="gx-result")
        )
        if not gx.success and status == Status.PASS:
            status, reason = (
                Status.FAIL,
                "evidence does not prove the control: " + ", ".join(gx.failed_expectations),
            )
    counts: dict[Status, int] = {}
    for row in rows:
        counts[Status(row["status"])] = counts.get(Status(row["status"]), 0) + 1
    return draft_record(
        etype,
        payload,
        target=target,
        observed_at=started_at,
        period_start=started_at,
        period_end=finished_at,
        status=status,
        reason=reason,
        population=Population(total=len(rows), by_status=counts),
        validation=Validation(schema_valid=not problems, schema_errors=tuple(problems), gx=gx),
        context=context,
        api_calls=calls,
        error=error,
        attachments=attachments,
        refs=refs,
        idempotency_key=idempotency_key(etype.id, {**target, "started_at": utc_iso(started_at)}, context),
    )

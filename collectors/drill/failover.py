"""Failover and replication drills on a scratch primary and its streaming standby (loopback).

Both drills build the same pair: a scratch primary (``initdb``, ``wal_level=replica``) with a small
drill database, and a standby cloned from it with ``pg_basebackup -R -X stream`` on loopback,
streaming. They are the same code path for the CLI (``evidence drill failover|replication``), the
``dr_drill`` DAG (``kind``) and the REST API (which triggers that DAG), and each appends ONE record.

Failover (``drill.failover.postgres``), steps:

- ``reap``, ``primary``, ``standby`` (built, streaming);
- ``write_marker``: a marker transaction committed on the primary; the primary's manifest (row counts,
  checksums) and its WAL position are taken as the last state before the failure;
- ``fail_primary``: ``pg_ctl stop -m immediate`` (a crash: no shutdown checkpoint, no final WAL sent);
- ``promote``: ``pg_ctl promote`` on the standby, then wait until it accepts a write;
- ``verify_data``: the marker replayed?, per-table rows and checksums against the primary's manifest;
- ``failback``: the failed primary rebuilt as a streaming standby of the promoted one
  (``pg_basebackup -R``), timed (``failback_seconds``);
- ``cleanup``: both clusters stopped and removed (always, unless ``keep``).

RTO is failure (primary stopped) to the promoted standby accepting a write. RPO is the committed data
lost: 0 when the marker was replayed, else the marker's commit time minus the newest commit the
standby replayed; ``lag_bytes_at_failure`` is the primary's WAL position minus what the standby had
replayed when it was promoted.

Replication (``drill.replication.postgres``): the pair, then ``check_standby`` (``pg_stat_replication``:
present, streaming, sync state), ``write_load`` (small transactions on the primary, lag in bytes and
seconds sampled while they run), ``catch_up`` (time until the standby has replayed the primary's last
WAL position). RPO is that catch-up time (the window in which a failure would lose committed data);
it must be within the RPO target. A replication drill fails over nothing: its RTO is null.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from collectors.drill import manifest as manifests
from collectors.drill.restore import StepLog, missed_targets, seal_drill_record, timing_fields
from collectors.drill.sources import DrillStepFailed, call_tool, start_server
from collectors.pgscratch import ScratchCluster, ScratchError, initdb, new_cluster, reap, tool
from evidence.canonical import utc_iso
from evidence.errors import ConfigError, EvidenceError
from evidence.records import (
    ApiCall,
    PreparedRecord,
    RunContext,
    SourceError,
    Status,
)
from evidence.registry import EvidenceType

DRILL_DB = "drill"
STANDBY_NAME = "drill_standby"  # the standby's application_name: its row in pg_stat_replication
# a standby of that name streams from the server asked
STREAMING = (
    "SELECT count(*) FROM pg_stat_replication WHERE application_name = '{name}' AND state = 'streaming'"
)
PRIMARY_SETTINGS = {"wal_level": "replica", "max_wal_senders": "4", "wal_keep_size": "64MB"}


@dataclass(frozen=True)
class PairRequest:
    """A failover or replication drill: its targets and how much to write."""

    kind: str  # failover | replication
    rto_target_seconds: float = 60.0
    rpo_target_seconds: float = 5.0
    rows: int = 1000  # seed rows in the drill table
    load_transactions: int = 200  # replication drill: small write transactions under measurement
    keep: bool = False
    timeout: float = 120.0  # for a standby to stream, be promoted or catch up


@dataclass
class PairResult:
    request: PairRequest
    started_at: datetime
    finished_at: datetime
    steps: list[Any]
    rows: list[dict[str, Any]]
    rto_seconds: float | None
    rpo_seconds: float | None
    facts: dict[str, Any]
    failure: str | None
    error: SourceError | None
    kept: dict[str, Any] | None
    calls: list[ApiCall] = field(default_factory=list)


def _sql(cluster: ScratchCluster, statement: str, dbname: str = "postgres") -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(cluster.dsn(dbname), autocommit=True, connect_timeout=5) as conn:
        cur = conn.execute(statement)
        return list(cur.fetchall()) if cur.description else []


def _one(cluster: ScratchCluster, statement: str, dbname: str = "postgres") -> Any:
    rows = _sql(cluster, statement, dbname)
    return rows[0][0] if rows else None


def _wait(
    what: str, probe: Callable[[], bool], timeout: float, cluster: ScratchCluster | None = None
) -> None:
    """Poll ``probe`` until true; a dead server or the deadline is a failed step naming ``what``."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            if probe():
                return
        except psycopg.Error as exc:
            if cluster is not None and not cluster.running():
                raise DrillStepFailed(
                    f"{what}: the server is not running ({' '.join(str(exc).split())[:200]}) "
                    + cluster.log_tail()
                ) from None
        if time.monotonic() > deadline:
            tail = f": {cluster.log_tail()}" if cluster is not None else ""
            raise DrillStepFailed(f"{what}: not within {timeout:g} s{tail}")
        time.sleep(0.05)


class Pair:
    """A scratch primary and its streaming standby; tool calls are kept as provenance."""

    def __init__(self, request: PairRequest) -> None:
        self.request = request
        self.primary: ScratchCluster | None = None
        self.standby: ScratchCluster | None = None
        self.calls: list[ApiCall] = []

    def call(self, operation: str, argv: list[str], **kwargs: Any) -> str:
        return call_tool(self.calls, "postgres", operation, argv, **kwargs)

    def build_primary(self) -> str:
        self.primary = initdb(
            f"drill-{self.request.kind}-primary", keep=self.request.keep, settings=PRIMARY_SETTINGS
        )
        start_server(self.primary)
        _sql(self.primary, f"CREATE DATABASE {DRILL_DB}")
        _sql(
            self.primary,
            "CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric NOT NULL);"
            "INSERT INTO accounts SELECT g, 'owner-' || g, g * 1.5 "
            f"FROM generate_series(1, {self.request.rows}) g;"
            "CREATE TABLE markers (id bigserial PRIMARY KEY, label text NOT NULL, at timestamptz NOT NULL "
            "DEFAULT clock_timestamp());",
            DRILL_DB,
        )
        return f"primary on 127.0.0.1:{self.primary.port}, {self.request.rows} rows in {DRILL_DB}.accounts"

    def build_standby(self) -> str:
        assert self.primary is not None
        self.standby = new_cluster(f"drill-{self.request.kind}-standby", keep=self.request.keep)
        self._stream_from(self.primary, self.standby, STANDBY_NAME, "standby streaming")
        return f"standby on 127.0.0.1:{self.standby.port} (pg_basebackup -R), streaming"

    def failback(self) -> str:
        """Rebuild the failed primary as a streaming standby of the promoted one (a fresh
        ``pg_basebackup -R`` into its folder, on its old port)."""
        assert self.primary is not None and self.standby is not None
        old, new = self.primary, self.standby
        old.stop("immediate")
        shutil.rmtree(old.datadir, ignore_errors=True)
        self._stream_from(new, old, "drill_failback", "old primary streaming from the promoted standby")
        return f"old primary rebuilt as a standby of the promoted one (127.0.0.1:{old.port}), streaming"

    def _stream_from(self, upstream: ScratchCluster, replica: ScratchCluster, name: str, what: str) -> None:
        """``replica`` cloned from ``upstream`` (``pg_basebackup -R -X stream`` on loopback into its
        folder), started as its hot standby named ``name``; waits until ``upstream`` sees it streaming."""
        self.call(
            "pg_basebackup",
            [
                tool("pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(upstream.port),
                "-U",
                "postgres",
                "-D",
                str(replica.datadir),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
            timeout=self.request.timeout,
        )
        replica.configure(
            {
                "primary_conninfo": f"'host=127.0.0.1 port={upstream.port} user=postgres "
                f"application_name={name}'",
                "hot_standby": "on",
            }
        )
        start_server(replica)
        streaming = STREAMING.format(name=name)
        _wait(what, lambda: bool(_one(upstream, streaming)), self.request.timeout, replica)

    def cleanup(self) -> tuple[str, str, dict[str, Any] | None]:
        clusters = [c for c in (self.primary, self.standby) if c is not None]
        if self.request.keep:
            for c in clusters:
                c.mark_kept()
            kept = {"clusters": [{"folder": str(c.folder), "port": c.port} for c in clusters]}
            return (
                "skipped",
                "kept on request: " + ", ".join(f"{c.folder} (port {c.port})" for c in clusters),
                kept,
            )
        for c in clusters:
            c.destroy()
        return "ok", f"{len(clusters)} scratch cluster(s) stopped and removed", None


def _promote(pair: Pair) -> None:
    """Promote the standby (``pg_ctl promote -w``). A module function, so tests can break it."""
    assert pair.standby is not None
    pair.call(
        "pg_ctl promote",
        [
            tool("pg_ctl"),
            "-D",
            str(pair.standby.datadir),
            "-w",
            "-t",
            str(int(pair.request.timeout)),
            "promote",
        ],
        timeout=pair.request.timeout + 30,
    )


def _write_load(pair: Pair) -> list[tuple[int, float | None]]:
    """Small write transactions on the primary; (lag bytes, replay lag seconds) sampled as they run."""
    import psycopg

    assert pair.primary is not None
    samples: list[tuple[int, float | None]] = []
    with (
        psycopg.connect(pair.primary.dsn(DRILL_DB), autocommit=True) as conn,
        psycopg.connect(pair.primary.dsn(), autocommit=True) as monitor,
    ):
        for i in range(pair.request.load_transactions):
            conn.execute(
                "INSERT INTO markers (label) SELECT 'load-' || %s || '-' || g FROM generate_series(1, 20) g",
                (i,),
            )
            if i % 10 == 0:
                row = monitor.execute(
                    "SELECT coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint, "
                    "extract(epoch FROM replay_lag)::float8 FROM pg_stat_replication "
                    f"WHERE application_name = '{STANDBY_NAME}'"
                ).fetchone()
                if row is None:
                    raise DrillStepFailed("the standby left pg_stat_replication during the write load")
                samples.append((int(row[0]), row[1]))
    return samples


def _failover(
    pair: Pair, steps: StepLog, facts: dict[str, Any]
) -> tuple[float, float, list[dict[str, Any]], str | None]:
    req = pair.request
    with steps.step("write_marker") as step:
        assert pair.primary is not None
        label = f"failover-marker-{time.time_ns()}"
        committed = _sql(
            pair.primary, f"INSERT INTO markers (label) VALUES ('{label}') RETURNING at", DRILL_DB
        )[0][0]
        before = manifests.take(pair.primary.conninfo(), [DRILL_DB])
        primary_lsn = _one(pair.primary, "SELECT pg_current_wal_flush_lsn()::text")
        facts.update(marker=label, marker_committed_at=utc_iso(committed), primary_lsn_at_failure=primary_lsn)
        step.detail = f"marker {label} committed at {utc_iso(committed)}; primary WAL at {primary_lsn}"
    with steps.step("fail_primary") as step:
        failed_at_wall = datetime.now(UTC)
        failed_at = time.monotonic()
        pair.call(
            "pg_ctl stop",
            [tool("pg_ctl"), "-D", str(pair.primary.datadir), "-m", "immediate", "-w", "-t", "60", "stop"],
            timeout=90,
        )
        facts["failed_at"] = utc_iso(failed_at_wall)
        step.detail = "primary stopped with -m immediate (simulated crash)"
    with steps.step("promote") as step:
        standby = pair.standby
        assert standby is not None
        try:
            replayed_lsn = _one(standby, "SELECT pg_last_wal_replay_lsn()::text")
        except Exception as exc:  # noqa: BLE001 - an unreachable standby is the drill's finding
            raise DrillStepFailed(
                f"standby not reachable before promotion: {' '.join(str(exc).split())[:300]}"
            ) from None
        lag_bytes = int(
            _one(standby, f"SELECT greatest(pg_wal_lsn_diff('{primary_lsn}', '{replayed_lsn}'), 0)::bigint")
        )
        facts.update(standby_replayed_lsn=replayed_lsn, lag_bytes_at_failure=lag_bytes)
        _promote(pair)

        def writable() -> bool:
            _sql(standby, "INSERT INTO markers (label) VALUES ('after-promotion')", DRILL_DB)
            return True

        _wait("promoted standby accepts writes", writable, req.timeout, standby)
        rto = time.monotonic() - failed_at
        step.detail = f"standby promoted and writable {rto:.2f} s after the failure; {lag_bytes} bytes behind"
    with steps.step("verify_data") as step:
        replayed = _one(standby, f"SELECT at FROM markers WHERE label = '{label}'", DRILL_DB)
        newest = _one(standby, "SELECT max(at) FROM markers WHERE label NOT IN ('after-promotion')", DRILL_DB)
        facts["marker_replayed"] = replayed is not None
        rpo = (
            0.0 if replayed is not None else max((committed - newest).total_seconds() if newest else 0.0, 0.0)
        )
        after = manifests.take(standby.conninfo(), [DRILL_DB])
        # The probe write after promotion is not part of the primary's state: compare without it.
        expected = {
            "checksum_algorithm": before["checksum_algorithm"],
            "databases": {
                DRILL_DB: {k: v for k, v in before["databases"][DRILL_DB].items() if k != "public.markers"}
            },
        }
        rows = manifests.compare(expected, after)
        rows.append(_marker_row(label, replayed is not None))
        bad = [r for r in rows if r["status"] != "pass"]
        step.detail = (
            f"marker {'replayed' if replayed is not None else 'LOST'}; "
            f"{len(rows) - len(bad)} of {len(rows)} checks match the primary's last state"
        )
        failure = None
        if bad:
            step.outcome = "failed"
            failure = "data differs after failover: " + ", ".join(
                f"{r['resource']} ({r['reason']})" for r in bad[:5]
            )
    with steps.step("failback") as step:
        began = time.monotonic()
        step.detail = pair.failback()
        facts["failback_seconds"] = round(time.monotonic() - began, 3)
    return rto, rpo, rows, failure


def _marker_row(label: str, replayed: bool) -> dict[str, Any]:
    return {
        "resource": f"{DRILL_DB}/marker",
        "expected_rows": 1,
        "restored_rows": 1 if replayed else 0,
        "checksum_match": replayed,
        "status": "pass" if replayed else "fail",
        "reason": f"marker {label} replayed on the promoted standby" if replayed else f"marker {label} lost",
    }


def _replication(
    pair: Pair, steps: StepLog, facts: dict[str, Any]
) -> tuple[float, list[dict[str, Any]], str | None]:
    req = pair.request
    assert pair.primary is not None and pair.standby is not None
    primary, standby = pair.primary, pair.standby
    with steps.step("check_standby") as step:
        found = _sql(
            primary,
            "SELECT application_name, state, sync_state, client_addr::text "
            "FROM pg_stat_replication ORDER BY 1",
        )
        facts["standbys"] = len(found)
        if not found:
            raise DrillStepFailed("no standby in pg_stat_replication")
        step.detail = "; ".join(f"{r[0]} {r[1]} ({r[2]}) from {r[3]}" for r in found)
    with steps.step("write_load") as step:
        samples = _write_load(pair)
        max_bytes = max((s[0] for s in samples), default=0)
        max_seconds = max((s[1] or 0.0 for s in samples), default=0.0)
        facts.update(
            lag_bytes_max=max_bytes,
            lag_seconds_max=round(max_seconds, 3),
            load_transactions=req.load_transactions,
        )
        step.detail = (
            f"{req.load_transactions} transactions; lag up to {max_bytes} bytes, {max_seconds:.3f} s"
        )
    with steps.step("catch_up") as step:
        target = _one(primary, "SELECT pg_current_wal_lsn()::text")
        began = time.monotonic()
        _wait(
            "standby catches up",
            lambda: bool(_one(standby, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")),
            req.timeout,
            standby,
        )
        catch_up = time.monotonic() - began
        facts["catch_up_seconds"] = round(catch_up, 3)
        step.detail = f"standby replayed the primary's WAL {target} in {catch_up:.3f} s"
    rows: list[dict[str, Any]] = []
    for name, state, sync, _addr in found:
        ok = state == "streaming"
        rows.append(
            {
                "resource": str(name),
                "state": str(state),
                "sync_state": str(sync),
                "lag_bytes": max_bytes,
                "lag_seconds": round(max_seconds, 3),
                "caught_up": True,
                "status": "pass" if ok else "fail",
                "reason": f"{state} ({sync}), caught up in {catch_up:.3f} s" if ok else f"standby is {state}",
            }
        )
    bad = [r for r in rows if r["status"] != "pass"]
    failure = ("standby not streaming: " + ", ".join(r["resource"] for r in bad)) if bad else None
    return catch_up, rows, failure


def run_pair_drill(request: PairRequest) -> PairResult:
    """Run one failover or replication drill; never raises for what a drill can find."""
    steps = StepLog()
    started_at = datetime.now(UTC)
    pair = Pair(request)
    facts: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    rto: float | None = None
    rpo: float | None = None
    failure: str | None = None
    error: SourceError | None = None
    kept: dict[str, Any] | None = None
    try:
        if request.kind not in ("failover", "replication"):
            raise ConfigError(f"unknown pair drill {request.kind!r}")
        with steps.step("reap") as step:
            removed = reap()
            step.detail = (
                f"removed {len(removed)} cluster(s) left by killed drills" if removed else "nothing left over"
            )
        with steps.step("primary") as step:
            step.detail = pair.build_primary()
        with steps.step("standby") as step:
            step.detail = pair.build_standby()
        if request.kind == "failover":
            rto, rpo, rows, failure = _failover(pair, steps, facts)
        else:
            rpo, rows, failure = _replication(pair, steps, facts)
    except DrillStepFailed as exc:
        failure = f"{steps.steps[-1].name if steps.steps else 'drill'} failed: {exc}"
    except (ConfigError, ScratchError) as exc:
        error = SourceError(
            code=type(exc).__name__,
            message=str(exc)[:500],
            operation=steps.steps[-1].name if steps.steps else "configure",
        )
    except EvidenceError as exc:
        error = SourceError(code=type(exc).__name__, message=str(exc)[:500])
    finally:
        if pair.primary is not None or pair.standby is not None:
            with steps.step("cleanup") as step:
                step.outcome, step.detail, kept = pair.cleanup()
    return PairResult(
        request=request,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        steps=steps.steps,
        rows=rows,
        rto_seconds=rto,
        rpo_seconds=rpo,
        facts=facts,
        failure=failure,
        error=error,
        kept=kept,
        calls=pair.calls,
    )


def judge(result: PairResult) -> tuple[Status, str]:
    """error (could not run), fail (a cause named, or a missed target), or pass."""
    kind = result.request.kind
    if result.error is not None:
        return Status.ERROR, f"could not run the {kind} drill: {result.error.code}: {result.error.message}"
    if result.failure:
        return Status.FAIL, result.failure
    req = result.request
    rto, rpo = result.rto_seconds, result.rpo_seconds
    problems = missed_targets(result, rto_digits=2, rpo_digits=3)
    if problems:
        return Status.FAIL, "; ".join(problems)
    if kind == "failover":
        return Status.PASS, (
            f"standby promoted and writable in {rto or 0:.2f} s <= {req.rto_target_seconds:g} s; "
            f"RPO {rpo or 0:.3f} s <= {req.rpo_target_seconds:g} s "
            f"(marker {'replayed' if result.facts.get('marker_replayed') else 'lost'}, "
            f"{result.facts.get('lag_bytes_at_failure')} bytes behind at failure)"
        )
    return Status.PASS, (
        f"{result.facts.get('standbys')} standby streaming; lag up to "
        f"{result.facts.get('lag_bytes_max')} bytes under {req.load_transactions} transactions; "
        f"caught up in {rpo or 0:.3f} s <= {req.rpo_target_seconds:g} s"
    )


def pair_record(
    etype: EvidenceType, result: PairResult, context: RunContext, *, run_gx: bool = True
) -> PreparedRecord:
    """ONE record for the drill: status, every step, RTO/RPO against targets, population = rows."""
    status, reason = judge(result)
    req = result.request
    rows = etype.map(result)
    target = {"drill": req.kind, "cluster": "scratch primary + streaming standby (loopback)"}
    payload: dict[str, Any] = {
        "evidence_type": etype.id,
        "target": target,
        "drill": req.kind,
        **timing_fields(result),
        "steps": [s.to_dict() for s in result.steps],
        **result.facts,
        "kept": result.kept,
        "rows": rows,
    }
    return seal_drill_record(
        etype, result, payload, rows, (status, reason), target=target, context=context, run_gx=run_gx
    )

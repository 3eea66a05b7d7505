"""The restore drill's pure parts: manifest comparison, the verdict, the permission model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from collectors.drill.family import DRILL, request_from
from collectors.drill.manifest import CHECKSUM, LEGACY_CHECKSUM, algorithm, compare
from collectors.drill.restore import DrillRequest, DrillResult, Step, StepLog, judge
from collectors.drill.sources import DrillStepFailed
from evidence.errors import ConfigError
from evidence.records import SourceError, Status

HELD = {
    "databases": {"app": {"public.a": {"rows": 2, "checksum": "x"}, "public.b": {"rows": 3, "checksum": "y"}}}
}


def test_compare_names_each_kind_of_difference() -> None:
    restored = {"databases": {"app": {"public.a": {"rows": 2, "checksum": "z"}}}}
    rows = {r["resource"]: r for r in compare(HELD, restored)}
    assert rows["app/public.a"]["status"] == "fail" and "checksum mismatch" in rows["app/public.a"]["reason"]
    assert rows["app/public.b"]["reason"] == "table missing after restore"
    assert compare(HELD, HELD)[0]["status"] == "pass"
    fewer = {
        "databases": {
            "app": {"public.a": {"rows": 1, "checksum": "x"}, "public.b": {"rows": 3, "checksum": "y"}}
        }
    }
    assert compare(HELD, fewer)[0]["reason"] == "1 rows restored, 2 backed up"
    assert all(r["reason"] == "database app missing after restore" for r in compare(HELD, {"databases": {}}))


def test_a_manifest_is_compared_with_the_checksum_it_was_written_with() -> None:
    assert algorithm(HELD) == LEGACY_CHECKSUM == "md5-sorted"  # written before checksum_algorithm
    assert algorithm({**HELD, "checksum_algorithm": CHECKSUM}) == "hash-sum"
    newer = {**HELD, "checksum_algorithm": CHECKSUM}
    assert all(r["status"] == "pass" for r in compare(newer, newer))
    rows = compare(HELD, newer)  # same digests, different algorithms: never a pass
    assert all(r["status"] == "fail" and r["checksum_match"] is False for r in rows)
    assert "checksums not comparable: manifest md5-sorted, restore hash-sum" in rows[0]["reason"]


def test_a_step_alongside_reports_its_own_failure_first() -> None:
    steps = StepLog()

    def verifier() -> str:
        raise DrillStepFailed("pg_verifybackup: checksum mismatch")

    with (
        pytest.raises(DrillStepFailed, match="checksum mismatch"),
        steps.alongside("verify_backup", verifier),
        steps.step("restore"),
    ):
        raise DrillStepFailed("copy failed")
    assert [(s.name, s.outcome) for s in steps.steps] == [("verify_backup", "failed"), ("restore", "failed")]
    assert steps.failed_step() == "verify_backup"

    ok = StepLog()
    with ok.alongside("verify_backup", lambda: "pgbackrest verify: fine"), ok.step("restore") as step:
        step.detail = "restored"
    assert ok.steps[0].outcome == "ok" and ok.steps[0].detail.startswith("pgbackrest verify: fine")
    assert ok.failed_step() == "restore"  # nothing failed: the last step begun


def _result(**kw: object) -> DrillResult:
    now = datetime.now(UTC)
    base: dict[str, object] = dict(
        request=DrillRequest(source="basebackup", rto_target_seconds=10, rpo_target_seconds=100),
        target={"drill": "restore"},
        started_at=now,
        finished_at=now,
        steps=[Step("reap", now)],
        tables=[],
        checks=[],
        rto_seconds=5.0,
        rpo_seconds=50.0,
        backup_id="b",
        backup_consistent_at=now,
        newest_commit_at=None,
        failure=None,
        error=None,
        kept=None,
        calls=[],
    )
    base.update(kw)
    return DrillResult(**base)  # type: ignore[arg-type]


def test_judge_error_fail_and_targets() -> None:
    assert judge(_result())[0] == Status.PASS
    assert judge(_result(error=SourceError(code="ConfigError", message="no stanza")))[0] == Status.ERROR
    assert judge(_result(failure="restore failed: x")) == (Status.FAIL, "restore failed: x")
    status, reason = judge(_result(rto_seconds=11.0, rpo_seconds=101.0))
    assert (
        status == Status.FAIL and "RTO 11.0 s exceeds the target 10 s" in reason and "RPO 101.0 s" in reason
    )


def test_request_needs_a_source_and_defaults_to_latest() -> None:
    with pytest.raises(ConfigError):
        request_from({})
    req = request_from({"source": "restic", "check_sql": ["SELECT 1"]})
    assert (req.backup, req.rto_target_seconds, req.rpo_target_seconds, req.check_sql) == (
        "latest",
        600.0,
        3600.0,
        ("SELECT 1",),
    )


def test_permission_model_and_policy() -> None:
    model = DRILL.permission_model
    assert model.check("pgbackrest:restore") is None
    assert model.check("pgbackrest:delete") is not None
    assert model.check("s3:GetObject") is not None
    policy = DRILL.policy()
    assert "pgbackrest:restore" in policy and "postgres:run_server" in policy


def test_drill_restore_is_declared_with_schema_and_catalog() -> None:
    from evidence.catalog import load_catalog

    assert [t.id for t in DRILL.evidence_types()] == [
        "drill.failover.postgres",
        "drill.replication.postgres",
        "drill.restore.postgres",
    ]
    assert {c.id for c in load_catalog().controls_for_evidence_type("drill.restore.postgres")} == {
        "SEED000-BC-BKP-01",
        "SEED000-BC-BKP-02",
    }


def test_drill_record_payload_is_schema_valid_with_every_step() -> None:
    import json

    from collectors.drill.family import RESTORE
    from collectors.drill.restore import drill_record
    from evidence.records import RunContext

    tables = [
        {
            "resource": "app/public.a",
            "status": "pass",
            "reason": "2 rows, checksum matches",
            "expected_rows": 2,
            "restored_rows": 2,
            "checksum_match": True,
        },
        {
            "resource": "app/public.b",
            "status": "fail",
            "reason": "checksum mismatch",
            "expected_rows": 3,
            "restored_rows": 3,
            "checksum_match": False,
        },
    ]
    result = _result(
        tables=tables, failure="data differs from the manifest: app/public.b (checksum mismatch)"
    )
    record = drill_record(RESTORE, result, RunContext(run_id="u"), run_gx=False)
    payload = json.loads(record.payload)
    assert record.draft.status == "fail" and record.draft.validation.schema_valid
    assert record.draft.population.total == 2 and record.draft.population.by_status == {"pass": 1, "fail": 1}
    assert payload["rows_checked"] == 5 and payload["steps"][0]["name"] == "reap"
    assert {"rto_seconds", "rpo_seconds", "rto_target_seconds", "rpo_target_seconds"} <= set(payload)


def test_plan_schedules_the_configured_kinds() -> None:
    DRILL.load()
    # Default: a restore drill, and only when a backup source is configured.
    assert DRILL.plan({}) == []
    assert [u.source for u in DRILL.plan({"source": "restic"})] == ["drill.restore"]
    assert DRILL.plan({"source": "restic"})[0].scope_dict == {"source": "restic"}
    # Every kind, from a list (the connection's extra) or a comma-separated variable.
    every = ["drill.restore", "drill.failover", "drill.replication"]
    listed = DRILL.plan({"source": "restic", "kinds": "restore, failover,replication"})
    assert [u.source for u in listed] == every
    assert [u.source for u in DRILL.plan({"kinds": ["failover", "replication"]})] == every[1:]
    # No source: the restore kind is skipped, the pair drills need none.
    assert [u.source for u in DRILL.plan({"kinds": ["restore", "failover"]})] == ["drill.failover"]
    # Naming a type or source runs that kind even when ``kinds`` does not list it.
    assert [u.source for u in DRILL.plan({"source": "restic"}, types=["drill.failover.postgres"])] == [
        "drill.failover"
    ]
    one = DRILL.plan({"kinds": "failover,replication"}, sources=["drill.replication"])
    assert [u.source for u in one] == ["drill.replication"]
    with pytest.raises(ConfigError, match=r"unknown drill kind.*switchover"):
        DRILL.plan({"kinds": "restore,switchover"})

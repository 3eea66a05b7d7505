"""Control evaluation as evidence: the posture snapshot record, regressions named once, rejected
events, and resource-scoped (event-driven) records laid over full ones in posture."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from evidence.attestation import accept_risk
from evidence.catalog import load_catalog
from evidence.evaluation import (
    exception_expiries,
    previous_states,
    regressions,
    rejected_event_record,
    snapshot_record,
)
from evidence.posture import State, evaluate
from evidence.records import EvidenceRecord, RunContext, Status, seal
from evidence.validation import schema_errors

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CATALOG = load_catalog()
S3_CONTROL = next(
    c
    for c in CATALOG.controls
    if c.method.type == "automated" and "aws.s3.bucket_encryption" in c.method.evidence_types
)


def _record(
    type_id: str, status: Status, observed: datetime, seq: int, target: dict[str, str]
) -> EvidenceRecord:
    from evidence import registry
    from evidence.pipeline import build_record

    rows = [{"resource": "b", "status": str(status), "reason": "r"}]
    prepared = build_record(
        registry.get(type_id),
        rows=rows,
        target=target,
        observed_at=observed,
        context=RunContext("t"),
        run_gx=False,
    )
    return seal(prepared.draft.model_copy(update={"status": status}), seq=seq, recorded_at=observed)


def _all_types(
    status: Status, observed: datetime, target: dict[str, str], start: int = 0
) -> list[EvidenceRecord]:
    return [
        _record(t, status, observed, start + i, target)
        for i, t in enumerate(S3_CONTROL.method.evidence_types)
    ]


def _posture(latest, person=(), payloads=None, at=NOW):
    return evaluate(CATALOG, list(latest), list(person), payloads or {}, at, controls=[S3_CONTROL])


ACCOUNT = {"account": "1", "region": "global"}


def test_the_snapshot_is_a_schema_valid_record_with_one_row_per_control() -> None:
    posture = evaluate(CATALOG, [], [], {}, NOW)
    prepared = snapshot_record(posture, RunContext("run-1", task_id="evaluate"))
    payload = json.loads(prepared.payload)
    assert schema_errors("posture.snapshot", payload) == []
    assert len(payload["rows"]) == len(CATALOG.controls)
    assert prepared.draft.population is not None and prepared.draft.population.total == len(CATALOG.controls)
    assert {row["state"] for row in payload["rows"]} == {"missing"}


def test_a_regression_is_named_once() -> None:
    passing = _posture(_all_types(Status.PASS, NOW - timedelta(hours=1), ACCOUNT))
    assert passing.controls[0].state == State.PASSING
    first = previous_states(json.loads(snapshot_record(passing, RunContext("r1")).payload))
    failing = _posture(_all_types(Status.FAIL, NOW, ACCOUNT))
    found = regressions(failing, first)
    assert [(r.control_id, r.kind) for r in found] == [(S3_CONTROL.id, "failing")]
    second = previous_states(json.loads(snapshot_record(failing, RunContext("r2")).payload))
    assert regressions(failing, second) == []  # still failing: not named again
    stale = _posture(_all_types(Status.PASS, NOW - timedelta(days=30), ACCOUNT))
    assert [r.kind for r in regressions(stale, second)] == ["stale"]


def test_an_expiring_exception_is_named_once() -> None:
    exception = accept_risk(
        [S3_CONTROL.id],
        "pentest next month",
        "Grace",
        NOW + timedelta(days=5),
        context=RunContext("x"),
        observed_at=NOW,
    )
    record = seal(exception.draft, seq=9, recorded_at=NOW)
    payloads = {record.payload_sha256: json.loads(exception.payload)}
    excepted = _posture(_all_types(Status.FAIL, NOW, ACCOUNT), [record], payloads)
    assert excepted.controls[0].state == State.EXCEPTED
    expiries = exception_expiries(excepted)
    found = regressions(excepted, {}, exceptions=expiries)
    assert [r.kind for r in found] == ["exception_expiring"]
    previous = previous_states(
        json.loads(snapshot_record(excepted, RunContext("r1"), exceptions=expiries).payload)
    )
    later = _posture(
        _all_types(Status.FAIL, NOW + timedelta(hours=1), ACCOUNT),
        [record],
        payloads,
        at=NOW + timedelta(hours=1),
    )
    assert regressions(later, previous, previous_at=NOW, exceptions=exception_expiries(later)) == []


def test_a_rejected_event_is_a_bounded_error_record() -> None:
    prepared = rejected_event_record("x" * 10_000, "not JSON", RunContext("r"), source="sqs", observed_at=NOW)
    payload = json.loads(prepared.payload)
    assert schema_errors("event.rejected", payload) == []
    assert prepared.draft.status == Status.ERROR and "not JSON" in prepared.draft.reason
    assert len(payload["rows"][0]["event_excerpt"]) == 2000


def test_a_newer_scoped_failure_shows_but_a_scoped_pass_clears_nothing() -> None:
    full_pass = _all_types(Status.PASS, NOW - timedelta(hours=2), ACCOUNT)
    scoped = {**ACCOUNT, "resources": "bucket-a"}
    newer_fail = _record(
        S3_CONTROL.method.evidence_types[0], Status.FAIL, NOW - timedelta(hours=1), 50, scoped
    )
    assert _posture([*full_pass, newer_fail]).controls[0].state == State.FAILING
    older_fail = _record(
        S3_CONTROL.method.evidence_types[0], Status.FAIL, NOW - timedelta(hours=3), 51, scoped
    )
    assert _posture([*full_pass, older_fail]).controls[0].state == State.PASSING
    full_fail = _all_types(Status.FAIL, NOW - timedelta(hours=2), ACCOUNT)
    newer_pass = _record(
        S3_CONTROL.method.evidence_types[0], Status.PASS, NOW - timedelta(hours=1), 52, scoped
    )
    assert _posture([*full_fail, newer_pass]).controls[0].state == State.FAILING
    # A scoped record alone never makes a control stale (nor missing): it stands in until a full one.
    old_scoped = _record(
        S3_CONTROL.method.evidence_types[0], Status.PASS, NOW - timedelta(days=60), 53, scoped
    )
    only = _posture([old_scoped, *_all_types(Status.PASS, NOW, ACCOUNT)[1:]])
    assert only.controls[0].state in (State.STALE, State.PASSING)

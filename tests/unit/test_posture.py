"""Posture rules on hand-made records: passing, failing, error, stale, missing, excepted, expiry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from evidence.attestation import accept_risk, attest
from evidence.catalog import load_catalog
from evidence.posture import State, evaluate
from evidence.records import EvidenceRecord, PreparedRecord, RunContext, SourceError, Status, seal

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CATALOG = load_catalog()


def _control(kind: str):
    # Prefer a control backed by S3 evidence only (the smallest, best-known collector).
    candidates = [c for c in CATALOG.controls if c.method.type == kind]
    s3_only = [
        c
        for c in candidates
        if c.method.evidence_types and all(t.startswith("aws.s3.") for t in c.method.evidence_types)
    ]
    return (s3_only or candidates)[0]


def _sealed(prepared: PreparedRecord, seq: int) -> EvidenceRecord:
    return seal(prepared.draft, seq=seq, recorded_at=prepared.draft.observed_at)


def _machine_record(type_id: str, status: Status, observed: datetime, seq: int) -> EvidenceRecord:
    from evidence import registry
    from evidence.pipeline import build_record

    rows = [] if status == Status.ERROR else [{"resource": "x", "status": str(status), "reason": "r"}]
    prepared = build_record(
        registry.get(type_id),
        rows=rows,
        target={"account": "1", "region": "r"},
        observed_at=observed,
        context=RunContext("t"),
        run_gx=False,
        error=None if status != Status.ERROR else SourceError(code="AccessDenied", message="no"),
    )
    draft = prepared.draft.model_copy(update={"status": status})
    return seal(draft, seq=seq, recorded_at=observed)


def _state(control, latest=(), person=(), payloads=None):
    result = evaluate(CATALOG, list(latest), list(person), payloads or {}, NOW, controls=[control])
    return result.controls[0]


def test_missing_then_passing_then_stale_then_failing() -> None:
    control = _control("automated")
    assert _state(control).state == State.MISSING
    fresh = [
        _machine_record(t, Status.PASS, NOW - timedelta(hours=1), i)
        for i, t in enumerate(control.method.evidence_types)
    ]
    assert _state(control, fresh).state == State.PASSING
    old = [
        _machine_record(t, Status.PASS, NOW - control.freshness - timedelta(hours=1), i)
        for i, t in enumerate(control.method.evidence_types)
    ]
    assert _state(control, old).state == State.STALE
    failing = [*fresh[1:], _machine_record(control.method.evidence_types[0], Status.FAIL, NOW, 99)]
    assert _state(control, failing).state == State.FAILING


def test_could_not_collect_is_error_not_pass_or_fail() -> None:
    control = _control("automated")
    records = [_machine_record(t, Status.ERROR, NOW, i) for i, t in enumerate(control.method.evidence_types)]
    assert _state(control, records).state == State.ERROR


def test_attestation_pass_stale_and_not_in_place() -> None:
    control = _control("attestation")
    good = attest(
        [control.id], "Done and reviewed", "Ada", context=RunContext("t"), observed_at=NOW - timedelta(days=1)
    )
    record = _sealed(good, 0)
    payloads = {record.payload_sha256: json.loads(good.payload)}
    assert _state(control, person=[record], payloads=payloads).state == State.PASSING
    old = attest(
        [control.id],
        "Done",
        "Ada",
        context=RunContext("t"),
        observed_at=NOW - control.freshness - timedelta(days=2),
    )
    old_record = _sealed(old, 0)
    assert (
        _state(
            control, person=[old_record], payloads={old_record.payload_sha256: json.loads(old.payload)}
        ).state
        == State.STALE
    )
    bad = attest([control.id], "Not yet", "Ada", context=RunContext("t"), status=Status.FAIL, observed_at=NOW)
    bad_record = _sealed(bad, 1)
    both = {
        record.payload_sha256: json.loads(good.payload),
        bad_record.payload_sha256: json.loads(bad.payload),
    }
    assert _state(control, person=[record, bad_record], payloads=both).state == State.FAILING  # newest wins


def test_exception_is_shown_apart_and_fails_again_on_expiry() -> None:
    control = _control("attestation")
    exc = accept_risk(
        [control.id],
        "Vendor fix due Q1",
        "CISO",
        NOW + timedelta(days=30),
        context=RunContext("t"),
        observed_at=NOW - timedelta(days=1),
    )
    record = _sealed(exc, 0)
    payloads = {record.payload_sha256: json.loads(exc.payload)}
    state = _state(control, person=[record], payloads=payloads)
    assert state.state == State.EXCEPTED and "CISO" in (state.exception or "")
    later = evaluate(CATALOG, [], [record], payloads, NOW + timedelta(days=31), controls=[control]).controls[
        0
    ]
    assert later.state == State.FAILING and "expired" in (later.exception or "")


def test_summary_counts_per_framework() -> None:
    result = evaluate(CATALOG, [], [], {}, NOW)
    assert result.summary["all"]["missing"] == len(CATALOG.controls)
    assert set(result.summary) == {"soc2", "gdpr", "dr", "all"}

"""Control evaluation as evidence: a posture snapshot per evaluation, the regressions since the
previous one, and the record of an event that was rejected. Pure functions over the store's records
(no Airflow): the evaluation DAG and the CLI call them.

A regression is named once: it is computed against the previous snapshot, so a control that stays
failing is not reported again on every run. Regressions are a control newly failing, newly in
``error`` (could not collect), newly stale, and an exception expiring within N days (reported once
per exception and expiry).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from evidence.canonical import canonical_bytes, sha256_hex, utc_iso
from evidence.pipeline import draft_record
from evidence.posture import ControlPosture, Posture, State
from evidence.records import EvidenceRecord, Population, PreparedRecord, RunContext, Status, Validation
from evidence.registry import EVENT_REJECTED, POSTURE_SNAPSHOT

_ROW_STATUS = {
    State.PASSING: Status.PASS,
    State.EXCEPTED: Status.NOT_APPLICABLE,
    State.ERROR: Status.ERROR,
}
MAX_EXCERPT = 2000


@dataclass(frozen=True)
class Regression:
    control_id: str
    kind: str  # "failing", "error", "stale", "exception_expiring"
    title: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"control_id": self.control_id, "kind": self.kind, "title": self.title, "detail": self.detail}


def _expiry(item: ControlPosture, exceptions: Mapping[str, datetime]) -> datetime | None:
    return exceptions.get(item.control.id)


def snapshot_record(
    posture: Posture,
    context: RunContext,
    *,
    exceptions: Mapping[str, datetime] | None = None,
) -> PreparedRecord:
    """The posture as a record: one row per control with its state; ``fail`` when any control is
    failing or in error. ``exceptions``: control id -> the expiry of its current exception."""
    expiries = exceptions or {}
    rows = []
    for item in posture.controls:
        fw = item.control.frameworks
        expires = _expiry(item, expiries)
        detail = item.exception or "; ".join(
            f"{p.need}: {p.detail}" for p in item.parts if p.state != "passing"
        )
        rows.append(
            {
                "resource": item.control.id,
                "region": None,
                "status": str(_ROW_STATUS.get(item.state, Status.FAIL)),
                "reason": f"{item.state}: {detail}"[:500] if detail else str(item.state),
                "state": str(item.state),
                "title": item.control.title,
                "frameworks": ", ".join([*fw.soc2, *fw.gdpr, *(["DR"] if fw.dr else [])]),
                "detail": detail[:1000] or None,
                "exception_expires_at": utc_iso(expires) if expires else None,
            }
        )
    counts = posture.summary.get("all", {})
    bad = counts.get("failing", 0) + counts.get("error", 0)
    status = Status.FAIL if bad else Status.PASS
    reason = ", ".join(f"{n} {state}" for state, n in counts.items() if n) or "no controls"
    payload = {"evidence_type": POSTURE_SNAPSHOT.id, "target": {"scope": "organisation"}, "rows": rows}
    by_status: dict[Status, int] = {}
    for row in rows:
        row_status = Status(str(row["status"]))
        by_status[row_status] = by_status.get(row_status, 0) + 1
    return draft_record(
        POSTURE_SNAPSHOT,
        payload,
        target={"scope": "organisation"},
        observed_at=posture.at,
        status=status,
        reason=f"posture: {reason}",
        population=Population(total=len(rows), by_status=by_status),
        validation=Validation(schema_valid=True),
        context=context,
        idempotency_key=sha256_hex(canonical_bytes([POSTURE_SNAPSHOT.id, context.run_id, context.task_id])),
        control_ids=(),
    )


def previous_states(payload: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """control id -> its row in a snapshot payload (empty for the first evaluation)."""
    if not payload:
        return {}
    return {row["resource"]: row for row in payload.get("rows", []) if isinstance(row, dict)}


def regressions(
    posture: Posture,
    previous: Mapping[str, Mapping[str, Any]],
    *,
    previous_at: datetime | None = None,
    exceptions: Mapping[str, datetime] | None = None,
    expiring_within: timedelta = timedelta(days=14),
) -> list[Regression]:
    """What got worse since the previous snapshot (taken at ``previous_at``); each named once (see the
    module docstring): an expiring exception is reported by the first evaluation that sees it within
    ``expiring_within`` of its expiry."""
    found = []
    expiries = exceptions or {}
    for item in posture.controls:
        before = previous.get(item.control.id, {})
        old_state = before.get("state")
        detail = item.exception or "; ".join(
            f"{p.need}: {p.detail}" for p in item.parts if p.state != "passing"
        )
        for state in (State.FAILING, State.ERROR, State.STALE):
            if item.state == state and old_state != str(state):
                found.append(Regression(item.control.id, str(state), item.control.title, detail[:500]))
        expires = _expiry(item, expiries)
        if expires is None or not posture.at < expires <= posture.at + expiring_within:
            continue
        seen_before = (
            previous_at is not None
            and before.get("exception_expires_at") == utc_iso(expires)
            and expires <= previous_at + expiring_within
        )
        if not seen_before:
            found.append(
                Regression(
                    item.control.id,
                    "exception_expiring",
                    item.control.title,
                    f"the risk acceptance expires {utc_iso(expires)}",
                )
            )
    return found


def exception_expiries(posture: Posture) -> dict[str, datetime]:
    """control id -> the expiry of the unexpired exception it is excepted by (from the posture)."""
    out: dict[str, datetime] = {}
    for item in posture.controls:
        if item.state == State.EXCEPTED and item.exception_expires_at is not None:
            out[item.control.id] = item.exception_expires_at
    return out


def latest_snapshot(
    store: Any, *, before_run: str | None = None
) -> tuple[EvidenceRecord, dict[str, Any]] | None:
    """The newest posture snapshot not written by run ``before_run`` (a retried evaluation compares
    with the snapshot before its own), with its payload."""
    for record in store.iter_records(evidence_type=POSTURE_SNAPSHOT.id, newest_first=True, limit=20):
        if before_run is not None and record.provenance.run_id == before_run:
            continue
        return record, json.loads(store.read_blob(record.payload_sha256))
    return None


def rejected_event_record(
    event: Any, reason: str, context: RunContext, *, source: str, observed_at: datetime
) -> PreparedRecord:
    """An event that could not start a collection, kept so the gap is visible (excerpt bounded)."""
    raw = event if isinstance(event, str) else json.dumps(event, sort_keys=True, default=str)
    digest = sha256_hex(raw.encode("utf-8", "replace"))
    row = {
        "resource": f"event:{digest[:16]}",
        "region": None,
        "status": "error",
        "reason": reason[:500] or "rejected",
        "event_source": source,
        "event_excerpt": raw[:MAX_EXCERPT],
        "event_sha256": digest,
    }
    payload = {"evidence_type": EVENT_REJECTED.id, "target": {"source": source}, "rows": [row]}
    return draft_record(
        EVENT_REJECTED,
        payload,
        target={"source": source},
        observed_at=observed_at,
        status=Status.ERROR,
        reason=f"event rejected: {reason}"[:500],
        population=Population(total=1, by_status={Status.ERROR: 1}),
        validation=Validation(schema_valid=True),
        context=context,
        idempotency_key=sha256_hex(canonical_bytes([EVENT_REJECTED.id, digest, context.run_id])),
        control_ids=(),
    )

"""Control posture: for each control of the catalog, what the newest evidence says.

States, in the order an auditor reads them:
- ``passing``: every evidence the control needs is present, fresh and passing;
- ``failing``: some fresh evidence fails (or an exception has expired);
- ``error``: some evidence could not be collected (never counted as pass or fail);
- ``stale``: the newest evidence is older than the control's freshness window;
- ``missing``: no evidence at all for something the control needs;
- ``excepted``: a gap covered by an unexpired risk acceptance (shown apart from passing).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from evidence.catalog import Catalog, Control
from evidence.records import EvidenceRecord, Status
from evidence.registry import ATTESTATION, CORE_TYPES, EXCEPTION

if TYPE_CHECKING:
    from evidence.store import EvidenceStore


class State(StrEnum):
    PASSING = "passing"
    FAILING = "failing"
    ERROR = "error"
    STALE = "stale"
    MISSING = "missing"
    EXCEPTED = "excepted"


# When parts of a control disagree, the worst part decides.
_SEVERITY = [State.FAILING, State.ERROR, State.STALE, State.MISSING, State.PASSING]


@dataclass(frozen=True)
class Part:
    """One piece of evidence a control needs: an evidence type, or its attestation."""

    need: str  # evidence type id, or "attestation"
    state: State
    detail: str
    record_ids: tuple[str, ...] = ()
    observed_at: datetime | None = None


@dataclass(frozen=True)
class ControlPosture:
    control: Control
    state: State
    parts: tuple[Part, ...]
    exception: str | None = None
    exception_expires_at: datetime | None = None  # of the unexpired exception that excepts it

    def to_dict(self) -> dict[str, Any]:
        return {
            "control_id": self.control.id,
            "title": self.control.title,
            "state": str(self.state),
            "frameworks": self.control.frameworks.model_dump(mode="json"),
            "method": self.control.method.type,
            "owner_role": self.control.owner_role,
            "exception": self.exception,
            "exception_expires_at": (
                self.exception_expires_at.isoformat() if self.exception_expires_at else None
            ),
            "parts": [
                {
                    "need": p.need,
                    "state": str(p.state),
                    "detail": p.detail,
                    "record_ids": list(p.record_ids),
                    "observed_at": p.observed_at.isoformat() if p.observed_at else None,
                }
                for p in self.parts
            ],
        }


@dataclass(frozen=True)
class Posture:
    at: datetime
    controls: tuple[ControlPosture, ...]
    summary: dict[str, dict[str, int]] = field(default_factory=dict)  # framework -> state -> count

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "summary": self.summary,
            "controls": [c.to_dict() for c in self.controls],
        }


def _worst(states: Iterable[State]) -> State:
    found = set(states)
    return next((s for s in _SEVERITY if s in found), State.MISSING)


SCOPED = "resources"  # a target key: the record covers only the named resources (an event's collection)


def _base_target(record: EvidenceRecord) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in record.target.items() if k != SCOPED))


def _effective(records: Sequence[EvidenceRecord]) -> tuple[list[EvidenceRecord], list[EvidenceRecord]]:
    """(records that stand for a whole target, newer resource-scoped records laid over them).

    A resource-scoped record (collected for one resource an event named) can show a new failure or
    error before the next full collection; it never clears a failure of the full record (the next
    full collection does), and it never makes a control stale or missing on its own."""
    full = {_base_target(r): r for r in records if SCOPED not in r.target}
    overlays = [
        r
        for r in records
        if SCOPED in r.target
        and (_base_target(r) not in full or r.observed_at > full[_base_target(r)].observed_at)
    ]
    if not full:
        return overlays, []
    return list(full.values()), [r for r in overlays if r.status in (Status.FAIL, Status.ERROR)]


def _automated_part(
    type_id: str, records: Sequence[EvidenceRecord], freshness: timedelta, now: datetime
) -> Part:
    records, overlays = _effective(records)
    if not records:
        return Part(type_id, State.MISSING, "no evidence collected yet")
    if overlays:
        worst = State.FAILING if any(r.status == Status.FAIL for r in overlays) else State.ERROR
        ids = tuple(r.id for r in [*records, *overlays])
        text = "; ".join(f"{r.reason} (event-driven check of {r.target[SCOPED]})" for r in overlays)
        return Part(type_id, worst, text[:500], ids, min(r.observed_at for r in records))
    ids = tuple(r.id for r in records)
    oldest = min(r.observed_at for r in records)
    statuses = Counter(r.status for r in records)
    targets = ", ".join(sorted({"/".join(r.target.values()) for r in records}))
    if statuses.get(Status.FAIL):
        bad = [r for r in records if r.status == Status.FAIL]
        return Part(type_id, State.FAILING, "; ".join(r.reason for r in bad)[:500], ids, oldest)
    if statuses.get(Status.ERROR):
        bad = [r for r in records if r.status == Status.ERROR]
        return Part(type_id, State.ERROR, "; ".join(r.reason for r in bad)[:500], ids, oldest)
    if now - oldest > freshness:
        return Part(
            type_id,
            State.STALE,
            f"newest evidence for {targets} observed {oldest:%Y-%m-%d %H:%M}Z",
            ids,
            oldest,
        )
    return Part(type_id, State.PASSING, f"{len(records)} target(s) pass: {targets}", ids, oldest)


def _rows(record: EvidenceRecord, payloads: dict[str, Any]) -> list[dict[str, Any]]:
    return list(payloads.get(record.payload_sha256, {}).get("rows", []))


def evaluate(
    catalog: Catalog,
    latest: Sequence[EvidenceRecord],
    person_records: Sequence[EvidenceRecord],
    payloads: dict[str, Any],
    now: datetime,
    controls: Sequence[Control] | None = None,
) -> Posture:
    """``latest``: newest record per (evidence type, target); ``person_records``: attestations and
    exceptions (newest first); ``payloads``: their payloads by digest (rows name the control)."""
    by_type: dict[str, list[EvidenceRecord]] = {}
    for record in latest:
        by_type.setdefault(record.evidence_type, []).append(record)
    attestation_of: dict[str, tuple[EvidenceRecord, dict[str, Any]]] = {}
    exception_of: dict[str, tuple[EvidenceRecord, dict[str, Any]]] = {}
    for record in sorted(person_records, key=lambda r: r.seq, reverse=True):
        target = attestation_of if record.evidence_type == ATTESTATION.id else exception_of
        for row in _rows(record, payloads):
            target.setdefault(row["resource"], (record, row))

    results = []
    for control in controls if controls is not None else catalog.controls:
        parts: list[Part] = []
        method = control.method
        for type_id in method.evidence_types:
            parts.append(_automated_part(type_id, by_type.get(type_id, []), control.freshness, now))
        if method.type in ("attestation", "hybrid"):
            window = method.attestation_freshness or control.freshness
            found = attestation_of.get(control.id)
            if found is None:
                parts.append(Part("attestation", State.MISSING, f"needs: {method.attestation}"))
            else:
                record, row = found
                valid_until = row.get("valid_until")
                expired = (
                    valid_until is not None
                    and datetime.fromisoformat(valid_until.replace("Z", "+00:00")) < now
                )
                who = f"{row.get('attested_by')} on {record.observed_at:%Y-%m-%d}"
                if row.get("status") == "fail":
                    parts.append(
                        Part(
                            "attestation",
                            State.FAILING,
                            f"attested NOT in place by {who}: {row.get('reason')}",
                            (record.id,),
                            record.observed_at,
                        )
                    )
                elif expired or now - record.observed_at > window:
                    parts.append(
                        Part(
                            "attestation",
                            State.STALE,
                            f"attestation by {who} is out of date",
                            (record.id,),
                            record.observed_at,
                        )
                    )
                else:
                    parts.append(
                        Part(
                            "attestation",
                            State.PASSING,
                            f"attested by {who}",
                            (record.id,),
                            record.observed_at,
                        )
                    )
        state = _worst(p.state for p in parts)
        exception_note = None
        exception_expiry = None
        found_exc = exception_of.get(control.id)
        if found_exc is not None and state != State.PASSING:
            record, row = found_exc
            expires = datetime.fromisoformat(row["expires_at"].replace("Z", "+00:00"))
            if expires > now:
                state = State.EXCEPTED
                exception_expiry = expires
                exception_note = (
                    f"risk accepted by {row.get('accepted_by')} until {expires:%Y-%m-%d}: {row.get('reason')}"
                )
            else:
                state = State.FAILING
                exception_note = (
                    f"exception expired {expires:%Y-%m-%d} (accepted by {row.get('accepted_by')})"
                )
        results.append(ControlPosture(control, state, tuple(parts), exception_note, exception_expiry))

    summary: dict[str, dict[str, int]] = {}
    for item in results:
        fw = item.control.frameworks
        for name, applies in (("soc2", bool(fw.soc2)), ("gdpr", bool(fw.gdpr)), ("dr", fw.dr), ("all", True)):
            if applies:
                counts = summary.setdefault(name, {str(s): 0 for s in State})
                counts[str(item.state)] += 1
    return Posture(at=now, controls=tuple(results), summary=summary)


def load_payloads(records: Iterable[EvidenceRecord], read_blob: Any) -> dict[str, Any]:
    return {r.payload_sha256: json.loads(read_blob(r.payload_sha256)) for r in records}


def assess(
    store: EvidenceStore,
    *,
    catalog: Catalog | None = None,
    framework: str | None = None,
    now: datetime | None = None,
) -> Posture:
    """Posture of the controls (all, or one framework's: ``soc2``, ``gdpr:Art32``...) from what the
    store holds now. The one function the CLI, the evaluation DAG and the UI call."""
    from evidence.canonical import utcnow
    from evidence.catalog import load_catalog

    cat = catalog or load_catalog()
    selected = cat.filter(framework=framework) if framework else list(cat.controls)
    collected = [r for r in store.latest() if r.evidence_type not in CORE_TYPES]
    person = [
        *store.iter_records(evidence_type=ATTESTATION.id),
        *store.iter_records(evidence_type=EXCEPTION.id),
    ]
    payloads = load_payloads(person, store.read_blob)
    return evaluate(cat, collected, person, payloads, now or utcnow(), controls=selected)

"""From rows to a record: JSON Schema check, GX suite, status, population, idempotency key.

This is the one place that decides a record's status, so every source gets the same rules:
- the source could not be read -> ``error`` with the source's code and message (never pass/fail);
- the payload breaks its schema -> ``error`` (malformed evidence is not evidence);
- no resources -> ``not_applicable``;
- any row fails, or the GX suite fails -> ``fail``, naming the resources (and those that could not
  be read, if any);
- otherwise rows that could not be read -> ``error`` (naming them and what the others were judged);
  else ``pass``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from evidence import __version__
from evidence.canonical import canonical_bytes, sha256_hex
from evidence.records import (
    ApiCall,
    BlobRef,
    GxSummary,
    Population,
    PreparedRecord,
    RecordDraft,
    RunContext,
    SourceError,
    Status,
    Validation,
)
from evidence.registry import EvidenceType
from evidence.validation import has_suite, run_suite, schema_errors

MAX_NAMED = 10


def control_ids_for(type_id: str) -> tuple[str, ...]:
    """The catalog is the one place that maps evidence types to controls."""
    from evidence.catalog import load_catalog

    return tuple(c.id for c in load_catalog().controls_for_evidence_type(type_id))


def idempotency_key(evidence_type: str, target: dict[str, str], context: RunContext) -> str:
    """Same type, target and task (whatever the try) -> same key: a retried task appends nothing new."""
    return sha256_hex(
        canonical_bytes(
            {
                "evidence_type": evidence_type,
                "target": target,
                "dag_id": context.dag_id,
                "run_id": context.run_id,
                "task_id": context.task_id,
                "map_index": context.map_index,
            }
        )
    )


def _name_rows(rows: Sequence[dict[str, Any]]) -> str:
    named = [
        f"{r.get('resource')} ({r.get('reason')})" if r.get("reason") else str(r.get("resource"))
        for r in rows
    ]
    text = ", ".join(named[:MAX_NAMED])
    if len(named) > MAX_NAMED:
        text += f", and {len(named) - MAX_NAMED} more"
    return text


def decide(
    etype: EvidenceType,
    rows: Sequence[dict[str, Any]],
    gx: GxSummary | None,
    error: SourceError | None,
    schema_problems: Sequence[str],
) -> tuple[Status, str, Population]:
    counts = Counter(Status(r.get("status", Status.ERROR)) for r in rows)
    population = Population(total=len(rows), by_status=dict(counts))
    kind = etype.resource_kind
    if error is not None:
        reason = f"could not collect {etype.id}: {error.code}: {error.message}"
        if error.permission:
            reason += f" (missing permission {error.permission})"
        return Status.ERROR, reason, population
    if schema_problems:
        return Status.ERROR, "payload failed its JSON Schema: " + "; ".join(schema_problems[:5]), population
    if not rows:
        return Status.NOT_APPLICABLE, f"no {kind}s in this target", population
    failing = [r for r in rows if r.get("status") == Status.FAIL]
    erroring = [r for r in rows if r.get("status") == Status.ERROR]
    # Rows that could not be read are named next to the failing ones: a fail is never read as "every
    # other resource passes" when some could not be read.
    unread = f"; could not read {len(erroring)}: {_name_rows(erroring)}" if erroring else ""
    if failing:
        return (
            Status.FAIL,
            f"{len(failing)} of {len(rows)} {kind}s fail: {_name_rows(failing)}{unread}",
            population,
        )
    if gx is not None and not gx.success:
        return (
            Status.FAIL,
            "evidence does not prove the control: " + ", ".join(gx.failed_expectations) + unread,
            population,
        )
    if erroring:
        judged = [
            f"{counts[s]} {s.value.replace('_', ' ')}"
            for s in (Status.PASS, Status.NOT_APPLICABLE)
            if counts.get(s, 0)
        ]
        return (
            Status.ERROR,
            f"could not read {len(erroring)} of {len(rows)} {kind}s: {_name_rows(erroring)}"
            + (f"; the others were judged: {', '.join(judged)}" if judged else ""),
            population,
        )
    if counts.get(Status.NOT_APPLICABLE, 0) == len(rows):
        return Status.NOT_APPLICABLE, f"the control does not apply to any of {len(rows)} {kind}s", population
    return Status.PASS, f"all {counts.get(Status.PASS, 0)} applicable {kind}s pass", population


def _attach(attachments: dict[str, bytes], refs: list[BlobRef], data: bytes, role: str) -> None:
    digest = sha256_hex(data)
    attachments[digest] = data
    refs.append(BlobRef(sha256=digest, size=len(data), media_type="application/json", role=role))


def summarise_calls(calls: Sequence[ApiCall]) -> list[ApiCall]:
    """One entry per (service, operation, region, HTTP status, error code) with a count; the first
    request id is kept as an example. The full log, every request id, is the "api-calls" blob."""
    groups: dict[tuple[Any, ...], ApiCall] = {}
    for call in calls:
        key = (call.service, call.operation, call.region, call.http_status, call.error_code)
        seen = groups.get(key)
        if seen is None:
            groups[key] = call.model_copy(update={"params": {}, "count": 1})
        else:
            groups[key] = seen.model_copy(
                update={"count": seen.count + 1, "attempts": seen.attempts + call.attempts}
            )
    return sorted(groups.values(), key=lambda c: (c.service, c.operation, c.region or "", c.error_code or ""))


def build_record(
    etype: EvidenceType,
    *,
    rows: Sequence[dict[str, Any]],
    target: dict[str, str],
    observed_at: datetime,
    context: RunContext,
    api_calls: Sequence[ApiCall] = (),
    error: SourceError | None = None,
    period_start: datetime | None = None,
    period_end: datetime | None = None,
    run_gx: bool = True,
) -> PreparedRecord:
    payload_obj: dict[str, Any] = {"evidence_type": etype.id, "target": target, "rows": list(rows)}
    if error is not None:
        payload_obj["error"] = error.model_dump(mode="json")
        problems: list[str] = []
    else:
        problems = schema_errors(etype.id, payload_obj)
    gx_summary: GxSummary | None = None
    attachments: dict[str, bytes] = {}
    refs: list[BlobRef] = []
    # GX judges the evidence that was read: rows that could not be read are errors, not proof either way.
    readable = [r for r in rows if r.get("status") != Status.ERROR]
    if error is None and not problems and readable and run_gx and has_suite(etype.id):
        gx_summary, gx_full = run_suite(etype.id, readable)
        _attach(attachments, refs, json.dumps(gx_full, sort_keys=True, default=str).encode(), "gx-result")
    if api_calls:
        call_log = canonical_bytes([c.model_dump(mode="json", exclude={"count"}) for c in api_calls])
        _attach(attachments, refs, call_log, "api-calls")
    status, reason, population = decide(etype, rows, gx_summary, error, problems)
    return draft_record(
        etype,
        payload_obj,
        target=target,
        observed_at=observed_at,
        period_start=period_start,
        period_end=period_end,
        status=status,
        reason=reason,
        population=population,
        validation=Validation(schema_valid=not problems, schema_errors=tuple(problems), gx=gx_summary),
        context=context,
        api_calls=api_calls,
        error=error,
        attachments=attachments,
        refs=refs,
        idempotency_key=idempotency_key(etype.id, target, context),
    )


def draft_record(
    etype: EvidenceType,
    payload_obj: dict[str, Any],
    *,
    target: dict[str, str],
    observed_at: datetime,
    status: Status,
    reason: str,
    population: Population,
    validation: Validation,
    context: RunContext,
    idempotency_key: str,
    period_start: datetime | None = None,
    period_end: datetime | None = None,
    api_calls: Sequence[ApiCall] = (),
    error: SourceError | None = None,
    attachments: dict[str, bytes] | None = None,
    refs: Sequence[BlobRef] = (),
    control_ids: Sequence[str] | None = None,
    attested_by: str | None = None,
) -> PreparedRecord:
    """The one place a draft is put together, for collected evidence (``build_record``) and for what
    people provide (``evidence.attestation``) alike: the same fields, version and provenance."""
    payload = canonical_bytes(payload_obj)
    draft = RecordDraft(
        evidence_type=etype.id,
        control_ids=tuple(control_ids) if control_ids is not None else control_ids_for(etype.id),
        collector=etype.collector,
        collector_version=__version__,
        target=target,
        observed_at=observed_at,
        period_start=period_start or observed_at,
        period_end=period_end or observed_at,
        status=status,
        reason=reason,
        error=error,
        population=population,
        payload_sha256=sha256_hex(payload),
        payload_size=len(payload),
        attachments=tuple(refs),
        validation=validation,
        provenance=context.provenance(summarise_calls(api_calls)),
        idempotency_key=idempotency_key,
        attested_by=attested_by,
    )
    return PreparedRecord(draft=draft, payload=payload, attachments=dict(attachments or {}))

"""Evidence people provide: attestations (a statement, optionally a document) and control
exceptions (risk acceptance). Both are appended like any other evidence, with who provided them.

Items no machine can observe ("Team trained on procedures", sign-offs) are covered by attestations.
An exception says who accepted a risk, why, and until when; posture shows excepted controls apart
from passing ones, and an expired exception counts as failing again.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from evidence.canonical import canonical_bytes, sha256_hex, utc_iso, utcnow
from evidence.errors import UsageError
from evidence.pipeline import PreparedRecord, RunContext
from evidence.records import BlobRef, Population, RecordDraft, Status, Validation
from evidence.registry import EvidenceType, register
from evidence.validation import schema_errors

ATTESTATION = register(
    EvidenceType(
        id="attestation.statement",
        title="A person attests that a control is in place (statement, optional document)",
        collector="attestation",
        api_calls=(),
        freshness=timedelta(days=365),
        resource_kind="control",
    )
)
EXCEPTION = register(
    EvidenceType(
        id="control.exception",
        title="A risk acceptance: who accepted a control's gap, why, and until when",
        collector="exception",
        api_calls=(),
        freshness=timedelta(days=365),
        resource_kind="control",
    )
)
PERSON_COLLECTORS = frozenset({"attestation", "exception"})
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024


def _known_controls(control_ids: Sequence[str]) -> tuple[str, ...]:
    from evidence.catalog import load_catalog

    catalog = load_catalog()
    unknown = [c for c in control_ids if catalog.get(c) is None]
    if unknown:
        raise UsageError(f"unknown control id(s): {', '.join(unknown)} (see `evidence catalog`)")
    if not control_ids:
        raise UsageError("name at least one control (--control ID)")
    return tuple(dict.fromkeys(catalog.get(c).id for c in control_ids))  # type: ignore[union-attr]


def _prepared(
    etype: EvidenceType,
    rows: list[dict[str, object]],
    *,
    control_ids: tuple[str, ...],
    who: str,
    observed_at: datetime,
    context: RunContext,
    attachments: dict[str, bytes],
    refs: tuple[BlobRef, ...],
    status: Status,
    reason: str,
    period_end: datetime | None = None,
    idempotency_key: str | None = None,
) -> PreparedRecord:
    payload_obj = {"evidence_type": etype.id, "target": {"scope": "organisation"}, "rows": rows}
    problems = schema_errors(etype.id, payload_obj)
    if problems:
        raise UsageError(f"{etype.id}: " + "; ".join(problems))
    payload = canonical_bytes(payload_obj)
    key = idempotency_key or sha256_hex(canonical_bytes([etype.id, payload.decode(), utc_iso(observed_at)]))
    draft = RecordDraft(
        evidence_type=etype.id,
        control_ids=control_ids,
        collector=etype.collector,
        collector_version=context.tool,
        target={"scope": "organisation"},
        observed_at=observed_at,
        period_start=observed_at,
        period_end=period_end or observed_at,
        status=status,
        reason=reason,
        population=Population(total=len(rows), by_status={status: len(rows)}),
        payload_sha256=sha256_hex(payload),
        payload_size=len(payload),
        attachments=refs,
        validation=Validation(schema_valid=True),
        provenance=context.provenance(()),
        idempotency_key=key,
        attested_by=who,
    )
    return PreparedRecord(draft=draft, payload=payload, attachments=attachments)


def attest(
    control_ids: Sequence[str],
    statement: str,
    attested_by: str,
    *,
    context: RunContext,
    role: str | None = None,
    document: Path | None = None,
    status: Status = Status.PASS,
    valid_until: datetime | None = None,
    observed_at: datetime | None = None,
    idempotency_key: str | None = None,
) -> PreparedRecord:
    """An attestation for one or more controls. ``status`` fail records an honest "not in place"."""
    if status not in (Status.PASS, Status.FAIL):
        raise UsageError("an attestation says pass (in place) or fail (not in place)")
    if not statement.strip():
        raise UsageError("an attestation needs a statement (--statement)")
    if not attested_by.strip():
        raise UsageError("an attestation needs the name of who attests (--by)")
    controls = _known_controls(control_ids)
    observed = observed_at or utcnow()
    attachments: dict[str, bytes] = {}
    refs: tuple[BlobRef, ...] = ()
    doc_name = doc_digest = None
    if document is not None:
        try:
            size = document.stat().st_size
            if size > MAX_DOCUMENT_BYTES:
                raise UsageError(f"{document}: {size} bytes is over the {MAX_DOCUMENT_BYTES} byte limit")
            data = document.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read document {document}: {exc.strerror or exc}") from exc
        doc_digest = sha256_hex(data)
        doc_name = document.name
        attachments[doc_digest] = data
        media = mimetypes.guess_type(document.name)[0] or "application/octet-stream"
        refs = (
            BlobRef(
                sha256=doc_digest,
                size=len(data),
                media_type=media,
                name=doc_name,
                role="attestation-document",
            ),
        )
    rows: list[dict[str, object]] = [
        {
            "resource": control,
            "region": None,
            "status": str(status),
            "reason": statement,
            "attested_by": attested_by,
            "role": role,
            "document_name": doc_name,
            "document_sha256": doc_digest,
            "valid_until": utc_iso(valid_until) if valid_until else None,
        }
        for control in controls
    ]
    reason = f"attested by {attested_by}" + (f" ({role})" if role else "") + f": {statement}"
    return _prepared(
        ATTESTATION,
        rows,
        control_ids=controls,
        who=attested_by,
        observed_at=observed,
        context=context,
        attachments=attachments,
        refs=refs,
        status=status,
        reason=reason,
        period_end=valid_until,
        idempotency_key=idempotency_key,
    )


def accept_risk(
    control_ids: Sequence[str],
    reason: str,
    accepted_by: str,
    expires_at: datetime,
    *,
    context: RunContext,
    role: str | None = None,
    observed_at: datetime | None = None,
) -> PreparedRecord:
    """A control exception: the gap is known and accepted until ``expires_at`` (at most a year)."""
    observed = observed_at or utcnow()
    if expires_at.tzinfo is None:
        raise UsageError("the expiry needs a timezone (use UTC, e.g. 2027-03-31T00:00:00Z)")
    if expires_at <= observed:
        raise UsageError(f"the exception would already have expired ({utc_iso(expires_at)})")
    if expires_at - observed > timedelta(days=366):
        raise UsageError("an exception may last at most a year; accept it again when it expires")
    if not reason.strip() or not accepted_by.strip():
        raise UsageError("an exception needs a reason (--reason) and who accepts the risk (--by)")
    controls = _known_controls(control_ids)
    rows: list[dict[str, object]] = [
        {
            "resource": control,
            "region": None,
            "status": "not_applicable",
            "reason": reason,
            "accepted_by": accepted_by,
            "role": role,
            "expires_at": utc_iso(expires_at),
        }
        for control in controls
    ]
    text = f"risk accepted by {accepted_by} until {utc_iso(expires_at)}: {reason}"
    return _prepared(
        EXCEPTION,
        rows,
        control_ids=controls,
        who=accepted_by,
        observed_at=observed,
        context=context,
        attachments={},
        refs=(),
        status=Status.NOT_APPLICABLE,
        reason=text,
        period_end=expires_at,
    )


__all__ = ["ATTESTATION", "EXCEPTION", "PERSON_COLLECTORS", "accept_risk", "attest"]

"""Evidence people provide: attestations (a statement, optionally a document) and control
exceptions (risk acceptance). Both are appended like any other evidence, with who provided them.

Items no machine can observe ("Team trained on procedures", sign-offs) are covered by attestations.
An exception says who accepted a risk, why, and until when; posture shows excepted controls apart
from passing ones, and an expired exception counts as failing again.
"""

from __future__ import annotations

import errno
import mimetypes
import os
import stat
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from evidence.canonical import canonical_bytes, sha256_hex, utc_iso, utcnow
from evidence.errors import UsageError
from evidence.pipeline import draft_record
from evidence.records import BlobRef, Population, PreparedRecord, RunContext, Status, Validation
from evidence.registry import ATTESTATION, EXCEPTION, EvidenceType
from evidence.validation import schema_errors

ORGANISATION = {"scope": "organisation"}  # the target of evidence people provide
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
_CHUNK = 1024 * 1024


def read_document(path: Path, *, follow_symlinks: bool = False, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The bytes of a supporting document: a regular file, at most ``limit`` bytes.

    Refused: a symbolic link unless ``follow_symlinks`` (a link to ``/etc/shadow`` would be stored and
    shown to whoever reads the store), a FIFO, device, socket or directory (``/dev/zero`` never ends, a
    FIFO blocks forever). Opened without blocking and without following a final symlink, checked with
    ``fstat`` on the open descriptor (no race with a swap of the path), and the size limit is enforced
    while reading, never trusted from ``stat``.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks and path.is_symlink():
            raise UsageError(
                f"document {path} is a symbolic link: give the file itself, or pass --follow-symlinks "
                "to store what it points to"
            ) from exc
        raise UsageError(f"cannot read document {path}: {exc.strerror or exc}") from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = (
                "a directory"
                if stat.S_ISDIR(mode)
                else "a FIFO"
                if stat.S_ISFIFO(mode)
                else "a device"
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket"
                if stat.S_ISSOCK(mode)
                else "not a regular file"
            )
            raise UsageError(f"document {path} is {kind}: attach a regular file")
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise UsageError(f"document {path} is over the {limit} byte limit")
            chunks.append(chunk)
    except OSError as exc:
        raise UsageError(f"cannot read document {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    return b"".join(chunks)


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
    payload_obj = {"evidence_type": etype.id, "target": dict(ORGANISATION), "rows": rows}
    problems = schema_errors(etype.id, payload_obj)
    if problems:
        raise UsageError(f"{etype.id}: " + "; ".join(problems))
    key = idempotency_key or sha256_hex(
        canonical_bytes([etype.id, canonical_bytes(payload_obj).decode(), utc_iso(observed_at)])
    )
    return draft_record(
        etype,
        payload_obj,
        target=dict(ORGANISATION),
        observed_at=observed_at,
        period_end=period_end,
        status=status,
        reason=reason,
        population=Population(total=len(rows), by_status={status: len(rows)}),
        validation=Validation(schema_valid=True),
        context=context,
        idempotency_key=key,
        attachments=attachments,
        refs=refs,
        control_ids=control_ids,
        attested_by=who,
    )


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
    follow_symlinks: bool = False,
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
    if valid_until is not None and valid_until <= observed:
        raise UsageError(
            f"the attestation would lapse ({utc_iso(valid_until)}) before it is made ({utc_iso(observed)})"
        )
    attachments: dict[str, bytes] = {}
    refs: tuple[BlobRef, ...] = ()
    doc_name = doc_digest = None
    if document is not None:
        data = read_document(document, follow_symlinks=follow_symlinks)
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


__all__ = ["ATTESTATION", "EXCEPTION", "ORGANISATION", "accept_risk", "attest"]

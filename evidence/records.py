"""Evidence records: what a collector or a person hands to the store, and what the store keeps.

A ``RecordDraft`` is built by the pipeline (``evidence.pipeline.draft_record``, for collected and
attested evidence alike) and carries everything the source told us; a ``PreparedRecord`` is a draft
with the bytes it points at, which is what ``store.append`` takes. ``RunContext`` says where and why
a collection ran. The store turns it into an ``EvidenceRecord`` by assigning ``seq`` (its position in the
Merkle log), ``recorded_at`` and ``leaf_hash``. The leaf hash covers the canonical JSON of every field
except itself, so editing any field of a stored record is detectable offline.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer
from ulid import ULID

from evidence import __version__
from evidence.canonical import canonical_bytes, utc_iso


def _require_tz(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("datetime must carry a timezone (evidence times are UTC)")
    return moment


UtcDatetime = Annotated[
    datetime, AfterValidator(_require_tz), PlainSerializer(utc_iso, return_type=str, when_used="json")
]

SHA256_HEX = r"^[0-9a-f]{64}$"


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"  # could not collect: never counted as pass or fail
    NOT_APPLICABLE = "not_applicable"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ApiCall(_Frozen):
    """One call to a source's API behind a piece of evidence (parameters never include secrets)."""

    service: str
    operation: str
    region: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    request_id: str | None = None
    http_status: int | None = None
    error_code: str | None = None
    attempts: int = 1
    # In a record's provenance, calls are summarised per (service, operation, region, status, error):
    # ``count`` says how many; the full call log (every request id) is the record's "api-calls" blob.
    count: int = 1


class Provenance(_Frozen):
    host: str | None = None
    executor: str | None = None  # the orchestrator's executor, e.g. "CeleryExecutor"
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    map_index: int | None = None
    try_number: int | None = None
    tool: str | None = None  # e.g. "evidence-cli 0.1.0" when not run by Airflow
    api_calls: tuple[ApiCall, ...] = ()
    # Why the run happened: "scheduled", "manual", "asset_triggered", "cli"...; and, for an event-driven
    # run, the event that triggered it (asset and source, e.g. "evidence/events <- sqs:queue-url").
    run_type: str | None = None
    triggered_by: str | None = None
    orchestrator: str | None = None  # e.g. "airflow 3.3.2"


class SourceError(_Frozen):
    """The source's own error code and message (secrets scrubbed), for ``error`` records."""

    code: str
    message: str
    permission: str | None = None  # the IAM action (or policy) that was missing, when known
    operation: str | None = None


class Population(_Frozen):
    """How many resources the collection saw, and how many of them each status covers."""

    total: int = Field(ge=0)
    by_status: dict[Status, int] = Field(default_factory=dict)


class GxSummary(_Frozen):
    success: bool
    evaluated: int
    successful: int
    failed_expectations: tuple[str, ...] = ()
    suite: str | None = None


class Validation(_Frozen):
    schema_valid: bool
    schema_errors: tuple[str, ...] = ()
    gx: GxSummary | None = None


class BlobRef(_Frozen):
    """An extra content-addressed blob a record points at (a document, the full GX result)."""

    sha256: Annotated[str, Field(pattern=SHA256_HEX)]
    size: int = Field(ge=0)
    media_type: str = "application/octet-stream"
    name: str | None = None
    role: str | None = None  # e.g. "attestation-document", "gx-result"


class RecordDraft(_Frozen):
    id: str = Field(default_factory=lambda: str(ULID()))
    evidence_type: str = Field(min_length=1)
    control_ids: tuple[str, ...] = ()
    collector: str
    collector_version: str
    target: dict[str, str] = Field(default_factory=dict)
    observed_at: UtcDatetime
    period_start: UtcDatetime
    period_end: UtcDatetime
    status: Status
    reason: str
    error: SourceError | None = None
    population: Population | None = None
    payload_sha256: Annotated[str, Field(pattern=SHA256_HEX)]
    payload_size: int = Field(ge=0)
    payload_media_type: str = "application/json"
    attachments: tuple[BlobRef, ...] = ()
    validation: Validation
    provenance: Provenance = Field(default_factory=Provenance)
    idempotency_key: str = Field(min_length=1)
    attested_by: str | None = None

    @property
    def payload_ref(self) -> str:
        return f"sha256:{self.payload_sha256}"


@dataclass(frozen=True)
class PreparedRecord:
    """A draft plus the bytes it points at, ready for ``store.append``."""

    draft: RecordDraft
    payload: bytes
    attachments: dict[str, bytes] = field(default_factory=dict)  # sha256 hex -> bytes


@dataclass(frozen=True)
class RunContext:
    """Where and why a collection ran: Airflow fills the task fields, the CLI a run id of its own."""

    run_id: str
    dag_id: str | None = None
    task_id: str | None = None
    map_index: int | None = None
    try_number: int | None = None
    executor: str | None = None
    host: str = field(default_factory=socket.gethostname)
    tool: str = f"evidence {__version__}"
    run_type: str | None = None
    triggered_by: str | None = None
    orchestrator: str | None = None

    def provenance(self, api_calls: Sequence[ApiCall]) -> Provenance:
        return Provenance(
            host=self.host,
            executor=self.executor,
            dag_id=self.dag_id,
            run_id=self.run_id,
            task_id=self.task_id,
            map_index=self.map_index,
            try_number=self.try_number,
            tool=self.tool,
            api_calls=tuple(api_calls),
            run_type=self.run_type,
            triggered_by=self.triggered_by,
            orchestrator=self.orchestrator,
        )

    @classmethod
    def from_env(cls, run_id: str, run_type: str = "cli") -> RunContext:
        return cls(run_id=os.environ.get("EVIDENCE_RUN_ID", run_id), run_type=run_type)


class EvidenceRecord(RecordDraft):
    seq: int = Field(ge=0)
    recorded_at: UtcDatetime
    leaf_hash: Annotated[str, Field(pattern=SHA256_HEX)]

    def summary(self) -> dict[str, Any]:
        """The short form every listing shows (CLI ``list --json``, the UI's evidence browser)."""
        return {
            "id": self.id,
            "seq": self.seq,
            "evidence_type": self.evidence_type,
            "status": str(self.status),
            "target": dict(self.target),
            "observed_at": utc_iso(self.observed_at),
            "recorded_at": utc_iso(self.recorded_at),
            "control_ids": list(self.control_ids),
            "reason": self.reason,
        }

    def leaf_data(self) -> bytes:
        """The bytes whose RFC 6962 leaf hash is ``leaf_hash``: every field but the hash itself."""
        return record_leaf_data(self.model_dump(mode="json", exclude={"leaf_hash"}))


def record_leaf_data(record_json: dict[str, Any]) -> bytes:
    """Canonical bytes of a record's JSON form without ``leaf_hash`` (the Merkle leaf's input)."""
    body = {k: v for k, v in record_json.items() if k != "leaf_hash"}
    return canonical_bytes(body)


def seal(draft: RecordDraft, *, seq: int, recorded_at: datetime) -> EvidenceRecord:
    """Give a draft its place in the log. The store calls this inside its append transaction."""
    return seal_with_leaf_data(draft, seq=seq, recorded_at=recorded_at)[0]


def seal_with_leaf_data(
    draft: RecordDraft, *, seq: int, recorded_at: datetime
) -> tuple[EvidenceRecord, bytes]:
    """``seal()``, plus the exact leaf-data bytes it hashed (the store keeps them as the record's JSON).

    Equal to ``record.leaf_data()``; returning them saves serialising the record a second time.
    """
    from evidence.merkle import leaf_hash  # local: keeps records importable while merkle is pure

    body = draft.model_dump(mode="json")
    body["seq"] = seq
    body["recorded_at"] = utc_iso(recorded_at)
    data = record_leaf_data(body)
    digest = leaf_hash(data).hex()
    return EvidenceRecord.model_validate({**body, "leaf_hash": digest}), data

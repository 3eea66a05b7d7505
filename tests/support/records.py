"""Test records for the evidence store: a ``test.sample`` evidence type and PreparedRecord builders.

The ``test.sample`` JSON Schema is test-only, so it never goes into the shipped
``evidence_schemas/schemas/`` folder: :func:`install_test_schema` writes it to a temporary folder and
points ``evidence.validation`` there (the store validates through ``evidence.validation.check_payload``,
the same path as production). Child processes call it again with the same folder.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ulid import ULID

from evidence.canonical import canonical_bytes, sha256_hex
from evidence.records import BlobRef, PreparedRecord, Provenance, RecordDraft, SourceError, Status, Validation

TEST_TYPE = "test.sample"

TEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://evidence.invalid/schemas/test.sample.schema.json",
    "title": "test.sample (tests only)",
    "type": "object",
    "required": ["evidence_type", "target", "rows"],
    "additionalProperties": False,
    "properties": {
        "evidence_type": {"const": TEST_TYPE},
        "target": {"type": "object", "additionalProperties": {"type": "string"}},
        "rows": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["resource", "status", "encrypted"],
                "additionalProperties": False,
                "properties": {
                    "resource": {"type": "string", "minLength": 1},
                    "status": {"enum": ["pass", "fail", "error", "not_applicable"]},
                    "encrypted": {"type": "boolean"},
                    "detail": {"type": "string"},
                },
            },
        },
    },
}

BASE_TIME = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def install_test_schema(folder: Path) -> Path:
    """Write the test schema to ``folder`` and make ``evidence.validation`` read schemas from there.

    Returns the folder. Callers inside pytest should prefer the ``test_schema`` fixture pattern:
    ``monkeypatch.setattr(evidence.validation, "SCHEMA_DIR", folder)`` plus cache clearing, which this
    function does directly (for child processes, where there is no monkeypatch).
    """
    import evidence.validation as validation

    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{TEST_TYPE}.schema.json").write_text(json.dumps(TEST_SCHEMA, indent=2))
    validation.SCHEMA_DIR = folder
    validation._registry.cache_clear()
    validation._validator.cache_clear()
    return folder


def deterministic_ulid(seed: str, index: int) -> str:
    """A stable ULID for (seed, index): re-running a batch builds the very same records."""
    millis = int(BASE_TIME.timestamp() * 1000) + index
    randomness = hashlib.sha256(f"{seed}:{index}".encode()).digest()[:10]
    return str(ULID.from_bytes(millis.to_bytes(6, "big") + randomness))


def sample_payload(target: dict[str, str], *, rows: int = 3, size: int = 0, index: int = 0) -> dict[str, Any]:
    """A valid ``test.sample`` payload; ``size`` pads it to about that many bytes."""
    payload: dict[str, Any] = {
        "evidence_type": TEST_TYPE,
        "target": target,
        "rows": [
            {
                "resource": f"bucket-{index}-{i}",
                "status": "pass",
                "encrypted": True,
                "detail": f"row {i} of record {index}",
            }
            for i in range(rows)
        ],
    }
    if size:
        current = len(canonical_bytes(payload))
        if current < size:
            payload["rows"][0]["detail"] += "x" * (size - current)
    return payload


def make_prepared(
    index: int = 0,
    *,
    seed: str = "test",
    target: dict[str, str] | None = None,
    payload: dict[str, Any] | bytes | None = None,
    status: Status = Status.PASS,
    payload_size: int = 0,
    attachments: dict[str, bytes] | None = None,
    control_ids: tuple[str, ...] = ("TEST-CTRL-1", "SOC2:CC7.2"),
    observed_at: datetime | None = None,
    idempotency_key: str | None = None,
    error: SourceError | None = None,
) -> PreparedRecord:
    """A PreparedRecord for ``test.sample``, deterministic in (seed, index)."""
    target = target if target is not None else {"account": "123456789012", "region": "eu-west-1"}
    if isinstance(payload, bytes):
        payload_bytes = payload
    else:
        payload_bytes = canonical_bytes(
            payload if payload is not None else sample_payload(target, size=payload_size, index=index)
        )
    observed = observed_at or (BASE_TIME + timedelta(seconds=index))
    refs = tuple(
        BlobRef(
            sha256=sha256_hex(data),
            size=len(data),
            media_type="text/plain",
            name=f"doc-{n}.txt",
            role="document",
        )
        for n, data in enumerate((attachments or {}).values())
    )
    draft = RecordDraft(
        id=deterministic_ulid(seed, index),
        evidence_type=TEST_TYPE,
        control_ids=control_ids,
        collector="tests",
        collector_version="0.0.0",
        target=target,
        observed_at=observed,
        period_start=observed - timedelta(days=1),
        period_end=observed,
        status=status,
        reason="test record",
        error=error,
        payload_sha256=sha256_hex(payload_bytes),
        payload_size=len(payload_bytes),
        attachments=refs,
        validation=Validation(schema_valid=True),
        provenance=Provenance(tool="tests", run_id=f"{seed}-run"),
        idempotency_key=idempotency_key or hashlib.sha256(f"{seed}:key:{index}".encode()).hexdigest(),
    )
    by_digest = {sha256_hex(data): data for data in (attachments or {}).values()}
    return PreparedRecord(draft=draft, payload=payload_bytes, attachments=by_digest)


def make_batch(start: int, count: int, *, seed: str = "test", payload_size: int = 0) -> list[PreparedRecord]:
    return [make_prepared(i, seed=seed, payload_size=payload_size) for i in range(start, start + count)]


def iter_prepared(count: int, *, seed: str = "bench", payload_size: int = 2048) -> Iterator[PreparedRecord]:
    for i in range(count):
        yield make_prepared(
            i,
            seed=seed,
            payload_size=payload_size,
            target={"account": f"{100000000000 + i % 50}", "region": "eu-west-1"},
        )

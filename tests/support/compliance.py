"""A small evidence store for the Compliance UI's tests: an ``error`` record with hostile text from a
source, risk acceptances (active, expiring, expired, superseded), an attestation and two posture
snapshots. Used by the unit tests of the views and by the Airflow/browser tests (same content)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from evidence.attestation import accept_risk, attest
from evidence.catalog import Control, load_catalog
from evidence.evaluation import snapshot_record
from evidence.posture import assess
from evidence.records import ApiCall, RunContext, SourceError

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
ERROR_TYPE = "aws.s3.bucket_encryption"
PERMISSION = "s3:GetEncryptionConfiguration"


def error_control() -> Control:
    catalog = load_catalog()
    return next(c for c in catalog.controls if ERROR_TYPE in c.method.evidence_types)


def excepted_controls() -> tuple[str, str, str]:
    """Three attestation controls: one with an active exception expiring soon, one expired, one
    superseded then active."""
    ids = [c.id for c in load_catalog().controls if c.method.type == "attestation"]
    return ids[0], ids[1], ids[2]


def seed(store: Any, now: datetime) -> dict[str, Any]:
    """Append the test content; returns what the tests look for."""
    from evidence import registry
    from evidence.pipeline import build_record

    ctx = RunContext("compliance-tests", run_type="manual")
    error = build_record(
        registry.get(ERROR_TYPE),
        rows=[],
        target={"account": "123456789012", "region": "eu-west-1", "bucket": HOSTILE},
        observed_at=now - timedelta(hours=3),
        context=ctx,
        api_calls=[
            ApiCall(service="s3", operation="GetBucketEncryption", http_status=403, error_code="AccessDenied")
        ],
        error=SourceError(
            code="AccessDenied",
            message=f"User is not authorized: {HOSTILE}",
            permission=PERMISSION,
            operation="GetBucketEncryption",
        ),
        run_gx=False,
    )
    soon, expired, superseded = excepted_controls()
    records = [
        error,
        accept_risk(
            [expired],
            "old acceptance",
            "Grace Hopper",
            now - timedelta(days=1),
            context=ctx,
            observed_at=now - timedelta(days=30),
        ),
        accept_risk(
            [superseded],
            "first acceptance",
            "Grace Hopper",
            now + timedelta(days=200),
            context=ctx,
            observed_at=now - timedelta(days=20),
        ),
        accept_risk(
            [superseded],
            "second acceptance",
            "Alan Turing",
            now + timedelta(days=100),
            context=ctx,
            observed_at=now - timedelta(days=10),
        ),
        accept_risk(
            [soon],
            f"pen test booked {HOSTILE}",
            "Ada Lovelace",
            now + timedelta(days=5),
            context=ctx,
            role="Engineering Lead",
            observed_at=now - timedelta(days=2),
        ),
        attest(
            [superseded],
            "Team trained on the procedures",
            "Barbara Liskov",
            context=ctx,
            observed_at=now - timedelta(hours=2),
        ),
    ]
    saved = [store.append(p).record for p in records]
    for i in range(2):
        posture = assess(store, now=now - timedelta(hours=1 - i))
        store.append(snapshot_record(posture, RunContext(f"evaluation-{i}", task_id="evaluate")))
    return {"error_id": saved[0].id, "soon": soon, "expired": expired, "superseded": superseded}

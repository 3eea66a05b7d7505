"""Unit tests of the vault.kv mapping (recorded metadata answers, no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from collectors.core import Absent, Failed, Found
from collectors.vault.kv import KvSnapshot, kv2_mounts, secret_metadata
from evidence.records import SourceError
from evidence.validation import schema_errors

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def meta(updated: datetime, *, destroyed: bool = False) -> Found:
    return Found(
        {
            "request_id": "r",
            "data": {
                "current_version": 2,
                "created_time": "2026-01-01T00:00:00Z",
                "updated_time": updated.isoformat(),
                "versions": {
                    "1": {"destroyed": destroyed, "deletion_time": ""},
                    "2": {"destroyed": destroyed, "deletion_time": ""},
                },
            },
        }
    )


def test_kv2_mounts_only_version_2_and_the_configured_ones() -> None:
    mounts = {
        "data": {
            "secret/": {"type": "kv", "options": {"version": "2"}},
            "team/": {"type": "kv", "options": {"version": "2"}},
            "legacy/": {"type": "kv", "options": {"version": "1"}},
            "transit/": {"type": "transit"},
        }
    }
    assert kv2_mounts(mounts, ()) == ["secret/", "team/"]
    assert kv2_mounts(mounts, ("team/",)) == ["team/"]


def test_secret_metadata_judges_rotation_age() -> None:
    snapshot = KvSnapshot(
        target={"vault": "http://v"},
        observed_at=NOW,
        mounts=["secret/"],
        secrets={
            "secret/app/fresh": meta(NOW - timedelta(days=3)),
            "secret/app/stale": meta(NOW - timedelta(days=200)),
            "secret/app/gone": meta(NOW - timedelta(days=400), destroyed=True),
            "secret/app/raced": Absent("404"),
            "secret/app/denied": Failed(
                "access_denied",
                SourceError(
                    code="PermissionDenied", message="no", operation="x", permission="+/metadata/*:read"
                ),
            ),
        },
        unlisted={
            "secret/ops/": Failed(
                "access_denied", SourceError(code="PermissionDenied", message="no", operation="y")
            )
        },
        secret_max_age_days=90,
    )
    rows = {r["resource"]: r for r in secret_metadata(snapshot)}
    assert rows["secret/app/fresh"]["status"] == "pass" and rows["secret/app/fresh"]["path"] == "app/fresh"
    assert rows["secret/app/stale"]["status"] == "fail" and "200.0 days" in rows["secret/app/stale"]["reason"]
    assert rows["secret/app/gone"]["status"] == "not_applicable"
    assert "secret/app/raced" not in rows
    assert (
        rows["secret/app/denied"]["status"] == "error"
        and "+/metadata/*:read" in rows["secret/app/denied"]["reason"]
    )
    assert rows["secret/ops/"]["status"] == "error"
    payload = {
        "evidence_type": "vault.kv.secret_metadata",
        "target": {"vault": "v"},
        "rows": list(rows.values()),
    }
    assert schema_errors("vault.kv.secret_metadata", payload) == []

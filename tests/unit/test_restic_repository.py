"""Unit tests of the restic.repository mappings (recorded answers, no repository)."""

from __future__ import annotations

from datetime import UTC, datetime

from collectors.core import Failed, Found
from collectors.restic.repository import RepositorySnapshot, check, encryption, snapshots
from evidence.records import SourceError
from evidence.validation import schema_errors

NOW = datetime(2026, 1, 2, tzinfo=UTC)


def snap(**kw: object) -> RepositorySnapshot:
    base: dict[str, object] = {"target": {"repository": "/r"}, "observed_at": NOW, "repository": "/r"}
    base.update(kw)
    return RepositorySnapshot(**base)  # type: ignore[arg-type]


def test_snapshots_fresh_old_and_empty() -> None:
    fresh = [
        {"time": "2026-01-01T20:00:00Z", "short_id": "a1"},
        {"time": "2025-12-01T00:00:00Z", "short_id": "z"},
    ]
    row = snapshots(snap(snapshots=fresh))[0]
    assert row["status"] == "pass" and row["newest_id"] == "a1" and row["newest_age_hours"] == 4.0
    assert snapshots(snap(snapshots=fresh, max_age_hours=1.0))[0]["status"] == "fail"
    assert snapshots(snap(snapshots=[]))[0]["reason"] == "the repository holds no snapshot"
    payload = {
        "evidence_type": "restic.repository.snapshots",
        "target": {},
        "rows": snapshots(snap(snapshots=fresh)),
    }
    assert schema_errors("restic.repository.snapshots", payload) == []


def test_check_and_encryption() -> None:
    assert check(snap(check=Found("no errors")))[0]["status"] == "pass"
    bad = Failed("client_error", SourceError(code="exit 1", message="pack abc: not found", operation="x"))
    assert check(snap(check=bad))[0]["reason"] == "pack abc: not found"
    assert encryption(snap(config={"version": 2}, raw_config_plain=False))[0]["status"] == "pass"
    assert encryption(snap(config={"version": 2}, raw_config_plain=True))[0]["status"] == "fail"
    assert encryption(snap()) == []

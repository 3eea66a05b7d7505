"""Unit tests of the pgbackrest.stanza mappings (recorded answers, no server)."""

from __future__ import annotations

from datetime import UTC, datetime

from collectors.core import Failed, Found
from collectors.pgbackrest.stanza import (
    StanzaSnapshot,
    archive,
    backups,
    check,
    cipher,
    missing_segments,
    retention,
)
from evidence.records import SourceError
from evidence.validation import schema_errors

NOW = datetime(2026, 1, 2, tzinfo=UTC)
INFO = {
    "name": "main",
    "status": {"code": 0},
    "cipher": "none",
    "repo": [{"key": 1, "cipher": "none"}],
    "archive": [{"id": "15-1", "min": "000000010000000000000002", "max": "000000010000000000000009"}],
    "backup": [
        {
            "label": "20260101-000000F",
            "type": "full",
            "timestamp": {"start": 1767225500, "stop": 1767225600},
            "archive": {"start": "000000010000000000000002"},
            "info": {"size": 1234},
        }
    ],
}


def snap(**kw: object) -> StanzaSnapshot:
    base: dict[str, object] = {
        "target": {"stanza": "main"},
        "observed_at": NOW,
        "stanza": "main",
        "info": INFO,
    }
    base.update(kw)
    return StanzaSnapshot(**base)  # type: ignore[arg-type]


def test_segments_missing_are_counted_per_timeline() -> None:
    names = [f"0000000100000000000000{n:02X}-abc.lz4" for n in (2, 3, 5)] + [
        "000000010000000000000004.partial"
    ]
    assert missing_segments(names) == 1
    assert missing_segments(["00000002000000000000000A", "00000002000000000000000B", "x.history"]) == 0
    assert missing_segments(["0000000100000000000000FF", "000000010000000100000000"]) == 0


def test_archive_gap_and_coverage() -> None:
    names = [f"0000000100000000000000{n:02X}" for n in range(2, 10)]
    assert archive(snap(archive_files=names))[0]["status"] == "pass"
    row = archive(snap(archive_files=names[:3] + names[4:]))[0]
    assert row["status"] == "fail" and row["missing_segments"] == 1


def test_old_backup_clear_repository_and_no_retention_fail() -> None:
    row = backups(snap(max_age_hours=1.0))[0]
    assert row["status"] == "fail" and "older than 1 h" in row["reason"]
    assert backups(snap(max_age_hours=48.0))[0]["status"] == "pass"
    assert cipher(snap())[0]["status"] == "fail"
    enc = {**INFO, "repo": [{"key": 1, "cipher": "aes-256-cbc"}]}
    assert cipher(snap(info=enc))[0]["encrypted"] is True
    assert retention(snap(settings={}))[0]["status"] == "fail"
    assert (
        retention(snap(settings={"repo1-retention-full": "1"}))[0]["reason"]
        == "keeps 1 full backups, fewer than 2"
    )
    assert retention(snap(settings={"repo1-retention-full": "3"}))[0]["status"] == "pass"


def test_check_outcomes_and_schema() -> None:
    failed = Failed("client_error", SourceError(code="exit 82", message="WAL not archived", operation="x"))
    assert check(snap(check=failed))[0]["status"] == "fail"
    denied = Failed("access_denied", SourceError(code="exit 1", message="permission denied", operation="x"))
    assert check(snap(check=denied))[0]["status"] == "error"
    rows = check(snap(check=Found("")))
    assert rows[0]["status"] == "pass"
    for type_id, mapped in (
        ("pgbackrest.stanza.check", rows),
        ("pgbackrest.stanza.backups", backups(snap())),
    ):
        assert (
            schema_errors(type_id, {"evidence_type": type_id, "target": {"stanza": "main"}, "rows": mapped})
            == []
        )

"""The pgBackRest family against a real stanza (the session's scratch estate): each evidence type
passes on the healthy repository, and a damaged copy (missing WAL, no cipher) fails naming why."""

from __future__ import annotations

import json
import shutil
from typing import Any

from collectors.core.runner import collect_all
from collectors.pgbackrest.family import PGBACKREST
from collectors.pgscratch import give_to_server_user
from evidence.records import PreparedRecord, RunContext
from tests.support.pgscratch import STANZA, Estate, copy_tree, pgbackrest_config


def collect(settings: dict[str, Any]) -> dict[str, PreparedRecord]:
    config = PGBACKREST.configure(PGBACKREST.connection.resolve(settings))
    records = collect_all(PGBACKREST, config, RunContext(run_id="test-pgbackrest"), run_gx=False)
    return {r.draft.evidence_type: r for r in records}


def test_healthy_stanza_passes_every_type(pg_estate: Estate) -> None:
    records = collect({"stanzas": [STANZA], "config": str(pg_estate.pgbackrest_config), "user": "postgres"})
    assert set(records) == {
        f"pgbackrest.stanza.{t}" for t in ("check", "backups", "archive", "cipher", "retention")
    }
    for type_id, record in records.items():
        assert record.draft.status == "pass", (type_id, record.draft.reason)
    cipher = json.loads(records["pgbackrest.stanza.cipher"].payload)["rows"][0]
    assert cipher["cipher"] == "aes-256-cbc" and cipher["encrypted"] is True


def test_missing_wal_and_clear_repository_fail(pg_estate: Estate) -> None:
    repo = copy_tree(pg_estate.repo, "pgbackrest-damaged-")
    try:
        config = pgbackrest_config(repo.parent, pg_estate.cluster, repo)
        text = config.read_text().replace("repo1-retention-full=2\n", "")
        config.write_text(text)
        give_to_server_user(repo.parent)
        segments = sorted(
            p for p in (repo / "archive" / STANZA).rglob("0000000100000000000000*") if ".backup" not in p.name
        )
        assert len(segments) >= 3
        segments[1].unlink()
        records = collect(
            {"stanzas": [STANZA], "config": str(config), "user": "postgres", "min_retention_full": 2}
        )
    finally:
        shutil.rmtree(repo.parent, ignore_errors=True)
    archive = records["pgbackrest.stanza.archive"].draft
    assert archive.status == "fail", archive.reason
    assert "WAL segment(s) missing" in archive.reason, archive.reason
    retention = records["pgbackrest.stanza.retention"].draft
    assert retention.status == "fail" and "not set" in retention.reason


def test_unknown_stanza_is_an_error_not_a_fail(pg_estate: Estate) -> None:
    records = collect({"stanzas": ["nope"], "config": str(pg_estate.pgbackrest_config), "user": "postgres"})
    backups = records["pgbackrest.stanza.backups"].draft
    assert backups.status == "error" and "nope" in backups.reason

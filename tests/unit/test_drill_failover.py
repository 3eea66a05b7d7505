"""The failover and replication drills' pure parts: the verdict, the record (schema-valid, one row
per table or standby), the DAG's kinds, the catalog mappings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from collectors.drill.failover import PairRequest, PairResult, judge, pair_record
from collectors.drill.family import DRILL, FAILOVER, REPLICATION, pair_request_from
from collectors.drill.restore import Step
from evidence.errors import ConfigError
from evidence.records import RunContext, SourceError, Status


def _result(kind: str = "failover", **kw: Any) -> PairResult:
    now = datetime.now(UTC)
    base: dict[str, Any] = dict(
        request=PairRequest(kind=kind, rto_target_seconds=10, rpo_target_seconds=1),
        started_at=now,
        finished_at=now,
        steps=[Step("reap", now, 0.01), Step("cleanup", now, 0.2)],
        rows=[],
        rto_seconds=2.0 if kind == "failover" else None,
        rpo_seconds=0.0,
        facts={"marker_replayed": True, "lag_bytes_at_failure": 0} if kind == "failover" else {"standbys": 1},
        failure=None,
        error=None,
        kept=None,
    )
    base.update(kw)
    return PairResult(**base)


def test_judge_error_fail_and_targets() -> None:
    assert judge(_result())[0] == Status.PASS
    status, reason = judge(_result(rto_seconds=11.0, rpo_seconds=2.5))
    assert (
        status == Status.FAIL and "RTO 11.00 s exceeds the target 10 s" in reason and "RPO 2.500 s" in reason
    )
    assert judge(_result(failure="promote failed: x")) == (Status.FAIL, "promote failed: x")
    status, reason = judge(_result(error=SourceError(code="ScratchError", message="no initdb")))
    assert status == Status.ERROR and reason.startswith("could not run the failover drill")
    status, reason = judge(_result("replication", rpo_seconds=0.2))
    assert status == Status.PASS and "caught up in 0.200 s" in reason
    assert judge(_result("replication", rpo_seconds=3.0))[0] == Status.FAIL


def test_records_are_schema_valid_with_their_rows() -> None:
    table = {
        "resource": "drill/marker",
        "status": "fail",
        "reason": "marker m lost",
        "expected_rows": 1,
        "restored_rows": 0,
        "checksum_match": False,
    }
    failed = _result(rows=[table], failure="data differs after failover: drill/marker (marker m lost)")
    record = pair_record(FAILOVER, failed, RunContext(run_id="u"), run_gx=False)
    assert record.draft.status == "fail" and record.draft.validation.schema_valid
    assert record.draft.population.by_status == {"fail": 1}
    standby = {
        "resource": "drill_standby",
        "status": "pass",
        "reason": "streaming",
        "state": "streaming",
        "sync_state": "async",
        "lag_bytes": 100,
        "lag_seconds": 0.01,
        "caught_up": True,
    }
    facts = {"standbys": 1, "lag_bytes_max": 100, "lag_seconds_max": 0.01, "catch_up_seconds": 0.0}
    record = pair_record(
        REPLICATION, _result("replication", rows=[standby], facts=facts), RunContext(run_id="u")
    )
    payload = json.loads(record.payload)
    assert record.draft.status == "pass", record.draft.reason
    assert payload["rto_seconds"] is None and payload["drill"] == "replication"
    assert {"rto_seconds", "rpo_seconds", "rto_target_seconds", "rpo_target_seconds", "steps"} <= set(payload)


def test_settings_targets_and_kinds() -> None:
    request = pair_request_from("failover", {"rto": "30", "keep": True})
    assert request.rto_target_seconds == 30 and request.rpo_target_seconds == 5 and request.keep
    with pytest.raises(ConfigError, match="unknown drill kind 'chaos'"):
        DRILL.run_drill({"kind": "chaos"}, RunContext(run_id="u"))
    from plugins.orchestration.drills import KINDS, drill_settings

    assert KINDS == ("restore", "failover", "replication")
    assert drill_settings({"kind": "failover", "rto_target_seconds": 5})["kind"] == "failover"


def test_catalog_maps_the_failover_and_replication_controls() -> None:
    from evidence.catalog import load_catalog

    catalog = load_catalog()
    assert {c.id for c in catalog.controls_for_evidence_type("drill.failover.postgres")} == {
        "SEED000-BC-HA-03",
        "SEED003-DR-03",
        "SEED003-DR-06",
    }
    assert {c.id for c in catalog.controls_for_evidence_type("drill.replication.postgres")} == {
        "SEED003-DR-03"
    }

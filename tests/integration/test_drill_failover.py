"""Failover and replication drills end to end on a real scratch primary and streaming standby: pass
cases, an impossible RTO, a standby that dies before promotion or during the write load; each a
record naming its cause, with no scratch cluster, port, process or folder left behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from collectors import pgscratch as scratch
from collectors.drill import failover
from collectors.drill.family import DRILL, run_pair_drill
from evidence.errors import ConfigError
from evidence.records import PreparedRecord, RunContext


def drill(kind: str, **settings: Any) -> tuple[PreparedRecord, dict[str, Any]]:
    record = run_pair_drill(kind, settings, RunContext(run_id=f"test-{kind}"), run_gx=False)
    return record, json.loads(record.payload)


@pytest.fixture(autouse=True)
def nothing_left_behind() -> Iterator[None]:
    yield
    assert scratch.leftovers() == [], "a drill left a scratch cluster behind"


@pytest.fixture(scope="module")
def passed() -> dict[str, tuple[PreparedRecord, dict[str, Any]]]:
    """One passing drill of each kind, shared by the tests that read them."""
    return {"failover": drill("failover"), "replication": drill("replication")}


def test_failover_drill_passes_with_every_step_timed(passed: dict[str, Any]) -> None:
    record, payload = passed["failover"]
    assert record.draft.status == "pass", record.draft.reason
    assert [s["name"] for s in payload["steps"]] == [
        "reap",
        "primary",
        "standby",
        "write_marker",
        "fail_primary",
        "promote",
        "verify_data",
        "failback",
        "cleanup",
    ]
    assert all(s["outcome"] == "ok" for s in payload["steps"]), payload["steps"]
    assert payload["marker_replayed"] is True and payload["rpo_seconds"] == 0
    assert 0 < payload["rto_seconds"] <= payload["rto_target_seconds"] and payload["rto_met"] is True
    assert payload["lag_bytes_at_failure"] >= 0 and payload["primary_lsn_at_failure"]
    rows = {r["resource"]: r for r in payload["rows"]}
    assert rows["drill/public.accounts"]["restored_rows"] == 1000 and rows["drill/marker"]["status"] == "pass"
    assert record.draft.population.total == 2
    operations = [c.operation for c in record.draft.provenance.api_calls]
    assert set(operations) == {"pg_basebackup", "pg_ctl promote", "pg_ctl stop"}  # repeats are counted
    assert payload["failback_seconds"] > 0


def test_replication_drill_measures_lag_and_catch_up(passed: dict[str, Any]) -> None:
    record, payload = passed["replication"]
    assert record.draft.status == "pass", record.draft.reason
    assert [s["name"] for s in payload["steps"]][3:] == ["check_standby", "write_load", "catch_up", "cleanup"]
    assert payload["standbys"] == 1 and payload["load_transactions"] == 200
    assert payload["lag_bytes_max"] >= 0 and payload["rpo_seconds"] == payload["catch_up_seconds"]
    assert payload["rto_seconds"] is None and payload["rto_met"] is None
    (row,) = payload["rows"]
    assert row["resource"] == "drill_standby" and row["state"] == "streaming" and row["sync_state"] == "async"


def test_impossible_rto_is_a_fail_with_the_figures() -> None:
    record, payload = drill("failover", rto=0.0001)
    assert record.draft.status == "fail"
    assert "RTO" in record.draft.reason and "exceeds the target 0.0001 s" in record.draft.reason
    assert payload["rto_met"] is False and payload["steps"][-1]["name"] == "cleanup"


def _kill_standby(pair: failover.Pair) -> None:
    assert pair.standby is not None
    scratch._kill_postmaster(pair.standby.datadir)


def test_a_standby_that_cannot_be_promoted_fails_naming_the_step(monkeypatch: pytest.MonkeyPatch) -> None:
    real = failover._promote

    def dead_standby(pair: failover.Pair) -> None:
        _kill_standby(pair)  # the standby crashes just before ops promote it
        real(pair)

    monkeypatch.setattr(failover, "_promote", dead_standby)
    record, payload = drill("failover")
    assert record.draft.status == "fail"
    assert record.draft.reason.startswith("promote failed: pg_ctl exited"), record.draft.reason
    assert payload["rto_seconds"] is None and payload["steps"][-1]["detail"].startswith("2 scratch")
    calls = record.draft.provenance.api_calls
    assert next(c for c in calls if c.operation == "pg_ctl promote").error_code == "exit"


def test_a_standby_lost_during_the_load_fails_the_replication_drill(monkeypatch: pytest.MonkeyPatch) -> None:
    real = failover._write_load

    def lost(pair: failover.Pair) -> Any:
        _kill_standby(pair)
        return real(pair)

    monkeypatch.setattr(failover, "_write_load", lost)
    record, payload = drill("replication")
    assert record.draft.status == "fail"
    assert "standby" in record.draft.reason and record.draft.reason.split(" failed:")[0] in (
        "write_load",
        "catch_up",
    ), record.draft.reason
    assert payload["rpo_seconds"] is None


def test_dr_drill_task_runs_the_replication_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evidence.store import open_store
    from plugins.orchestration.drills import run_drill

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    monkeypatch.setenv("EVIDENCE_STORE_URL", f"sqlite:///{tmp_path}/store.db")
    ti = SimpleNamespace(dag_id="dr_drill", task_id="drill", map_index=-1, try_number=1)
    context = {"ti": ti, "run_id": "manual__test", "dag_run": SimpleNamespace(run_type="manual")}
    params = {"kind": "replication", "target": None, "rto_target_seconds": 60, "rpo_target_seconds": 10}
    done = run_drill(params, context)  # with the GX suite
    assert done["status"] == "pass", done["reason"]
    with open_store() as store:
        stored = store.get(done["record"])
    assert stored.evidence_type == "drill.replication.postgres" and stored.provenance.dag_id == "dr_drill"
    with pytest.raises(ConfigError, match="chaos"):
        DRILL.run_drill({"kind": "chaos"}, RunContext(run_id="t"))


def test_cli_replication_drill_exits_1_when_the_standby_misses_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from collectors.drill.cli import drill_app
    from evidence.cli import CheckFailed, state

    # In process (the GX suite is loaded once for this module); ``main`` turns CheckFailed into exit 1.
    monkeypatch.setattr(state, "store_url", f"sqlite:///{tmp_path}/store.db")
    done = CliRunner().invoke(drill_app(), ["replication", "--rpo", "0.000001", "--json"])
    assert isinstance(done.exception, CheckFailed), done.output
    out = json.loads(done.stdout)
    assert out["status"] == "fail" and "RPO" in out["reason"] and out["standbys"] == 1
    assert out["steps"][-1]["name"] == "cleanup" and out["seq"] == 0

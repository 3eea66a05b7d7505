"""The dr_drill DAG's task body with the trigger form's params (what the REST API sends as conf):
a drill that passes, one with an impossible RTO that records a ``fail``, both appended to the store
with the DAG's provenance; an unbuilt drill kind is refused."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from evidence.errors import ConfigError
from tests.support.pgscratch import Estate


def context() -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="dr_drill", task_id="drill", map_index=-1, try_number=1)
    return {"ti": ti, "run_id": "manual__test", "dag_run": SimpleNamespace(run_type="manual")}


def test_dr_drill_task_records_pass_and_fail(
    pg_estate: Estate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evidence.store import open_store
    from plugins.orchestration.drills import run_drill

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    monkeypatch.setenv("EVIDENCE_STORE_URL", f"sqlite:///{tmp_path}/store.db")
    monkeypatch.setenv("EVIDENCE_DRILL_BASEBACKUP_DIR", str(pg_estate.basebackup_dir))
    params = {
        "kind": "restore",
        "target": None,  # no Airflow connection: the environment names the backups
        "backup_source": "basebackup",
        "backup_id": "latest",
        "rto_target_seconds": 600,
        "rpo_target_seconds": 3600,
        "check_sql": ["SELECT count(*) = 1000 FROM events"],
        "database": None,
        "keep": False,
    }
    passed = run_drill(params, context())
    failed = run_drill({**params, "rto_target_seconds": 0.001}, context())
    assert passed["status"] == "pass", passed["reason"]
    assert failed["status"] == "fail" and "RTO" in failed["reason"]
    with open_store() as store:
        stored = [store.get(passed["record"]), store.get(failed["record"])]
    assert [r.evidence_type for r in stored] == ["drill.restore.postgres"] * 2
    assert {r.provenance.dag_id for r in stored} == {"dr_drill"}
    with pytest.raises(ConfigError, match="chaos"):
        run_drill({**params, "kind": "chaos"}, context())

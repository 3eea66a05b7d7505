"""``airflow dags test`` of every DAG, against every installed family's demo source, with the evidence
each run appends checked in the store: the family DAGs collect their types with the run's provenance,
the events DAG collects exactly the type and resource an event names and records a malformed event as
rejected, and the evaluation DAG appends a posture snapshot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evidence import registry
from evidence.store import open_store
from plugins.orchestration.context import IN_PROCESS
from plugins.orchestration.local import demo_estates

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
FAMILIES = sorted(registry.families())


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("airflow")
    store = home / "store" / "evidence.db"
    store.parent.mkdir()
    with demo_estates(None) as connections:
        env = {
            **os.environ,
            **connections,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "EVIDENCE_STORE_URL": f"sqlite:///{store}",
            "GX_ANALYTICS_ENABLED": "false",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "180",
        }
        env.pop("EVIDENCE_SIGNING_KEY", None)
        migrated = subprocess.run(
            [AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=900
        )
        assert migrated.returncode == 0, migrated.stderr[-3000:]
        yield env


def dags_test(env: dict[str, str], dag_id: str, conf: dict[str, Any] | None = None) -> str:
    args = [AIRFLOW, "dags", "test", dag_id]
    if conf is not None:
        args += ["--conf", json.dumps(conf)]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "DagRun Finished" in result.stdout + result.stderr
    return result.stdout + result.stderr


def records(env: dict[str, str], **filters: Any) -> list[Any]:
    with open_store(env["EVIDENCE_STORE_URL"], environ={}) as store:
        return list(store.iter_records(**filters))


@pytest.mark.parametrize("family", FAMILIES)
def test_family_dag_collects_every_type(airflow_env: dict[str, str], family: str) -> None:
    if registry.family(family).demo() is None:
        pytest.skip(f"the {family} family has no demo source; its own integration tests cover it")
    dags_test(airflow_env, f"{family}_evidence")
    types = {t.id for t in registry.family(family).evidence_types()}
    got = [
        r
        for r in records(airflow_env)
        if r.evidence_type in types and r.provenance.dag_id == f"{family}_evidence"
    ]
    # (the drill demo schedules every kind: a restore of its backup, a failover and a replication drill)
    assert {r.evidence_type for r in got} == types
    for record in got:
        prov = record.provenance
        assert prov.task_id == "collect" and prov.run_type == "manual"
        # dags test runs every task itself, whatever executor is configured: the record says so; and
        # its one collect task gathers every unit on the family's pool (mapped tasks would run one
        # after another here)
        assert prov.executor == IN_PROCESS and prov.map_index in (None, 0)
        assert prov.orchestrator and prov.orchestrator.startswith("airflow 3.")
        assert record.status in ("pass", "fail", "error", "not_applicable")


def test_events_dag_collects_exactly_what_an_event_names(airflow_env: dict[str, str]) -> None:
    before = {r.id for r in records(airflow_env)}
    event = {
        "family": "aws",
        "evidence_types": ["aws.s3.bucket_encryption"],
        "resources": ["demo-plain-bucket"],
    }
    dags_test(airflow_env, "evidence_events", {"event": event})
    new = [r for r in records(airflow_env) if r.id not in before]
    assert [r.evidence_type for r in new] == ["aws.s3.bucket_encryption"]
    (record,) = new
    assert record.target["resources"] == "demo-plain-bucket"
    assert record.population is not None and record.population.total == 1
    assert record.status == "fail" and "demo-plain-bucket" in record.reason

    dags_test(airflow_env, "evidence_events", {"event": {"family": "aws", "evidence_types": ["aws.s3.nope"]}})
    (rejected,) = [r for r in records(airflow_env, evidence_type="event.rejected")]
    assert rejected.status == "error" and "aws.s3.nope" in rejected.reason


def test_evaluation_dag_appends_a_posture_snapshot(airflow_env: dict[str, str]) -> None:
    output = dags_test(airflow_env, "control_evaluation")
    (snapshot,) = records(airflow_env, evidence_type="posture.snapshot")
    assert snapshot.provenance.dag_id == "control_evaluation"
    assert snapshot.population is not None and snapshot.population.total > 100
    assert "regression(s)" in output

"""A DR drill triggered through Airflow's REST API, as ops would from a script: a real deployment on
loopback (api-server, scheduler, dag-processor, triggerer, LocalExecutor), the ``dr_drill`` DAG
triggered with params (``POST /api/v2/dags/dr_drill/dagRuns``), a real restore of a real backup into a
scratch cluster. A drill within its targets appends a ``pass`` record; one with an impossible RTO target
appends a ``fail`` record naming it, and the run itself succeeds (the drill was recorded)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from evidence.store import open_store
from plugins.orchestration.local import LocalAirflow, connection_uri
from tests.support.pgscratch import Estate, estate

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("drills")
    (folder / "store").mkdir()
    store_url = f"sqlite:///{folder / 'store' / 'evidence.db'}"
    with estate(rows=200) as built:
        env = {
            "EVIDENCE_STORE_URL": store_url,
            "AIRFLOW_CONN_DRILL_DEFAULT": connection_uri("generic", built.settings()),
        }
        with LocalAirflow(home=folder / "airflow", executor="local", env=env, parallelism=2) as airflow:
            airflow.wait_for_dags(["dr_drill"])
            airflow.unpause("dr_drill")
            yield {"airflow": airflow, "store_url": store_url, "estate": built}


def _drills(store_url: str) -> list[Any]:
    with open_store(store_url, environ={}) as store:
        return list(store.iter_records(evidence_type="drill.restore.postgres"))


def _drill(deployment: dict[str, Any], conf: dict[str, Any]) -> Any:
    airflow: LocalAirflow = deployment["airflow"]
    before = {r.id for r in _drills(deployment["store_url"])}
    run_id = airflow.trigger("dr_drill", conf)
    run = airflow.wait_run("dr_drill", run_id, timeout=900)
    assert run["state"] == "success", run
    (record,) = [r for r in _drills(deployment["store_url"]) if r.id not in before]
    assert record.provenance.dag_id == "dr_drill" and record.provenance.run_type == "manual"
    return record


def test_a_drill_through_the_rest_api_restores_and_passes(deployment: dict[str, Any]) -> None:
    estate_: Estate = deployment["estate"]
    record = _drill(
        deployment,
        {"backup_source": "basebackup", "rto_target_seconds": 900, "rpo_target_seconds": 10**7},
    )
    assert record.status == "pass", record.reason
    assert record.population is not None and record.population.total >= 1
    assert estate_.sql("select count(*) from pg_database")  # the source is untouched and serving


def test_an_impossible_rto_target_records_a_fail(deployment: dict[str, Any]) -> None:
    record = _drill(
        deployment,
        {"backup_source": "basebackup", "rto_target_seconds": 0.001, "rpo_target_seconds": 10**7},
    )
    assert record.status == "fail"
    assert "RTO" in record.reason

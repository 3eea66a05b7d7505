"""Every DAG imports cleanly, is documented and retried, and imports nothing heavy at top level."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory):
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow-home")))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "false")
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors(dagbag) -> None:
    from evidence import registry

    assert not dagbag.import_errors, dagbag.import_errors
    families = {f"{name}_evidence" for name in registry.families()}
    assert {*families, "control_evaluation", "evidence_events"} <= set(dagbag.dags)


def test_every_installed_family_has_its_dag() -> None:
    from evidence import registry

    for name in registry.families():
        path = ROOT / "dags" / f"{name}_evidence.py"
        assert path.exists(), f"collector family {name} has no DAG file (dags/{name}_evidence.py)"


def test_collection_tasks_are_named_after_what_they_collect_and_update_assets(dagbag) -> None:
    from evidence import registry

    for name in registry.families():
        dag = dagbag.dags[f"{name}_evidence"]
        collect = dag.get_task("collect")
        assert collect.map_index_template == "{{ unit_label }}"
        assert not collect.outlets, f"{name}: mapped tasks must not emit alias events at once"
        publish = dag.get_task("publish")
        assert publish.outlets and publish.trigger_rule == "all_done", f"{name}: no task updates assets"
        assert publish.upstream_task_ids == {"collect"}
        sources = dag.params.get_param("sources").schema["items"]["enum"]
        assert set(sources) == set(registry.family(name).sources())
    evaluation = dagbag.dags["control_evaluation"]
    scheduled_on = (
        {a.name for a in evaluation.timetable.asset_condition.iter_assets().values()}
        if hasattr(evaluation.timetable.asset_condition, "iter_assets")
        else set()
    )
    collected = {f"evidence/{t.id}" for t in registry.all_types() if registry.is_collected(t)}
    assert not scheduled_on or collected <= scheduled_on


def test_every_dag_has_tags_owner_retries_and_documented_params(dagbag) -> None:
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no documentation"
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id} has no owner"
            assert task.retries >= 1, f"{dag_id}.{task.task_id} is not retried"
        for name, param in dag.params.items():
            assert param.description, f"{dag_id} param {name} is undocumented"


def test_dag_files_import_nothing_heavy() -> None:
    for path in sorted((ROOT / "dags").glob("*.py")):
        code = (
            "import runpy, sys; runpy.run_path(sys.argv[1]); "
            "heavy = [m for m in ('boto3', 'botocore', 'great_expectations', 'pandas', 'hvac', "
            "'evidence.store') "
            "if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)"
        )
        env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "false"}
        result = subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env
        )
        assert result.returncode == 0, f"{path.name}: {result.stdout}{result.stderr[-2000:]}"

"""Provenance from Airflow's task context: where and why a task ran."""

from __future__ import annotations

import socket
from typing import Any

from evidence.records import RunContext


def airflow_version() -> str:
    from airflow import __version__

    return f"airflow {__version__}"


IN_PROCESS = "in-process (dags test)"


def in_process() -> bool:
    """Whether this task runs inside ``airflow dags test`` (``dag.test()``): in the calling process,
    one task after another, with no executor and the execution API served in-process."""
    try:
        from airflow.sdk.execution_time import task_runner
        from airflow.sdk.execution_time.supervisor import InProcessSupervisorComms
    except ImportError:  # not inside an Airflow task
        return False
    return isinstance(getattr(task_runner, "SUPERVISOR_COMMS", None), InProcessSupervisorComms)


def executor_name() -> str:
    """The executor that runs this task: the one configured (e.g. ``CeleryExecutor``), or
    :data:`IN_PROCESS` under ``airflow dags test``, which runs tasks itself whatever is configured."""
    from airflow.configuration import conf

    if in_process():
        return IN_PROCESS

    configured = conf.get("core", "executor", fallback="") or "unknown"
    # "LocalExecutor", "CeleryExecutor", a module path, or a comma-separated list: the first is the default.
    first = configured.split(",")[0].strip()
    return first.rsplit(".", 1)[-1].split(":")[-1]


def describe_triggers(context: dict[str, Any]) -> str | None:
    """The asset events that triggered this run, for a person: ``asset <- source`` per event."""
    events = context.get("triggering_asset_events") or {}
    parts = []
    try:
        items = list(events.items())
    except AttributeError:
        return None
    for asset, asset_events in items:
        name = getattr(asset, "name", None) or getattr(asset, "uri", None) or str(asset)
        for event in asset_events:
            source = getattr(event, "source_dag_id", None) or (getattr(event, "extra", None) or {}).get(
                "source"
            )
            parts.append(f"{name} <- {source or 'external'}")
    return "; ".join(parts)[:500] or None


def run_context(context: dict[str, Any]) -> RunContext:
    ti = context["ti"]
    dag_run = context.get("dag_run")
    raw_type = getattr(dag_run, "run_type", None)
    run_type = str(getattr(raw_type, "value", raw_type) or "") or None
    return RunContext(
        run_id=str(context["run_id"]),
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        map_index=ti.map_index if ti.map_index is not None and ti.map_index >= 0 else None,
        try_number=ti.try_number,
        executor=executor_name(),
        host=socket.gethostname(),
        run_type=run_type,
        triggered_by=describe_triggers(context),
        orchestrator=airflow_version(),
    )

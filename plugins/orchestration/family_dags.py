"""One DAG per collector family: plan the units, deal them into a few mapped tasks (each named after
what it collects, collecting its units on the family's pool as the CLI does), append to the evidence
store, and update one Airflow Asset per evidence type collected.

The same DAG serves a schedule, a manual run from the trigger form (params: sources, evidence types
and the family's own settings, each with its description), and the REST API. What a run collects and
why it ran go into every record's provenance (run type, executor, host, Airflow version).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import pendulum

from evidence import registry
from evidence.family import CollectorFamily

DEFAULT_START = pendulum.datetime(2026, 1, 1, tz="UTC")


def evidence_asset(type_id: str) -> Any:
    """The Airflow Asset an evidence type's collection updates (downstream work schedules on it).

    Its URI has no scheme on purpose: Airflow normalises a URI with a scheme through the providers'
    handlers, which imports boto3 (the S3 handler) into every DAG file that names an asset."""
    from airflow.sdk import Asset

    name = f"evidence/{type_id}"
    return Asset(name=name, uri=name, group="evidence")


def family_alias(family: str) -> Any:
    from airflow.sdk import AssetAlias

    return AssetAlias(name=f"evidence-collected/{family}", group="evidence")


def _param_schema(kind: str, multiple: bool) -> dict[str, Any]:
    json_type = {"int": "integer", "float": "number", "bool": "boolean"}.get(kind, "string")
    if multiple:
        return {"type": ["null", "array"], "items": {"type": json_type}}
    return {"type": ["null", json_type]}


def family_params(family: CollectorFamily) -> dict[str, Any]:
    """The trigger form: which collectors and types to run, the connection, the family's settings."""
    from airflow.sdk import Param

    types = [t.id for t in family.evidence_types()]
    params: dict[str, Any] = {
        "conn_id": Param(
            family.connection.default_conn_id,
            type=["null", "string"],
            description=f"Airflow connection ({family.connection.conn_type}) to collect with; "
            "empty: the environment only.",
        ),
        "sources": Param(
            [],
            type="array",
            items={"type": "string", "enum": family.sources()},
            description="Collectors to run; empty runs every one.",
        ),
        "evidence_types": Param(
            [],
            type="array",
            items={"type": "string", "enum": types},
            description="Only these evidence types; empty collects every type of the chosen collectors.",
        ),
    }
    for setting in family.connection.settings:
        if setting.flags and not setting.secret:
            params[setting.name] = Param(
                None,
                **_param_schema(setting.kind, setting.multiple),
                description=f"{setting.help} (overrides the connection and {setting.env or 'the default'}).",
            )
    return params


def _setting_params(family: CollectorFamily, params: Mapping[str, Any]) -> dict[str, Any]:
    names = {s.name for s in family.connection.settings if s.flags and not s.secret}
    return {k: v for k, v in params.items() if k in names and v not in (None, "", [])}


def plan_units(family_name: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    from plugins.orchestration.connections import family_config

    family = registry.family(family_name)
    config = family_config(family, params.get("conn_id"), _setting_params(family, params))
    units = family.plan(
        config, sources=params.get("sources") or None, types=params.get("evidence_types") or None
    )
    return [unit.to_dict() for unit in units]


def batch_units(units: list[dict[str, Any]], batches: int) -> list[dict[str, Any]]:
    """The plan's units dealt into at most ``batches`` mapped tasks of near-equal size, units of one
    scope kept together (pure). Each task collects its units on the family's own pool, as the CLI does:
    a task per unit would pay a task's start and run the units one after another under ``dags test``.
    """
    if not units:
        return []
    ordered = sorted(units, key=lambda u: [list(p) for p in u.get("scope") or []])
    count = max(1, min(batches, len(ordered)))
    size, extra = divmod(len(ordered), count)
    out: list[dict[str, Any]] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        chunk = ordered[start:end]
        start = end
        out.append({"label": batch_label(chunk), "units": chunk})
    return out


def batch_label(units: list[dict[str, Any]]) -> str:
    """What a batch collects, for a person (the mapped task's name in the grid): its units' labels,
    shortened past three."""
    labels = [str(u.get("label") or u.get("source")) for u in units]
    if len(labels) <= 3:
        return ", ".join(labels)
    return f"{labels[0]} … {labels[-1]} ({len(labels)} units)"


def collect_unit(
    family_name: str, unit: Mapping[str, Any], params: Mapping[str, Any], context: dict[str, Any]
) -> dict[str, Any]:
    """Collect one unit into the store (the events DAG: an event names one unit). Returns counts."""
    return collect_batch(family_name, {"label": unit.get("label"), "units": [unit]}, params, context)


def collect_batch(
    family_name: str, batch: Mapping[str, Any], params: Mapping[str, Any], context: dict[str, Any]
) -> dict[str, Any]:
    """Collect a batch of units into the store, on the family's pool (each unit's records appended as
    it ends). Returns counts per status and per evidence type, for the assets."""
    from evidence.family import Unit
    from evidence.store import open_store
    from plugins.orchestration.connections import family_config
    from plugins.orchestration.context import run_context

    family = registry.family(family_name)
    config = family_config(family, params.get("conn_id"), _setting_params(family, params))
    chosen = [Unit.from_dict(unit) for unit in batch.get("units") or []]
    if "great_expectations" not in sys.modules:
        # Not preloaded by the executor (``airflow dags test``, a plain worker): import GX in a child
        # process, as the CLI does, not on a thread holding the GIL against the fetch threads.
        from evidence import gx_process

        gx_process.enable()
    counts: dict[str, int] = {}
    types: dict[str, dict[str, int]] = {}
    with open_store() as store:
        for records in family.collect(config, run_context(context), units=chosen):
            for result in store.append_batch(records):
                status = str(result.record.status)
                counts[status] = counts.get(status, 0) + 1
                per_type = types.setdefault(result.record.evidence_type, {})
                per_type[status] = per_type.get(status, 0) + 1
    label = str(batch.get("label") or batch_label([u.to_dict() for u in chosen]))
    return {"family": family_name, "unit": label, "statuses": counts, "types": types}


def _each(results: Any) -> list[Any]:
    """The mapped tasks' results, read by index: iterating Airflow's lazy XCom sequence reads one past
    the end and logs that 404 as an error in the task's log."""
    if results is None:
        return []
    if hasattr(results, "__len__") and hasattr(results, "__getitem__"):
        return [results[index] for index in range(len(results))]
    return list(results)


def publish_assets(results: Any, context: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Update the Asset of every evidence type the run's units recorded: one event per type, from ONE
    task after all the collections. (Airflow links an asset to an alias on its first event through the
    alias; two mapped tasks doing that at once for the same asset collide on the link's primary key
    and the second task is failed by the API server, so no collecting task emits asset events.)"""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for result in _each(results):
        if not isinstance(result, Mapping):
            continue  # a unit whose task failed has no result
        for type_id, statuses in (result.get("types") or {}).items():
            entry = merged.setdefault((str(result.get("family")), type_id), {"units": [], "statuses": {}})
            entry["units"].append(result.get("unit"))
            for status, count in statuses.items():
                entry["statuses"][status] = entry["statuses"].get(status, 0) + count
    outlet_events = context.get("outlet_events")
    if outlet_events is not None:
        for (family_name, type_id), extra in sorted(merged.items()):
            outlet_events[family_alias(family_name)].add(evidence_asset(type_id), extra=extra)
    return {type_id: extra["statuses"] for (_, type_id), extra in merged.items()}


def family_dag(
    family_name: str,
    *,
    schedule: Any = "@daily",
    max_active_tis: int = 4,
    doc_md: str | None = None,
    tags: tuple[str, ...] = (),
) -> Any:
    """Build the DAG ``<family>_evidence``. The DAG file is this one call."""
    from airflow.sdk import dag, get_current_context, task

    family = registry.family(family_name)
    dag_id = f"{family_name}_evidence"

    @dag(
        dag_id=dag_id,
        schedule=schedule,
        start_date=DEFAULT_START,
        catchup=False,
        max_active_runs=1,
        tags=["evidence", family_name, *tags],
        default_args={"owner": "compliance", "retries": 2, "retry_delay": pendulum.duration(minutes=2)},
        params=family_params(family),
        doc_md=doc_md
        or (
            f"**{family.title} evidence.** Plans the units (sources at each scope), collects them in a "
            "few mapped tasks named after what they collect (JSON Schema + GX on every payload), appends "
            "the records to the evidence store and updates one Asset per evidence type "
            "(`evidence/<type>`), which the control evaluation DAG is scheduled on. Trigger it by hand "
            "or through the REST API with the params below to collect on demand."
        ),
    )
    def family_evidence() -> None:
        @task(task_id="plan")
        def plan(**context: Any) -> list[dict[str, Any]]:
            # A family that runs one unit at a time on a host (drills) gets one task, the others a few;
            # and one under `airflow dags test`, which runs mapped tasks one after another in its own
            # process: there one task collecting every unit on the family's pool is the CLI's run.
            from plugins.orchestration.context import in_process

            batches = max_active_tis if family.parallel_units > 1 and not in_process() else 1
            return batch_units(plan_units(family_name, context["params"]), batches)

        @task(
            task_id="collect",
            map_index_template="{{ unit_label }}",
            max_active_tis_per_dagrun=max_active_tis,
        )
        def collect(batch: dict[str, Any], **context: Any) -> dict[str, Any]:
            get_current_context()["unit_label"] = batch.get("label", "")  # type: ignore[typeddict-unknown-key]
            return collect_batch(family_name, batch, context["params"], context)

        # After every unit, also when some failed: what was recorded still updates its assets.
        @task(task_id="publish", outlets=[family_alias(family_name)], trigger_rule="all_done")
        def publish(results: Any, **context: Any) -> dict[str, dict[str, int]]:
            return publish_assets(results, context)

        publish(collect.expand(batch=plan()))

    return family_evidence()

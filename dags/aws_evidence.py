"""AWS evidence, daily: every AWS collector over every configured account and region.

Thin wiring only (no business logic, nothing heavy imported at module level): one mapped task per
AWS service; each task collects, validates (JSON Schema + GX) and appends to the evidence store.
Credentials come from the Airflow AWS connection (``aws_conn_id``); its extra may carry
``endpoint_url`` (an emulator or private endpoint), ``regions`` and ``concurrency``.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Param, dag, task


@dag(
    dag_id="aws_evidence",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["evidence", "aws", "soc2", "gdpr"],
    default_args={"owner": "compliance", "retries": 2, "retry_delay": pendulum.duration(minutes=5)},
    params={
        "aws_conn_id": Param(
            "aws_default", type="string", description="Airflow AWS connection to collect with."
        ),
        "services": Param(
            [], type="array", description="AWS collectors to run (e.g. aws.s3); empty runs every one."
        ),
    },
    doc_md=__doc__,
)
def aws_evidence() -> None:
    @task
    def plan(**context: Any) -> list[str]:
        from collectors.aws.runner import services

        wanted = context["params"]["services"] or sorted(services())
        return list(wanted)

    @task(max_active_tis_per_dagrun=4)
    def collect(service: str, **context: Any) -> dict[str, int]:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        from collectors.aws.core import AwsConfig
        from collectors.aws.runner import collect as collect_aws
        from evidence.pipeline import RunContext
        from evidence.store import open_store

        ti = context["ti"]
        hook = AwsBaseHook(aws_conn_id=context["params"]["aws_conn_id"])
        # Precedence as in the amazon provider: the connection's extra, then EVIDENCE_AWS_* variables.
        extra = dict(hook.conn_config.extra_config or {})
        if hook.conn_config.endpoint_url:
            extra["endpoint_url"] = hook.conn_config.endpoint_url
        config = AwsConfig.from_env(overrides=extra)
        run = RunContext(
            run_id=context["run_id"],
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            map_index=ti.map_index,
            try_number=ti.try_number,
            executor="airflow",
        )
        prepared = collect_aws(config, run, service_names=[service], session=hook.get_session())
        with open_store() as store:
            results = store.append_batch(prepared)
        counts: dict[str, int] = {}
        for result in results:
            counts[str(result.record.status)] = counts.get(str(result.record.status), 0) + 1
        return counts

    collect.expand(service=plan())


aws_evidence()

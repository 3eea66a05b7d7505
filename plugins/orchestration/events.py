"""Event-driven collection: messages on SQS (what AWS Backup and AWS Config send through EventBridge)
and Redis pub/sub reach Airflow through ``AssetWatcher`` + ``MessageQueueTrigger``; asset events
posted to Airflow's REST API (``POST /api/v2/assets/events`` on ``evidence/collect-requests``) do
the same by hand. Each event becomes units of the family that claims it: the evidence types the event
concerns, for the resource it names.

An event that is malformed, or names no installed family, type or resource, is rejected: a warning
line in the task log and an ``event.rejected`` record in the store (the gap stays visible), never a
crashed triggerer (the trigger only carries the message; parsing happens here, in the task).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pendulum

from evidence import registry
from evidence.family import EventRejected

log = logging.getLogger(__name__)

REQUESTS_ASSET = "evidence/collect-requests"
SQS_ASSET = "evidence/events-sqs"
REDIS_ASSET = "evidence/events-redis"
SQS_URL_ENV = "EVIDENCE_EVENTS_SQS_URL"
SQS_CONN_ENV = "EVIDENCE_EVENTS_AWS_CONN_ID"
REDIS_CHANNEL_ENV = "EVIDENCE_EVENTS_REDIS_CHANNEL"
REDIS_CONN_ENV = "EVIDENCE_EVENTS_REDIS_CONN_ID"
MAX_EVENTS_PER_RUN = 500


@dataclass(frozen=True)
class Message:
    source: str  # "rest", "sqs:<queue>", "redis:<channel>", "manual"
    body: Any  # the raw message: a JSON text, or an object already


def messages(triggering: Mapping[Any, Any]) -> Iterator[Message]:
    """Every message the triggering asset events carry, whatever route they came by."""
    for asset, asset_events in triggering.items():
        name = getattr(asset, "name", None) or str(asset)
        for event in asset_events:
            extra = dict(getattr(event, "extra", None) or {})
            if not extra.get("from_trigger"):
                yield Message("rest" if name == REQUESTS_ASSET else f"asset:{name}", extra)
                continue
            payload = extra.get("payload") or {}
            if isinstance(payload, Mapping) and "message_batch" in payload:
                for item in payload.get("message_batch") or []:
                    yield Message("sqs", item.get("Body") if isinstance(item, Mapping) else item)
            elif isinstance(payload, Mapping) and "data" in payload:
                yield Message(f"redis:{payload.get('channel')}", payload.get("data"))
            else:
                yield Message(f"trigger:{name}", payload)


def parse(body: Any) -> dict[str, Any]:
    """A message as an event object: JSON text parsed, an SNS envelope opened (EventBridge -> SNS ->
    SQS), anything else rejected with the reason."""
    event = body
    if isinstance(event, bytes):
        event = event.decode("utf-8", "replace")
    if isinstance(event, str):
        try:
            event = json.loads(event)
        except ValueError as exc:
            raise EventRejected(f"not JSON: {exc}") from None
    if (
        isinstance(event, Mapping)
        and event.get("Type") == "Notification"
        and isinstance(event.get("Message"), str)
    ):
        return parse(event["Message"])
    if not isinstance(event, Mapping):
        raise EventRejected(f"an event is a JSON object, got {type(event).__name__}")
    return dict(event)


def units_for(event: Mapping[str, Any], configs: dict[str, Any]) -> list[dict[str, Any]]:
    """The units an event asks for, from the first installed family that claims it."""
    for family in registry.families().values():
        if family.claims(event):
            if family.name not in configs:
                from plugins.orchestration.connections import family_config

                configs[family.name] = family_config(family, family.connection.default_conn_id, {})
            return [u.to_dict() for u in family.units_for_event(configs[family.name], event)]
    named = event.get("family") or event.get("source") or event.get("detail-type")
    raise EventRejected(
        f"no installed collector family reads this event ({named!r}); installed: "
        + ", ".join(registry.families())
    )


def route(context: dict[str, Any]) -> list[dict[str, Any]]:
    """Task body: the triggering events' units; rejected events recorded and logged."""
    from evidence.canonical import utcnow
    from evidence.evaluation import rejected_event_record
    from evidence.store import open_store
    from plugins.orchestration.context import run_context

    found = list(messages(context.get("triggering_asset_events") or {}))
    manual = (context.get("params") or {}).get("event")
    if manual:
        found.append(Message("manual", manual))
    if len(found) > MAX_EVENTS_PER_RUN:
        log.warning("%d events in one run: handling the first %d", len(found), MAX_EVENTS_PER_RUN)
        found = found[:MAX_EVENTS_PER_RUN]
    units: list[dict[str, Any]] = []
    rejected = []
    configs: dict[str, Any] = {}
    ctx = run_context(context)
    for message in found:
        try:
            units.extend(units_for(parse(message.body), configs))
        except EventRejected as exc:
            log.warning("event from %s rejected: %s", message.source, exc)
            rejected.append(
                rejected_event_record(
                    message.body, str(exc), ctx, source=message.source, observed_at=utcnow()
                )
            )
    if rejected:
        with open_store() as store:
            store.append_batch(rejected)
    unique = {json.dumps({k: v for k, v in u.items() if k != "label"}, sort_keys=True): u for u in units}
    log.info("%d event(s): %d unit(s) to collect, %d rejected", len(found), len(unique), len(rejected))
    return list(unique.values())


def collect_event_unit(unit: Mapping[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    from plugins.orchestration.family_dags import collect_unit

    family = registry.family(str(unit["family"]))
    params = {"conn_id": family.connection.default_conn_id}
    return collect_unit(family.name, unit, params, context)


def trigger_assets() -> list[Any]:
    """The assets the events DAG is scheduled on: REST requests always; SQS and Redis watchers when
    their queue and channel are configured (``EVIDENCE_EVENTS_SQS_URL``, ``..._REDIS_CHANNEL``)."""
    from airflow.sdk import Asset, AssetWatcher

    assets = [Asset(name=REQUESTS_ASSET, uri=REQUESTS_ASSET, group="evidence")]
    queue = os.environ.get(SQS_URL_ENV)
    channel = os.environ.get(REDIS_CHANNEL_ENV)
    if queue or channel:
        # Imported only when a watcher is configured: the trigger module loads every queue provider.
        from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
    if queue:
        trigger = MessageQueueTrigger(
            scheme="sqs",
            sqs_queue=queue,
            aws_conn_id=os.environ.get(SQS_CONN_ENV, "aws_default"),
            waiter_delay=5,
            wait_time_seconds=1,
            max_messages=10,
        )
        assets.append(
            Asset(
                name=SQS_ASSET,
                uri=SQS_ASSET,
                group="evidence",
                watchers=[AssetWatcher(name="evidence_sqs_events", trigger=trigger)],
            )
        )
    if channel:
        trigger = MessageQueueTrigger(
            scheme="redis+pubsub",
            channels=[channel],
            redis_conn_id=os.environ.get(REDIS_CONN_ENV, "redis_default"),
            poll_interval=1,
        )
        assets.append(
            Asset(
                name=REDIS_ASSET,
                uri=REDIS_ASSET,
                group="evidence",
                watchers=[AssetWatcher(name="evidence_redis_events", trigger=trigger)],
            )
        )
    return assets


def events_dag() -> Any:
    """The DAG ``evidence_events``: scheduled on the event assets, one mapped collection per unit."""
    from airflow.sdk import AssetAny, Param, dag, get_current_context, task

    @dag(
        dag_id="evidence_events",
        schedule=AssetAny(*trigger_assets()),
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        tags=["evidence", "events"],
        default_args={"owner": "compliance", "retries": 2, "retry_delay": pendulum.duration(seconds=30)},
        params={
            "event": Param(
                None,
                type=["null", "object"],
                description=(
                    'An event to handle by hand, e.g. {"family": "aws", "evidence_types": '
                    '["aws.s3.bucket_encryption"], "resources": ["my-bucket"]}, or an EventBridge event.'
                ),
            )
        },
        doc_md=__doc__,
    )
    def evidence_events() -> None:
        @task(task_id="route")
        def route_events(**context: Any) -> list[dict[str, Any]]:
            return route(context)

        from plugins.orchestration.family_dags import family_alias, publish_assets

        @task(task_id="collect", map_index_template="{{ unit_label }}", max_active_tis_per_dagrun=4)
        def collect(unit: dict[str, Any], **context: Any) -> dict[str, Any]:
            get_current_context()["unit_label"] = unit.get("label", "")  # type: ignore[typeddict-unknown-key]
            return collect_event_unit(unit, context)

        # One task updates the assets after every unit (see publish_assets: no concurrent alias events).
        @task(
            task_id="publish",
            outlets=[family_alias(name) for name in registry.families()],
            trigger_rule="all_done",
        )
        def publish(results: Any, **context: Any) -> dict[str, dict[str, int]]:
            return publish_assets(results, context)

        publish(collect.expand(unit=route_events()))

    return evidence_events()

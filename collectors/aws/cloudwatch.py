"""CloudWatch: alarms exist and notify someone.

``fetch`` lists every metric alarm and composite alarm of the region once; the evidence type below is a
pure function of that snapshot. An alarm without an enabled alarm action changes state and tells
nobody: it is not an alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collectors.aws.client import AwsCallRecorder
from collectors.aws.family import AWS, AwsTarget
from collectors.core import Failed, Found, Outcome, Snapshot
from collectors.core.family import FetchContext
from evidence.registry import ApiPermission, Row

COLLECTOR = "aws.cloudwatch"

DESCRIBE_ALARMS = ApiPermission("cloudwatch", "describe_alarms", "cloudwatch:DescribeAlarms")

# How many action targets a row names (the count is always complete).
MAX_NAMED_ACTIONS = 5


@dataclass
class CloudWatchSnapshot(Snapshot):
    region: str = ""
    metric_alarms: Outcome | None = None  # Found(list of MetricAlarms)
    composite_alarms: Outcome | None = None  # Found(list of CompositeAlarms)


def fetch(ctx: FetchContext[AwsTarget]) -> CloudWatchSnapshot:
    clients, region = ctx.connection.clients, ctx.connection.region
    recorder: AwsCallRecorder = ctx.recorder
    snapshot = CloudWatchSnapshot(target=ctx.target, observed_at=ctx.observed_at, region=region)
    client = clients.client("cloudwatch", region)
    # One listing per alarm type: each type's page carries its own result key.
    snapshot.metric_alarms = recorder.paginate(
        client, DESCRIBE_ALARMS, region, "MetricAlarms", AlarmTypes=["MetricAlarm"]
    )
    snapshot.composite_alarms = recorder.paginate(
        client, DESCRIBE_ALARMS, region, "CompositeAlarms", AlarmTypes=["CompositeAlarm"]
    )
    for outcome in (snapshot.metric_alarms, snapshot.composite_alarms):
        if isinstance(outcome, Failed):
            snapshot.fail(DESCRIBE_ALARMS, outcome.error)
            break
    return snapshot


SERVICE = AWS.source(COLLECTOR, scope="regional")(fetch)


# ---------------------------------------------------------------------------------------------------
# Pure mapping: snapshot -> rows.


def _alarm_row(alarm: dict[str, Any], alarm_type: str, region: str) -> Row:
    actions = [str(a) for a in (alarm.get("AlarmActions") or [])]
    enabled = alarm.get("ActionsEnabled")
    metric = (
        f"{alarm.get('Namespace')}/{alarm.get('MetricName')}"
        if alarm.get("MetricName")
        else ("metric math" if alarm.get("Metrics") else None)
    )
    named = ", ".join(actions[:MAX_NAMED_ACTIONS]) + (
        f", and {len(actions) - MAX_NAMED_ACTIONS} more" if len(actions) > MAX_NAMED_ACTIONS else ""
    )
    fields = {
        "alarm_name": alarm.get("AlarmName"),
        "alarm_type": alarm_type,
        "metric": metric if alarm_type == "metric" else None,
        "state": alarm.get("StateValue"),
        "actions_enabled": enabled if isinstance(enabled, bool) else None,
        "alarm_actions": len(actions),
        "action_targets": named,
    }
    if enabled is not True:
        status, reason = "fail", "alarm actions disabled: the alarm notifies nobody"
    elif not actions:
        status, reason = "fail", "no alarm action: the alarm notifies nobody"
    else:
        status, reason = "pass", f"notifies {named}"
    return {
        "resource": str(alarm.get("AlarmArn") or alarm.get("AlarmName")),
        "region": region,
        "status": status,
        "reason": reason,
        **fields,
    }


@SERVICE.evidence_type(
    "aws.cloudwatch.alarms",
    title="CloudWatch alarms exist and each one notifies someone (actions enabled, alarm actions set)",
    api_calls=(DESCRIBE_ALARMS,),
    resource_kind="alarm",
)
def alarms(snapshot: CloudWatchSnapshot) -> list[Row]:
    if not isinstance(snapshot.metric_alarms, Found) or not isinstance(snapshot.composite_alarms, Found):
        return []  # the failure is recorded for the whole type (snapshot.failures)
    rows = [_alarm_row(a, "metric", snapshot.region) for a in snapshot.metric_alarms.value]
    rows += [_alarm_row(a, "composite", snapshot.region) for a in snapshot.composite_alarms.value]
    if not rows:
        return [
            {
                "resource": snapshot.target["account"],
                "region": snapshot.region,
                "status": "fail",
                "reason": f"no CloudWatch alarms in {snapshot.region}: nothing alerts on this region",
                "alarm_name": None,
                "alarm_type": None,
                "metric": None,
                "state": None,
                "actions_enabled": None,
                "alarm_actions": None,
                "action_targets": None,
            }
        ]
    return rows

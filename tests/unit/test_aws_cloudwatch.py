"""CloudWatch alarms fed recorded responses."""

from __future__ import annotations

from typing import Any

from collectors.aws import cloudwatch
from collectors.aws.client import AwsCallRecorder
from collectors.aws.cloudwatch import DESCRIBE_ALARMS, CloudWatchSnapshot
from collectors.core import Found, Outcome
from tests.support.recorded_aws import (
    ACCOUNT,
    OBSERVED_AT,
    ReplayClient,
    ReplayClients,
    client_error,
    denied,
    judge,
    run_fetch,
    target,
)

REGION = "us-east-1"
TYPE = "aws.cloudwatch.alarms"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:oncall"


def alarm_arn(name: str) -> str:
    return f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"


def metric_alarm(name: str, **overrides: Any) -> dict[str, Any]:
    alarm = {
        "AlarmName": name,
        "AlarmArn": alarm_arn(name),
        "ActionsEnabled": True,
        "OKActions": [],
        "AlarmActions": [TOPIC],
        "InsufficientDataActions": [],
        "StateValue": "OK",
        "MetricName": "HTTPCode_Target_5XX_Count",
        "Namespace": "AWS/ApplicationELB",
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 5,
        "Threshold": 10.0,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    alarm.update(overrides)
    return {k: v for k, v in alarm.items() if v is not None}


def composite_alarm(name: str, **overrides: Any) -> dict[str, Any]:
    alarm = {
        "AlarmName": name,
        "AlarmArn": alarm_arn(name),
        "ActionsEnabled": True,
        "AlarmActions": [TOPIC],
        "AlarmRule": 'ALARM("api-5xx") AND ALARM("api-latency")',
        "StateValue": "ALARM",
    }
    alarm.update(overrides)
    return {k: v for k, v in alarm.items() if v is not None}


def snapshot(metric: Outcome, composite: Outcome | None = None) -> CloudWatchSnapshot:
    return CloudWatchSnapshot(
        target=target(REGION),
        observed_at=OBSERVED_AT,
        region=REGION,
        metric_alarms=metric,
        composite_alarms=composite if composite is not None else Found([]),
    )


def rows_of(snap: CloudWatchSnapshot) -> dict[str, dict[str, Any]]:
    return {row["resource"]: row for row in cloudwatch.alarms(snap)}


def test_alarms_with_and_without_actions() -> None:
    snap = snapshot(
        Found(
            [
                metric_alarm("paged"),
                metric_alarm("silent", AlarmActions=[]),
                metric_alarm("muted", ActionsEnabled=False),
                metric_alarm("ok-only", AlarmActions=[], OKActions=[TOPIC]),
                metric_alarm(
                    "math", MetricName=None, Namespace=None, Metrics=[{"Id": "e1", "Expression": "m1/m2"}]
                ),
            ]
        ),
        Found([composite_alarm("service-down")]),
    )
    rows = rows_of(snap)
    paged = rows[alarm_arn("paged")]
    assert paged["status"] == "pass" and paged["alarm_actions"] == 1 and TOPIC in paged["reason"]
    assert (
        paged["metric"] == "AWS/ApplicationELB/HTTPCode_Target_5XX_Count" and paged["alarm_type"] == "metric"
    )
    assert rows[alarm_arn("silent")]["status"] == "fail"
    assert rows[alarm_arn("muted")]["status"] == "fail" and "disabled" in rows[alarm_arn("muted")]["reason"]
    assert rows[alarm_arn("ok-only")]["status"] == "fail"
    assert rows[alarm_arn("math")]["metric"] == "metric math"
    composite = rows[alarm_arn("service-down")]
    assert (
        composite["status"] == "pass"
        and composite["alarm_type"] == "composite"
        and composite["metric"] is None
    )
    problems, success = judge(TYPE, list(rows.values()))
    assert problems == [] and success is False
    assert judge(TYPE, [paged, composite]) == ([], True)


def test_missing_actions_enabled_is_not_taken_as_enabled() -> None:
    alarm = metric_alarm("unknown")
    del alarm["ActionsEnabled"]
    (row,) = cloudwatch.alarms(snapshot(Found([alarm])))
    assert row["status"] == "fail" and row["actions_enabled"] is None
    assert judge(TYPE, [row])[1] is False  # GX does not skip the null


def test_no_alarms_is_one_failing_row_for_the_region() -> None:
    (row,) = cloudwatch.alarms(snapshot(Found([])))
    assert row["resource"] == ACCOUNT and row["region"] == REGION and row["status"] == "fail"
    assert REGION in row["reason"]
    problems, success = judge(TYPE, [row])
    assert problems == [] and success is False


def test_many_actions_are_counted_and_named_up_to_a_bound() -> None:
    actions = [f"arn:aws:sns:{REGION}:{ACCOUNT}:t{n}" for n in range(8)]
    (row,) = cloudwatch.alarms(snapshot(Found([metric_alarm("loud", AlarmActions=actions)])))
    assert row["alarm_actions"] == 8 and row["action_targets"].endswith("and 3 more")


def test_unreadable_alarms_yield_no_rows() -> None:
    assert cloudwatch.alarms(snapshot(denied(DESCRIBE_ALARMS))) == []
    assert cloudwatch.alarms(snapshot(Found([metric_alarm("a")]), denied(DESCRIBE_ALARMS))) == []


def test_fetch_pages_each_alarm_type() -> None:
    def describe_alarms(AlarmTypes: list[str], NextToken: str | None = None) -> dict[str, Any]:
        if AlarmTypes == ["CompositeAlarm"]:
            return {"MetricAlarms": [], "CompositeAlarms": [composite_alarm("c")]}
        if NextToken is None:
            return {"MetricAlarms": [metric_alarm("m1")], "CompositeAlarms": [], "NextToken": "t2"}
        return {"MetricAlarms": [metric_alarm("m2")], "CompositeAlarms": []}

    client = ReplayClient({"describe_alarms": describe_alarms})
    snap = run_fetch(
        cloudwatch.fetch,
        ReplayClients({("cloudwatch", REGION): client}, (REGION,)),
        REGION,
        target(REGION),
        AwsCallRecorder(),
        2,
    )
    assert snap.failures == {}
    assert sorted(rows_of(snap)) == sorted([alarm_arn("m1"), alarm_arn("m2"), alarm_arn("c")])


def test_fetch_records_a_denied_listing() -> None:
    client = ReplayClient(
        {"describe_alarms": lambda **_: client_error("DescribeAlarms", "AccessDenied", 403)}
    )
    snap = run_fetch(
        cloudwatch.fetch,
        ReplayClients({("cloudwatch", REGION): client}, (REGION,)),
        REGION,
        target(REGION),
        AwsCallRecorder(),
        2,
    )
    assert snap.failures[DESCRIBE_ALARMS.key].permission == "cloudwatch:DescribeAlarms"

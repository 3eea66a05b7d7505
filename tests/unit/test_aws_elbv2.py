"""ELBv2 target group health checks fed recorded responses."""

from __future__ import annotations

from typing import Any

from collectors.aws import elbv2
from collectors.aws.client import AwsCallRecorder
from collectors.aws.elbv2 import DESCRIBE_TARGET_GROUPS, DESCRIBE_TARGET_HEALTH, Elbv2Snapshot, TargetGroup
from collectors.core import Absent, Found, Outcome
from tests.support.recorded_aws import (
    OBSERVED_AT,
    ReplayClient,
    ReplayClients,
    client_error,
    denied,
    judge,
    run_fetch,
    target,
)

REGION = "eu-west-1"
TYPE = "aws.elbv2.target_group_health_checks"


def arn(name: str) -> str:
    return f"arn:aws:elasticloadbalancing:{REGION}:123456789012:targetgroup/{name}/0123456789abcdef"


def group(name: str, **overrides: Any) -> dict[str, Any]:
    config = {
        "TargetGroupArn": arn(name),
        "TargetGroupName": name,
        "Protocol": "HTTP",
        "Port": 8080,
        "VpcId": "vpc-0a1b2c3d",
        "HealthCheckProtocol": "HTTP",
        "HealthCheckPort": "traffic-port",
        "HealthCheckEnabled": True,
        "HealthCheckIntervalSeconds": 15,
        "HealthCheckTimeoutSeconds": 5,
        "HealthyThresholdCount": 3,
        "UnhealthyThresholdCount": 2,
        "HealthCheckPath": "/healthz",
        "Matcher": {"HttpCode": "200-299"},
        "LoadBalancerArns": [f"arn:aws:elasticloadbalancing:{REGION}:123456789012:loadbalancer/app/web/1"],
        "TargetType": "instance",
    }
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


def health(*states: tuple[str, str, str | None]) -> Found:
    return Found(
        {
            "TargetHealthDescriptions": [
                {
                    "Target": {"Id": target_id, "Port": 8080},
                    "HealthCheckPort": "8080",
                    "TargetHealth": {"State": state, **({"Reason": reason} if reason else {})},
                }
                for target_id, state, reason in states
            ]
        }
    )


def snapshot(*groups: tuple[dict[str, Any], Outcome | None]) -> Elbv2Snapshot:
    return Elbv2Snapshot(
        target=target(REGION),
        observed_at=OBSERVED_AT,
        region=REGION,
        target_groups=[TargetGroup(arn=g["TargetGroupArn"], config=g, health=h) for g, h in groups],
    )


def rows_of(snap: Elbv2Snapshot) -> dict[str, dict[str, Any]]:
    return {row["resource"]: row for row in elbv2.target_group_health_checks(snap)}


def test_http_health_check_passes_and_reports_unhealthy_targets_without_failing() -> None:
    snap = snapshot(
        (
            group("web"),
            health(
                ("i-0aaa", "healthy", None),
                ("i-0bbb", "unhealthy", "Target.ResponseCodeMismatch"),
                ("i-0ccc", "draining", "Target.DeregistrationInProgress"),
            ),
        )
    )
    row = rows_of(snap)[arn("web")]
    assert row["status"] == "pass"
    assert row["targets_registered"] == 3 and row["targets_unhealthy"] == 1
    assert row["unhealthy_targets"] == "i-0bbb:8080 (Target.ResponseCodeMismatch)"
    assert "1 of 3 targets unhealthy" in row["reason"] and row["matcher"] == "200-299"
    assert row["region"] == REGION and row["load_balancers"] == 1


def test_disabled_missing_protocol_and_missing_path_fail() -> None:
    snap = snapshot(
        (group("off", HealthCheckEnabled=False), health()),
        (
            group(
                "lambda",
                TargetType="lambda",
                Protocol=None,
                HealthCheckProtocol=None,
                HealthCheckEnabled=False,
                HealthCheckPort=None,
            ),
            health(),
        ),
        (group("noproto", HealthCheckProtocol=None), health()),
        (group("nopath", HealthCheckPath=None), health()),
        (group("emptypath", HealthCheckPath=""), health()),
        (group("unknown-enabled", HealthCheckEnabled=None), health()),
    )
    rows = rows_of(snap)
    assert {r["status"] for r in rows.values()} == {"fail"}
    assert "disabled" in rows[arn("off")]["reason"]
    assert rows[arn("lambda")]["health_check_protocol"] is None
    assert "no protocol" in rows[arn("noproto")]["reason"]
    assert "without a path" in rows[arn("nopath")]["reason"]
    assert "without a path" in rows[arn("emptypath")]["reason"]
    assert rows[arn("unknown-enabled")]["health_check_enabled"] is None
    problems, success = judge(TYPE, list(rows.values()))
    assert problems == [] and success is False
    for name in ("off", "noproto", "nopath", "emptypath", "unknown-enabled"):
        # GX alone (nulls, empty strings included) rejects each of these.
        assert judge(TYPE, [rows[arn(name)]])[1] is False, name


def test_tcp_health_check_needs_no_path() -> None:
    snap = snapshot(
        (
            group("nlb", Protocol="TCP", HealthCheckProtocol="TCP", HealthCheckPath=None, Matcher=None),
            health(),
        )
    )
    row = rows_of(snap)[arn("nlb")]
    assert row["status"] == "pass" and row["matcher"] is None and "no targets registered" in row["reason"]
    assert judge(TYPE, [row]) == ([], True)


def test_unreadable_target_health_still_judges_the_configuration() -> None:
    snap = snapshot(
        (group("web"), denied(DESCRIBE_TARGET_HEALTH)), (group("gone"), Absent("TargetGroupNotFound"))
    )
    rows = rows_of(snap)
    web = rows[arn("web")]
    assert web["status"] == "pass" and web["targets_registered"] is None and web["targets_unhealthy"] is None
    assert "elasticloadbalancing:DescribeTargetHealth" in web["reason"]
    assert rows[arn("gone")]["targets_registered"] is None
    assert judge(TYPE, list(rows.values())) == ([], True)


def test_many_unhealthy_targets_are_counted_and_the_list_is_bounded() -> None:
    states = [(f"i-{n:04d}", "unhealthy", "Target.Timeout") for n in range(14)]
    row = rows_of(snapshot((group("web"), health(*states))))[arn("web")]
    assert row["targets_unhealthy"] == 14 and row["unhealthy_targets"].endswith("and 4 more")


def test_fetch_pages_target_groups_and_sorts_a_uniform_health_failure() -> None:
    client = ReplayClient(
        {
            "describe_target_groups": [
                {"TargetGroups": [group("a")], "NextMarker": "page-2"},
                {"TargetGroups": [group("b")]},
            ],
            "describe_target_health": lambda **_: client_error("DescribeTargetHealth", "AccessDenied", 403),
        }
    )
    snap = run_fetch(
        elbv2.fetch,
        ReplayClients({("elbv2", REGION): client}, (REGION,)),
        REGION,
        target(REGION),
        AwsCallRecorder(),
        2,
    )
    assert [g.arn for g in snap.target_groups] == [arn("a"), arn("b")]
    assert ("describe_target_groups", {"Marker": "page-2"}) in client.requests
    # Denied for every group: recorded for the type; the call is optional, so rows are still made.
    assert (
        snap.per_resource_failures[DESCRIBE_TARGET_HEALTH.key].permission
        == "elasticloadbalancing:DescribeTargetHealth"
    )
    assert {r["status"] for r in elbv2.target_group_health_checks(snap)} == {"pass"}


def test_fetch_records_a_denied_listing() -> None:
    client = ReplayClient(
        {"describe_target_groups": [client_error("DescribeTargetGroups", "AccessDenied", 403)]}
    )
    snap = run_fetch(
        elbv2.fetch,
        ReplayClients({("elbv2", REGION): client}, (REGION,)),
        REGION,
        target(REGION),
        AwsCallRecorder(),
        2,
    )
    assert DESCRIBE_TARGET_GROUPS.key in snap.failures and snap.target_groups == []

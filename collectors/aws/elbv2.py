"""Elastic Load Balancing v2 (ALB/NLB/GWLB): target group health checks.

``fetch`` lists every target group of the region and reads each group's target health once (bounded
concurrency); the evidence type below is a pure function of that snapshot.

Unhealthy targets are reported, not failed. The control is that the load balancer checks its
targets' health and routes around the ones that fail: a target marked unhealthy is that control
working. Live target health changes minute to minute; it is an operational signal for alarms
(``aws.cloudwatch.alarms`` on UnHealthyHostCount), and failing the control on it would make the
posture flap and penalise the check for doing its job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collectors.aws.client import AwsCallRecorder
from collectors.aws.family import AWS, AwsTarget
from collectors.core import Failed, Found, Outcome, Snapshot, failed_reason, fan_out
from collectors.core.family import FetchContext
from evidence.registry import ApiPermission, Row

COLLECTOR = "aws.elbv2"

DESCRIBE_TARGET_GROUPS = ApiPermission(
    "elbv2", "describe_target_groups", "elasticloadbalancing:DescribeTargetGroups"
)
# TargetGroupNotFound: the group was deleted between the listing and this call.
DESCRIBE_TARGET_HEALTH = ApiPermission(
    "elbv2",
    "describe_target_health",
    "elasticloadbalancing:DescribeTargetHealth",
    ("TargetGroupNotFound",),
)

# Health check protocols that ask the application itself, and so need a path to ask.
PATH_PROTOCOLS = frozenset({"HTTP", "HTTPS"})
# Target health states that mean the target fails its health check (not "initial", "draining",
# "unused" or "unavailable", which describe registration, not health).
UNHEALTHY_STATES = frozenset({"unhealthy", "unhealthy.draining"})
# How many unhealthy targets a row names (the count is always complete).
MAX_NAMED_TARGETS = 10


@dataclass
class TargetGroup:
    arn: str
    config: dict[str, Any]
    health: Outcome | None = None  # Found(describe_target_health response)


@dataclass
class Elbv2Snapshot(Snapshot):
    region: str = ""
    target_groups: list[TargetGroup] = field(default_factory=list)


def fetch(ctx: FetchContext[AwsTarget]) -> Elbv2Snapshot:
    clients, region = ctx.connection.clients, ctx.connection.region
    recorder: AwsCallRecorder = ctx.recorder
    concurrency = ctx.concurrency
    snapshot = Elbv2Snapshot(target=ctx.target, observed_at=ctx.observed_at, region=region)
    client = clients.client("elbv2", region)
    listing = recorder.paginate(
        client, DESCRIBE_TARGET_GROUPS, region, "TargetGroups", token_in="Marker", token_out="NextMarker"
    )
    if isinstance(listing, Failed):
        snapshot.fail(DESCRIBE_TARGET_GROUPS, listing.error)
        return snapshot
    assert isinstance(listing, Found)
    groups = [TargetGroup(arn=g["TargetGroupArn"], config=g) for g in listing.value]

    def read(group: TargetGroup) -> TargetGroup:
        group.health = recorder.call(client, DESCRIBE_TARGET_HEALTH, region, TargetGroupArn=group.arn)
        return group

    snapshot.target_groups = fan_out(read, groups, concurrency)
    snapshot.fail_if_uniform(
        DESCRIBE_TARGET_HEALTH, [g.health for g in snapshot.target_groups if g.health is not None]
    )
    return snapshot


SERVICE = AWS.source(COLLECTOR, scope="regional")(fetch)


# ---------------------------------------------------------------------------------------------------
# Pure mapping: snapshot -> rows.


def _target_health(outcome: Outcome | None) -> tuple[int | None, int | None, str | None, str]:
    """(registered, unhealthy, named unhealthy targets, text for the reason)."""
    if isinstance(outcome, Failed):
        return None, None, None, f"target health unknown ({failed_reason(outcome)})"
    if not isinstance(outcome, Found):
        return None, None, None, "target health unknown (group deleted while read)"
    descriptions = outcome.value.get("TargetHealthDescriptions") or []
    unhealthy = [d for d in descriptions if (d.get("TargetHealth") or {}).get("State") in UNHEALTHY_STATES]
    named = [
        f"{(d.get('Target') or {}).get('Id')}"
        + (f":{d['Target']['Port']}" if (d.get("Target") or {}).get("Port") else "")
        + (f" ({d['TargetHealth']['Reason']})" if d["TargetHealth"].get("Reason") else "")
        for d in unhealthy[:MAX_NAMED_TARGETS]
    ]
    if len(unhealthy) > MAX_NAMED_TARGETS:
        named.append(f"and {len(unhealthy) - MAX_NAMED_TARGETS} more")
    if not descriptions:
        return 0, 0, "", "no targets registered"
    text = f"{len(unhealthy)} of {len(descriptions)} targets unhealthy"
    if named:
        text += ": " + ", ".join(named)
    return len(descriptions), len(unhealthy), ", ".join(named), text


def _matcher(config: dict[str, Any]) -> str | None:
    matcher = config.get("Matcher") or {}
    return matcher.get("HttpCode") or matcher.get("GrpcCode")


@SERVICE.evidence_type(
    "aws.elbv2.target_group_health_checks",
    title="Load balancer target groups health-check their targets (enabled, with protocol and path)",
    api_calls=(DESCRIBE_TARGET_GROUPS, DESCRIBE_TARGET_HEALTH.optional()),
    resource_kind="target group",
)
def target_group_health_checks(snapshot: Elbv2Snapshot) -> list[Row]:
    rows: list[Row] = []
    for group in snapshot.target_groups:
        config = group.config
        enabled = config.get("HealthCheckEnabled")
        protocol = config.get("HealthCheckProtocol")
        path = config.get("HealthCheckPath")
        registered, unhealthy, named, health_text = _target_health(group.health)
        fields = {
            "target_group_name": config.get("TargetGroupName"),
            "target_type": config.get("TargetType"),
            "protocol": config.get("Protocol"),
            "load_balancers": len(config.get("LoadBalancerArns") or []),
            "health_check_enabled": enabled,
            "health_check_protocol": protocol,
            "health_check_path": path,
            "health_check_port": config.get("HealthCheckPort"),
            "interval_seconds": config.get("HealthCheckIntervalSeconds"),
            "healthy_threshold": config.get("HealthyThresholdCount"),
            "unhealthy_threshold": config.get("UnhealthyThresholdCount"),
            "matcher": _matcher(config),
            "targets_registered": registered,
            "targets_unhealthy": unhealthy,
            "unhealthy_targets": named,
        }
        if enabled is not True:
            status, reason = "fail", "health checks disabled: failed targets keep receiving traffic"
        elif not protocol:
            status, reason = "fail", "health check has no protocol"
        elif protocol in PATH_PROTOCOLS and not path:
            status, reason = "fail", f"{protocol} health check without a path"
        else:
            where = f" {path}" if protocol in PATH_PROTOCOLS else ""
            status, reason = "pass", f"{protocol} health check{where}"
        rows.append(
            {
                "resource": group.arn,
                "region": snapshot.region,
                "status": status,
                "reason": f"{reason}; {health_text}",
                **fields,
            }
        )
    return rows

"""CloudWatch Logs: every log group has a retention policy, long enough for the audit and finite.

``fetch`` lists every log group of the region once; the evidence type below is a pure function of that
snapshot. Two thresholds meet here:
- a log group without ``retentionInDays`` keeps its events forever. Logs carry personal data (IP
  addresses, user ids), and GDPR Art. 5(1)(e) (storage limitation) asks that it be kept no longer than
  needed: "never expire" fails;
- a retention shorter than ``MIN_RETENTION_DAYS`` loses the audit trail before the audit: fails.
"""

from __future__ import annotations

from dataclasses import dataclass

from collectors.aws.client import AwsCallRecorder
from collectors.aws.family import AWS, AwsTarget
from collectors.core import Failed, Found, Outcome, Snapshot
from collectors.core.family import FetchContext
from evidence.registry import ApiPermission, Row

COLLECTOR = "aws.logs"

DESCRIBE_LOG_GROUPS = ApiPermission("logs", "describe_log_groups", "logs:DescribeLogGroups")

# A SOC 2 Type II audit looks back over a period of up to 12 months, and the auditor samples events
# from all of it: logs must outlive the period they are evidence for.
MIN_RETENTION_DAYS = 365


@dataclass
class LogsSnapshot(Snapshot):
    region: str = ""
    log_groups: Outcome | None = None  # Found(list of log groups)


def fetch(ctx: FetchContext[AwsTarget]) -> LogsSnapshot:
    clients, region = ctx.connection.clients, ctx.connection.region
    recorder: AwsCallRecorder = ctx.recorder
    snapshot = LogsSnapshot(target=ctx.target, observed_at=ctx.observed_at, region=region)
    client = clients.client("logs", region)
    snapshot.log_groups = recorder.paginate(
        client, DESCRIBE_LOG_GROUPS, region, "logGroups", token_in="nextToken"
    )
    if isinstance(snapshot.log_groups, Failed):
        snapshot.fail(DESCRIBE_LOG_GROUPS, snapshot.log_groups.error)
    return snapshot


SERVICE = AWS.source(COLLECTOR, scope="regional")(fetch)


# ---------------------------------------------------------------------------------------------------
# Pure mapping: snapshot -> rows.


def log_group_arn(group: dict[str, object]) -> str:
    """``logGroupArn`` (newer responses); else ``arn`` without its trailing ``:*`` (log streams)."""
    arn = str(group.get("logGroupArn") or group.get("arn") or group.get("logGroupName"))
    return arn[:-2] if arn.endswith(":*") else arn


@SERVICE.evidence_type(
    "aws.logs.retention",
    title=f"CloudWatch log groups keep events for at least {MIN_RETENTION_DAYS} days, and not forever",
    api_calls=(DESCRIBE_LOG_GROUPS,),
    resource_kind="log group",
)
def retention(snapshot: LogsSnapshot) -> list[Row]:
    if not isinstance(snapshot.log_groups, Found):
        return []  # the failure is recorded for the whole type (snapshot.failures)
    rows: list[Row] = []
    for group in snapshot.log_groups.value:
        days = group.get("retentionInDays")
        fields = {
            "log_group_name": group.get("logGroupName"),
            "retention_days": int(days) if days is not None else None,
            "stored_bytes": group.get("storedBytes"),
            "kms_encrypted": bool(group.get("kmsKeyId")),
        }
        if days is None:
            status, reason = (
                "fail",
                "no retention policy: events are kept forever (GDPR Art. 5(1)(e) storage limitation)",
            )
        elif int(days) < MIN_RETENTION_DAYS:
            status, reason = (
                "fail",
                f"retention {days} days is shorter than the {MIN_RETENTION_DAYS}-day audit trail",
            )
        else:
            status, reason = "pass", f"retention {days} days"
        rows.append(
            {
                "resource": log_group_arn(group),
                "region": snapshot.region,
                "status": status,
                "reason": reason,
                **fields,
            }
        )
    return rows

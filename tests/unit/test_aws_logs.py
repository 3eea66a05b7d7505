"""CloudWatch Logs retention fed recorded responses."""

from __future__ import annotations

from typing import Any

import pytest

from collectors.aws import logs
from collectors.aws.client import AwsCallRecorder
from collectors.aws.logs import DESCRIBE_LOG_GROUPS, MIN_RETENTION_DAYS, LogsSnapshot
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

REGION = "eu-central-1"
TYPE = "aws.logs.retention"


def group(name: str, days: int | None, *, new_arn: bool = True, **extra: Any) -> dict[str, Any]:
    base = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}"
    record: dict[str, Any] = {
        "logGroupName": name,
        "creationTime": 1735689600000,
        "metricFilterCount": 0,
        "arn": f"{base}:*",
        "storedBytes": 1048576,
        "logGroupClass": "STANDARD",
        **extra,
    }
    if new_arn:
        record["logGroupArn"] = base
    if days is not None:
        record["retentionInDays"] = days
    return record


def arn(name: str) -> str:
    return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}"


def snapshot(outcome: Outcome) -> LogsSnapshot:
    return LogsSnapshot(target=target(REGION), observed_at=OBSERVED_AT, region=REGION, log_groups=outcome)


def rows_of(outcome: Outcome) -> dict[str, dict[str, Any]]:
    return {row["resource"]: row for row in logs.retention(snapshot(outcome))}


@pytest.mark.parametrize(
    ("days", "status", "words"),
    [
        (None, "fail", "kept forever"),
        (1, "fail", "shorter than the 365-day"),
        (364, "fail", "shorter"),
        (MIN_RETENTION_DAYS, "pass", "365 days"),
        (3653, "pass", "3653 days"),
    ],
)
def test_retention_thresholds(days: int | None, status: str, words: str) -> None:
    (row,) = rows_of(Found([group("/app/api", days)])).values()
    assert row["status"] == status and words in row["reason"] and row["retention_days"] == days
    assert row["resource"] == arn("/app/api") and row["region"] == REGION
    problems, success = judge(TYPE, [row])
    assert problems == [] and success is (status == "pass")  # GX rejects the null ("never expire") too


def test_older_responses_without_log_group_arn_use_the_arn_without_its_stream_wildcard() -> None:
    rows = rows_of(Found([group("/legacy", 400, new_arn=False, kmsKeyId="arn:aws:kms:eu-central-1:1:key/k")]))
    row = rows[arn("/legacy")]
    assert row["kms_encrypted"] is True and row["stored_bytes"] == 1048576


def test_unreadable_listing_yields_no_rows() -> None:
    assert logs.retention(snapshot(denied(DESCRIBE_LOG_GROUPS))) == []


def test_no_log_groups_yields_no_rows() -> None:
    assert logs.retention(snapshot(Found([]))) == []


def test_fetch_follows_next_token() -> None:
    client = ReplayClient(
        {
            "describe_log_groups": [
                {"logGroups": [group("/a", 400)], "nextToken": "t2"},
                {"logGroups": [group("/b", None)]},
            ]
        }
    )
    snap = run_fetch(
        logs.fetch,
        ReplayClients({("logs", REGION): client}, (REGION,)),
        REGION,
        target(REGION),
        AwsCallRecorder(),
        2,
    )
    assert client.requests[1] == ("describe_log_groups", {"nextToken": "t2"})
    assert {r["resource"]: r["status"] for r in logs.retention(snap)} == {
        arn("/a"): "pass",
        arn("/b"): "fail",
    }


def test_fetch_records_throttling_after_retries_as_a_failure() -> None:
    client = ReplayClient(
        {
            "describe_log_groups": [
                client_error("DescribeLogGroups", "ThrottlingException", 400, "Rate exceeded")
            ]
        }
    )
    snap = run_fetch(
        logs.fetch,
        ReplayClients({("logs", REGION): client}, (REGION,)),
        REGION,
        target(REGION),
        AwsCallRecorder(),
        2,
    )
    failure = snap.failures[DESCRIBE_LOG_GROUPS.key]
    assert failure.code == "ThrottlingException" and failure.permission is None

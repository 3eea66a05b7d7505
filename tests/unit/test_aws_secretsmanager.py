"""Secrets Manager rotation mapping fed recorded ``list_secrets`` entries (no server); the fetch against
botocore's Stubber; and proof that no secret value can reach evidence."""

from __future__ import annotations

import ast
import inspect
import json
from datetime import timedelta
from typing import Any

import pytest

from collectors.aws import secretsmanager
from collectors.aws.secretsmanager import (
    ROTATION_GRACE_DAYS,
    SecretsSnapshot,
    rotation,
    rotation_interval_days,
)
from evidence import registry
from tests.support.aws_stubs import (
    ACCOUNT,
    OBSERVED_AT,
    StubbedClients,
    collect_records,
    judge,
    payload_rows,
    target,
)

TYPE = "aws.secretsmanager.rotation"
REGION = "eu-west-1"


def entry(name: str, **overrides: Any) -> dict[str, Any]:
    """A ``list_secrets`` entry as boto3 returns it (metadata only: the API has no value field)."""
    item: dict[str, Any] = {
        "ARN": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf",
        "Name": name,
        "Description": "database credentials",
        "RotationEnabled": True,
        "RotationLambdaARN": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:rotate",
        "RotationRules": {"AutomaticallyAfterDays": 30},
        "LastRotatedDate": OBSERVED_AT - timedelta(days=10),
        "LastChangedDate": OBSERVED_AT - timedelta(days=10),
        "LastAccessedDate": OBSERVED_AT - timedelta(days=1),
        "NextRotationDate": OBSERVED_AT + timedelta(days=20),
        "CreatedDate": OBSERVED_AT - timedelta(days=400),
        "SecretVersionsToStages": {"a1b2c3d4-5678-90ab-cdef-EXAMPLE11111": ["AWSCURRENT"]},
    }
    item.update(overrides)
    return {k: v for k, v in item.items() if v is not None}


def rows_for(*entries: dict[str, Any]) -> list[dict[str, Any]]:
    return rotation(
        SecretsSnapshot(target=target(REGION), observed_at=OBSERVED_AT, region=REGION, secrets=list(entries))
    )


def test_rotated_within_interval_passes() -> None:
    rows = rows_for(entry("db"))
    row = rows[0]
    assert row["status"] == "pass"
    assert row["resource"] == f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db-AbCdEf"
    assert row["rotation_interval_days"] == 30 and row["days_since_rotation"] == 10
    assert row["allowed_days"] == 30 + ROTATION_GRACE_DAYS
    assert judge(TYPE, rows) == ([], True)


@pytest.mark.parametrize(("days", "status"), [(33, "pass"), (34, "fail"), (200, "fail")])
def test_overdue_rotation_fails_after_interval_plus_grace(days: int, status: str) -> None:
    rows = rows_for(entry("db", LastRotatedDate=OBSERVED_AT - timedelta(days=days, hours=1)))
    assert rows[0]["status"] == status
    if status == "fail":
        assert rows[0]["reason"].startswith(f"rotation overdue: last rotated {days} days ago")
    assert judge(TYPE, rows) == ([], status == "pass")


def test_rotation_not_enabled_fails() -> None:
    rows = rows_for(
        entry("db", RotationEnabled=False), entry("api", RotationEnabled=None, RotationRules=None)
    )
    assert [r["status"] for r in rows] == ["fail", "fail"]
    assert rows[1]["rotation_enabled"] is False  # absent: never configured
    assert rows[1]["allowed_days"] is None
    assert rows[0]["reason"] == "automatic rotation not enabled"
    assert judge(TYPE, rows) == ([], False)


def test_never_rotated_is_measured_from_creation() -> None:
    young = entry("new", LastRotatedDate=None, CreatedDate=OBSERVED_AT - timedelta(days=5))
    old = entry("old", LastRotatedDate=None, CreatedDate=OBSERVED_AT - timedelta(days=100))
    rows = rows_for(young, old)
    assert [r["status"] for r in rows] == ["pass", "fail"]
    assert rows[0]["last_rotated"] is None and rows[0]["days_since_rotation"] == 5
    assert "never rotated; created 100 days ago" in rows[1]["reason"]
    assert judge(TYPE, rows) == ([], False)


@pytest.mark.parametrize(
    ("rules", "days"),
    [
        ({"AutomaticallyAfterDays": 7}, 7),
        ({"ScheduleExpression": "rate(10 days)"}, 10),
        ({"ScheduleExpression": "rate(1 day)"}, 1),
        ({"ScheduleExpression": "rate(12 hours)", "Duration": "2h"}, 1),
        ({"ScheduleExpression": "rate(36 hours)"}, 2),
        ({"ScheduleExpression": "cron(0 16 1,15 * ? *)", "Duration": "2h"}, None),
        ({}, None),
    ],
)
def test_rotation_interval_from_rules(rules: dict[str, Any], days: int | None) -> None:
    assert rotation_interval_days(rules) == days


def test_cron_schedule_is_judged_by_the_next_rotation() -> None:
    cron = {"ScheduleExpression": "cron(0 16 1,15 * ? *)"}
    due = entry("due", RotationRules=cron, NextRotationDate=OBSERVED_AT + timedelta(days=3))
    late = entry(
        "late", RotationRules=cron, NextRotationDate=OBSERVED_AT - timedelta(days=ROTATION_GRACE_DAYS + 1)
    )
    unknown = entry("unknown", RotationRules=cron, NextRotationDate=None)
    rows = rows_for(due, late, unknown)
    assert [r["status"] for r in rows] == ["pass", "fail", "error"]
    assert rows[0]["schedule_expression"] == "cron(0 16 1,15 * ? *)" and rows[0]["allowed_days"] is None
    assert rows[1]["reason"].startswith("rotation overdue: was due")
    assert rows[2]["reason"].startswith("cannot tell when rotation is due")


def test_replica_and_managed_secrets_are_judged_and_labelled() -> None:
    rows = rows_for(entry("rds!db-1234", OwningService="rds", PrimaryRegion="us-east-1"))
    assert rows[0]["status"] == "pass"
    assert rows[0]["primary_region"] == "us-east-1" and rows[0]["owning_service"] == "rds"


def test_no_secrets_no_rows() -> None:
    assert rows_for() == []


# -- no secret value can reach evidence --------------------------------------------------------------


def test_only_metadata_apis_are_declared_or_called() -> None:
    etype = registry.get(TYPE)
    assert etype.permissions == ("secretsmanager:ListSecrets",)
    tree = ast.parse(inspect.getsource(secretsmanager))
    names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names |= {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert not {"get_secret_value", "batch_get_secret_value", "GetSecretValue"} & names


def test_rows_copy_only_named_metadata_even_if_an_entry_carried_a_value() -> None:
    # list_secrets has no value field; if one ever appeared, the mapping must still not copy it.
    sentinel = "sentinel-value-that-must-not-leak"
    rows = rows_for(entry("db", SecretString=sentinel, SecretBinary=sentinel.encode(), Description=sentinel))
    assert sentinel not in json.dumps(rows, default=str)
    assert set(rows[0]) == {
        "resource",
        "region",
        "status",
        "reason",
        "name",
        "rotation_enabled",
        "rotation_interval_days",
        "schedule_expression",
        "last_rotated",
        "created",
        "days_since_rotation",
        "allowed_days",
        "next_rotation",
        "primary_region",
        "owning_service",
    }


# -- the fetch, against botocore's Stubber ----------------------------------------------------------


def test_fetch_follows_pages_with_list_secrets_only() -> None:
    clients = StubbedClients(regions=(REGION,))
    stub = clients.stub("secretsmanager", REGION)
    stub.add_response("list_secrets", {"SecretList": [entry("a")], "NextToken": "t1"}, {})
    stub.add_response(
        "list_secrets", {"SecretList": [entry("b", RotationEnabled=False)]}, {"NextToken": "t1"}
    )
    record = collect_records(clients, secretsmanager.SERVICE, REGION)[TYPE]
    clients.assert_all_answered()
    assert [r["status"] for r in payload_rows(record)] == ["pass", "fail"]
    assert record.draft.status == "fail"
    assert {c.operation for c in record.draft.provenance.api_calls} == {"list_secrets"}


def test_fetch_with_listing_denied_is_an_error_record() -> None:
    clients = StubbedClients(regions=(REGION,))
    clients.stub("secretsmanager", REGION).add_client_error(
        "list_secrets", "AccessDeniedException", http_status_code=400
    )
    record = collect_records(clients, secretsmanager.SERVICE, REGION)[TYPE]
    assert record.draft.status == "error"
    assert "missing permission secretsmanager:ListSecrets" in record.draft.reason

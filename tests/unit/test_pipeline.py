"""The one place that decides a record's status: rules tested on hand-made rows (no server, no GX)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from evidence import registry
from evidence.pipeline import build_record, decide, idempotency_key, summarise_calls
from evidence.records import ApiCall, GxSummary, RunContext, SourceError, Status

ETYPE = registry.get("aws.s3.bucket_encryption")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def row(name: str, status: str, **fields: object) -> dict[str, object]:
    base = {"resource": name, "region": "us-east-1", "status": status, "reason": f"{name} is {status}"}
    return {**base, "sse_algorithm": "AES256", "kms_key_id": None, "bucket_key_enabled": None, **fields}


def test_error_from_the_source_is_never_pass_or_fail() -> None:
    error = SourceError(code="AccessDenied", message="denied", permission="s3:ListAllMyBuckets")
    status, reason, _ = decide(ETYPE, [], None, error, [])
    assert status == Status.ERROR
    assert "AccessDenied" in reason and "s3:ListAllMyBuckets" in reason


def test_no_resources_is_not_applicable() -> None:
    assert decide(ETYPE, [], None, None, [])[0] == Status.NOT_APPLICABLE


def test_failing_rows_are_named() -> None:
    status, reason, population = decide(
        ETYPE, [row("a", "pass"), row("b", "fail"), row("c", "error")], None, None, []
    )
    assert status == Status.FAIL
    assert "b" in reason and "1 of 3" in reason
    assert population.total == 3 and population.by_status[Status.ERROR] == 1


def test_a_fail_with_unreadable_rows_names_both() -> None:
    # Issue 13: "when a record is fail with some error rows, its reason names both".
    status, reason, _ = decide(ETYPE, [row("a", "pass"), row("b", "fail"), row("c", "error")], None, None, [])
    assert status == Status.FAIL
    assert reason == "1 of 3 buckets fail: b (b is fail); could not read 1: c (c is error)"
    gx = GxSummary(success=False, evaluated=3, successful=2, failed_expectations=("expect_x(col)",))
    status, reason, _ = decide(ETYPE, [row("a", "pass"), row("c", "error")], gx, None, [])
    assert status == Status.FAIL and "expect_x(col)" in reason and "could not read 1: c" in reason


def test_unreadable_rows_make_an_error_not_a_pass() -> None:
    status, reason, _ = decide(ETYPE, [row("a", "pass"), row("c", "error")], None, None, [])
    assert status == Status.ERROR and "c" in reason
    assert reason.endswith("; the others were judged: 1 pass"), reason


def test_gx_failure_fails_even_when_rows_pass() -> None:
    gx = GxSummary(success=False, evaluated=3, successful=2, failed_expectations=("expect_x(col)",))
    status, reason, _ = decide(ETYPE, [row("a", "pass")], gx, None, [])
    assert status == Status.FAIL and "expect_x(col)" in reason


def test_schema_problems_make_an_error() -> None:
    status, reason, _ = decide(ETYPE, [row("a", "pass")], None, None, ["payload.rows[0].x: bad"])
    assert status == Status.ERROR and "payload.rows[0].x" in reason


def test_malformed_rows_are_recorded_as_error_naming_the_field() -> None:
    bad = row("a", "pass")
    bad["sse_algorithm"] = 42  # not a string
    prepared = build_record(
        ETYPE,
        rows=[bad],
        target={"account": "1", "region": "global"},
        observed_at=NOW,
        context=RunContext("r"),
        run_gx=False,
    )
    assert prepared.draft.status == Status.ERROR
    assert not prepared.draft.validation.schema_valid
    assert any("rows[0].sse_algorithm" in e for e in prepared.draft.validation.schema_errors)


def test_idempotency_key_ignores_the_try_number() -> None:
    first = RunContext("run-1", dag_id="d", task_id="t", try_number=1)
    retry = RunContext("run-1", dag_id="d", task_id="t", try_number=2)
    other = RunContext("run-2", dag_id="d", task_id="t", try_number=1)
    target = {"account": "1", "region": "us-east-1"}
    assert idempotency_key("x", target, first) == idempotency_key("x", target, retry)
    assert idempotency_key("x", target, first) != idempotency_key("x", target, other)


def test_calls_are_summarised_and_the_full_log_is_attached() -> None:
    calls = [
        ApiCall(
            service="s3",
            operation="get_bucket_encryption",
            region="us-east-1",
            request_id=f"r{i}",
            http_status=200,
        )
        for i in range(5)
    ] + [
        ApiCall(
            service="s3",
            operation="get_bucket_encryption",
            region="us-east-1",
            error_code="AccessDenied",
            http_status=403,
        )
    ]
    summary = summarise_calls(calls)
    assert sorted(c.count for c in summary) == [1, 5]
    prepared = build_record(
        ETYPE,
        rows=[row("a", "pass")],
        target={"account": "1", "region": "global"},
        observed_at=NOW,
        context=RunContext("r"),
        api_calls=calls,
        run_gx=False,
    )
    roles = {a.role for a in prepared.draft.attachments}
    assert "api-calls" in roles
    log = next(a for a in prepared.draft.attachments if a.role == "api-calls")
    assert b"r4" in prepared.attachments[log.sha256]


@pytest.mark.parametrize("naive", [datetime(2026, 1, 1)])
def test_naive_times_are_refused(naive: datetime) -> None:
    with pytest.raises(ValueError, match="timezone"):
        build_record(ETYPE, rows=[], target={}, observed_at=naive, context=RunContext("r"), run_gx=False)

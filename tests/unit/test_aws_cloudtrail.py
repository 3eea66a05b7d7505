"""CloudTrail mapping fed recorded responses (no server), and the fetch against botocore's Stubber."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from collectors.aws import cloudtrail
from collectors.aws.cloudtrail import (
    DESCRIBE_TRAILS,
    GET_EVENT_SELECTORS,
    GET_TRAIL_STATUS,
    CloudTrailSnapshot,
    Trail,
    management_events,
    trails,
)
from collectors.core import Absent, Found, Outcome
from tests.support.aws_stubs import (
    ACCOUNT,
    OBSERVED_AT,
    StubbedClients,
    collect_records,
    denied,
    judge,
    payload_rows,
    target,
)

TYPE = "aws.cloudtrail.trails"
HOME, OTHER = "us-east-1", "eu-west-1"
ALL_MANAGEMENT = {"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": True}]}


def arn(name: str, region: str = HOME) -> str:
    return f"arn:aws:cloudtrail:{region}:{ACCOUNT}:trail/{name}"


def describe(name: str, region: str = HOME, **overrides: Any) -> dict[str, Any]:
    entry = {
        "Name": name,
        "S3BucketName": "org-cloudtrail-logs",
        "IncludeGlobalServiceEvents": True,
        "IsMultiRegionTrail": True,
        "HomeRegion": region,
        "TrailARN": arn(name, region),
        "LogFileValidationEnabled": True,
        "KmsKeyId": f"arn:aws:kms:{region}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "CloudWatchLogsLogGroupArn": f"arn:aws:logs:{region}:{ACCOUNT}:log-group:cloudtrail:*",
        "HasCustomEventSelectors": False,
        "IsOrganizationTrail": False,
    }
    entry.update(overrides)
    return {k: v for k, v in entry.items() if v is not None}


def logging(**overrides: Any) -> dict[str, Any]:
    status = {
        "IsLogging": True,
        "LatestDeliveryTime": datetime(2026, 11, 25, 11, 55, tzinfo=UTC),
        "StartLoggingTime": datetime(2024, 1, 1, tzinfo=UTC),
        "LatestDeliveryAttemptTime": "2026-11-25T11:55:00Z",
        "LatestDeliveryAttemptSucceeded": "2026-11-25T11:55:00Z",
    }
    status.update(overrides)
    return {k: v for k, v in status.items() if v is not None}


def trail(
    name: str,
    region: str = HOME,
    *,
    status: Outcome | None = None,
    selectors: Outcome | None = None,
    **desc: Any,
) -> Trail:
    entry = describe(name, region, **desc)
    t = Trail(arn=entry["TrailARN"], description=entry)
    t.settings[GET_TRAIL_STATUS.operation] = status or Found(logging())
    t.settings[GET_EVENT_SELECTORS.operation] = selectors or Found(ALL_MANAGEMENT)
    return t


def snapshot(*items: Trail, region: str = HOME) -> CloudTrailSnapshot:
    return CloudTrailSnapshot(
        target=target(region), observed_at=OBSERVED_AT, region=region, trails=list(items)
    )


def by_resource(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["resource"]: r for r in rows}


# -- the mapping ------------------------------------------------------------------------------------


def test_compliant_multi_region_trail_passes() -> None:
    rows = trails(snapshot(trail("org")))
    assert [r["status"] for r in rows] == ["pass"]
    row = rows[0]
    assert row["resource"] == arn("org")
    assert row["region"] == HOME
    assert row["shadow"] is False
    assert row["region_covered"] is True
    assert row["management_events"] == "All"
    assert row["latest_delivery_error"] is None
    assert row["latest_delivery_time"] == "2026-11-25T11:55:00.000000Z"
    assert "advisory" not in row["reason"]
    assert judge(TYPE, rows) == ([], True)


def test_shadow_trail_covers_another_region_and_is_judged_alike() -> None:
    rows = trails(snapshot(trail("org"), region=OTHER))
    row = rows[0]
    assert row["status"] == "pass"
    assert row["shadow"] is True
    assert row["home_region"] == HOME
    assert row["region"] == OTHER
    assert "home region us-east-1" in row["reason"]


def test_kms_and_cloudwatch_are_advisory() -> None:
    rows = trails(snapshot(trail("org", KmsKeyId=None, CloudWatchLogsLogGroupArn=None)))
    assert rows[0]["status"] == "pass"
    assert "not KMS-encrypted" in rows[0]["reason"] and "no CloudWatch Logs" in rows[0]["reason"]
    assert rows[0]["kms_key_id"] is None


@pytest.mark.parametrize(
    ("status", "selectors", "desc", "problem"),
    [
        (logging(IsLogging=False), ALL_MANAGEMENT, {}, "not logging"),
        (logging(), ALL_MANAGEMENT, {"LogFileValidationEnabled": False}, "log file validation off"),
        (
            logging(LatestDeliveryError="AccessDenied"),
            ALL_MANAGEMENT,
            {},
            "S3 delivery failing: AccessDenied",
        ),
        (
            logging(LatestDigestDeliveryError="NoSuchBucket"),
            ALL_MANAGEMENT,
            {},
            "digest delivery failing: NoSuchBucket",
        ),
        (
            logging(),
            {"EventSelectors": [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}]},
            {},
            "management events logged: WriteOnly",
        ),
        (
            logging(),
            {"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": False}]},
            {},
            "management events logged: None",
        ),
        (logging(), ALL_MANAGEMENT, {"S3BucketName": None}, "no S3 bucket"),
    ],
)
def test_each_shortfall_fails_the_trail_and_its_suite(
    status: dict[str, Any], selectors: dict[str, Any], desc: dict[str, Any], problem: str
) -> None:
    rows = trails(snapshot(trail("org", status=Found(status), selectors=Found(selectors), **desc)))
    assert rows[0]["status"] == "fail"
    assert problem in rows[0]["reason"]
    assert rows[0]["region_covered"] is False
    problems, gx_ok = judge(TYPE, rows)
    assert problems == []
    assert gx_ok is False


def test_missing_fields_are_not_compliance() -> None:
    # A status without IsLogging, a description without the flags: nothing is assumed on.
    bare = Trail(arn=arn("bare"), description={"Name": "bare", "TrailARN": arn("bare")})
    bare.settings[GET_TRAIL_STATUS.operation] = Found({})
    bare.settings[GET_EVENT_SELECTORS.operation] = Found({})
    rows = trails(snapshot(bare))
    by = by_resource(rows)
    row = by[arn("bare")]
    assert row["status"] == "fail"
    assert row["multi_region"] is False and row["is_logging"] is False
    assert row["management_events"] == "None"
    assert row["home_region"] == HOME  # from the ARN when HomeRegion is absent
    assert judge(TYPE, rows)[1] is False


def test_no_trail_is_a_failing_row_for_the_account() -> None:
    rows = trails(snapshot())
    assert len(rows) == 1
    row = rows[0]
    assert row["resource"] == ACCOUNT
    assert row["status"] == "fail"
    assert row["reason"] == "no CloudTrail trail logs us-east-1"
    assert row["region_covered"] is False and row["trail_name"] is None
    assert judge(TYPE, rows) == ([], False)


def test_single_region_trail_alone_fails() -> None:
    rows = trails(snapshot(trail("local", IsMultiRegionTrail=False)))
    assert rows[0]["status"] == "fail"
    assert "single-region trail and no compliant multi-region trail" in rows[0]["reason"]
    assert judge(TYPE, rows)[1] is False


def test_single_region_trail_beside_a_compliant_one_is_not_applicable() -> None:
    rows = trails(snapshot(trail("org"), trail("data-events", OTHER, IsMultiRegionTrail=False), region=OTHER))
    by = by_resource(rows)
    assert by[arn("org")]["status"] == "pass"
    local = by[arn("data-events", OTHER)]
    assert local["status"] == "not_applicable"
    assert "covered by multi-region trail org" in local["reason"]
    assert judge(TYPE, rows) == ([], True)


def test_broken_multi_region_trail_fails_even_when_another_covers_the_region() -> None:
    rows = trails(snapshot(trail("org"), trail("old", status=Found(logging(IsLogging=False)))))
    by = by_resource(rows)
    assert by[arn("org")]["status"] == "pass"
    assert by[arn("old")]["status"] == "fail"
    assert by[arn("old")]["region_covered"] is True
    assert judge(TYPE, rows)[1] is False


def test_unreadable_trail_is_an_error_row_naming_the_permission() -> None:
    rows = trails(snapshot(trail("org", status=denied(GET_TRAIL_STATUS))))
    assert rows[0]["status"] == "error"
    assert rows[0]["reason"] == (
        "could not read: AccessDenied on cloudtrail:get_trail_status (needs cloudtrail:GetTrailStatus)"
    )
    assert rows[0]["region_covered"] is None
    # Nothing else is claimed: the single-region trail's coverage is unknown too.
    rows = trails(
        snapshot(
            trail("org", selectors=denied(GET_EVENT_SELECTORS)), trail("local", IsMultiRegionTrail=False)
        )
    )
    assert {r["status"] for r in rows} == {"error"}
    assert judge(TYPE, rows) == ([], None)


def test_unreadable_trail_beside_a_compliant_one() -> None:
    rows = trails(snapshot(trail("org"), trail("other", status=denied(GET_TRAIL_STATUS))))
    assert {r["resource"]: r["status"] for r in rows} == {arn("org"): "pass", arn("other"): "error"}


def test_trail_deleted_mid_read_leaves_the_population() -> None:
    gone = trail("gone", status=Absent("TrailNotFoundException"))
    rows = trails(snapshot(gone))
    assert [(r["resource"], r["status"]) for r in rows] == [(ACCOUNT, "fail")]  # nothing logs the region
    rows = trails(snapshot(trail("org"), gone))
    assert [(r["resource"], r["status"]) for r in rows] == [(arn("org"), "pass")]
    assert judge(TYPE, rows) == ([], True)


def test_unreadable_single_region_trail_alone_still_fails_for_the_account() -> None:
    # Its status is unknown, but a single-region trail never covers the region as the control asks.
    rows = trails(snapshot(trail("local", IsMultiRegionTrail=False, status=denied(GET_TRAIL_STATUS))))
    assert [(r["resource"], r["status"]) for r in rows] == [(ACCOUNT, "fail"), (arn("local"), "error")]
    assert rows[0]["reason"] == "no multi-region CloudTrail trail logs us-east-1"
    assert judge(TYPE, rows) == ([], False)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ({"EventSelectors": [{"DataResources": []}]}, ("All", None)),  # API defaults: All, included
        ({"EventSelectors": [{"ReadWriteType": "ReadOnly"}, {"ReadWriteType": "WriteOnly"}]}, ("All", None)),
        (
            {
                "EventSelectors": [
                    {"ReadWriteType": "All", "ExcludeManagementEventSources": ["kms.amazonaws.com"]}
                ]
            },
            ("All", "kms.amazonaws.com"),
        ),
        (
            {
                "AdvancedEventSelectors": [
                    {"Name": "mgmt", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}
                ]
            },
            ("All", None),
        ),
        (
            {
                "AdvancedEventSelectors": [
                    {
                        "Name": "reads",
                        "FieldSelectors": [
                            {"Field": "eventCategory", "Equals": ["Management"]},
                            {"Field": "readOnly", "Equals": ["true"]},
                            {"Field": "eventSource", "NotEquals": ["rdsdata.amazonaws.com"]},
                        ],
                    }
                ]
            },
            ("ReadOnly", "rdsdata.amazonaws.com"),
        ),
        (
            {
                "AdvancedEventSelectors": [
                    {
                        "Name": "s3 data",
                        "FieldSelectors": [
                            {"Field": "eventCategory", "Equals": ["Data"]},
                            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                        ],
                    }
                ]
            },
            ("None", None),
        ),
        ({}, ("None", None)),
    ],
)
def test_management_events_from_basic_and_advanced_selectors(
    response: dict[str, Any], expected: tuple[str, str | None]
) -> None:
    assert management_events(response) == expected


# -- the fetch, against botocore's Stubber ----------------------------------------------------------


def _queue_trail(clients: StubbedClients, name: str, region: str, status: dict[str, Any]) -> None:
    stub = clients.stub("cloudtrail", region)
    stub.add_response("get_trail_status", status, {"Name": arn(name, region)})
    stub.add_response(
        "get_event_selectors",
        {"TrailARN": arn(name, region), **ALL_MANAGEMENT},
        {"TrailName": arn(name, region)},
    )


def test_fetch_reads_shadow_trails_in_their_home_region_once_each() -> None:
    clients = StubbedClients(regions=(HOME, OTHER))
    listing = {
        "trailList": [describe("org"), describe("org"), describe("local", OTHER, IsMultiRegionTrail=False)]
    }
    clients.stub("cloudtrail", OTHER).add_response("describe_trails", listing, {"includeShadowTrails": True})
    _queue_trail(clients, "org", HOME, logging())  # asked of us-east-1, the trail's home
    _queue_trail(clients, "local", OTHER, logging())
    records = collect_records(clients, cloudtrail.SERVICE, OTHER)
    clients.assert_all_answered()
    record = records[TYPE]
    rows = payload_rows(record)
    assert [r["resource"] for r in rows] == [arn("org"), arn("local", OTHER)]  # the duplicate is dropped
    assert record.draft.status == "pass"
    regions = {(c.operation, c.region) for c in record.draft.provenance.api_calls}
    assert ("get_trail_status", HOME) in regions and ("describe_trails", OTHER) in regions


def test_fetch_with_status_denied_everywhere_is_an_error_record() -> None:
    clients = StubbedClients()
    stub = clients.stub("cloudtrail", HOME)
    stub.add_response(
        "describe_trails", {"trailList": [describe("a"), describe("b")]}, {"includeShadowTrails": True}
    )
    for name in ("a", "b"):
        stub.add_client_error("get_trail_status", "AccessDeniedException", http_status_code=400)
        stub.add_response(
            "get_event_selectors", {"TrailARN": arn(name), **ALL_MANAGEMENT}, {"TrailName": arn(name)}
        )
    record = collect_records(clients, cloudtrail.SERVICE, HOME)[TYPE]
    assert record.draft.status == "error"
    assert record.draft.error is not None and record.draft.error.permission == "cloudtrail:GetTrailStatus"
    assert "missing permission cloudtrail:GetTrailStatus" in record.draft.reason


def test_fetch_with_listing_denied_is_an_error_record() -> None:
    clients = StubbedClients()
    clients.stub("cloudtrail", HOME).add_client_error(
        "describe_trails", "AccessDeniedException", http_status_code=400
    )
    record = collect_records(clients, cloudtrail.SERVICE, HOME)[TYPE]
    assert record.draft.status == "error"
    assert record.draft.error is not None and record.draft.error.permission == DESCRIBE_TRAILS.permission
    assert payload_rows(record) == []


def test_fetch_of_a_region_without_trails_fails_for_the_account() -> None:
    clients = StubbedClients()
    clients.stub("cloudtrail", HOME).add_response(
        "describe_trails", {"trailList": []}, {"includeShadowTrails": True}
    )
    record = collect_records(clients, cloudtrail.SERVICE, HOME)[TYPE]
    assert record.draft.status == "fail"
    assert ACCOUNT in record.draft.reason and "no CloudTrail trail logs us-east-1" in record.draft.reason

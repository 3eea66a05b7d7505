"""WAFv2 rate-based rules fed recorded responses, and which unit reads the CLOUDFRONT scope."""

from __future__ import annotations

from typing import Any

import pytest

from collectors.aws import wafv2
from collectors.aws.client import AwsCallRecorder
from collectors.aws.wafv2 import GET_WEB_ACL, LIST_WEB_ACLS, WafSnapshot, WebAcl, cloudfront_home
from collectors.core import Absent, Found, Outcome
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

TYPE = "aws.wafv2.rate_based_rules"


def acl_arn(name: str, region: str = "eu-west-1", scope: str = "regional") -> str:
    return f"arn:aws:wafv2:{region}:{ACCOUNT}:{scope}/webacl/{name}/id-{name}"


def visibility(name: str) -> dict[str, Any]:
    return {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": name}


def rate_rule(name: str, action: str, limit: int = 2000, window: int | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Limit": limit, "AggregateKeyType": "IP"}
    if window:
        statement["EvaluationWindowSec"] = window
    return {
        "Name": name,
        "Priority": 1,
        "Statement": {"RateBasedStatement": statement},
        "Action": {action: {}},
        "VisibilityConfig": visibility(name),
    }


MANAGED = {
    "Name": "common",
    "Priority": 0,
    "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": "AWSManagedRulesCommonRuleSet"}},
    "OverrideAction": {"None": {}},
    "VisibilityConfig": visibility("common"),
}
RULE_GROUP = {
    "Name": "ours",
    "Priority": 2,
    "Statement": {"RuleGroupReferenceStatement": {"ARN": acl_arn("ours").replace("webacl", "rulegroup")}},
    "OverrideAction": {"None": {}},
    "VisibilityConfig": visibility("ours"),
}


def detail(name: str, rules: list[dict[str, Any]], arn: str | None = None) -> Found:
    return Found(
        {
            "WebACL": {
                "Name": name,
                "Id": f"id-{name}",
                "ARN": arn or acl_arn(name),
                "DefaultAction": {"Allow": {}},
                "Rules": rules,
                "VisibilityConfig": visibility(name),
                "Capacity": 700,
            },
            "LockToken": "token",
        }
    )


def snapshot(*acls: tuple[str, Outcome], scopes: tuple[str, ...] = ("REGIONAL",)) -> WafSnapshot:
    return WafSnapshot(
        target=target("eu-west-1"),
        observed_at=OBSERVED_AT,
        region="eu-west-1",
        scopes=scopes,
        web_acls=[WebAcl(name, f"id-{name}", acl_arn(name), "REGIONAL", outcome) for name, outcome in acls],
    )


def rows_of(snap: WafSnapshot) -> dict[str, dict[str, Any]]:
    return {row["resource"]: row for row in wafv2.rate_based_rules(snap)}


def test_rate_rules_that_act_pass_and_those_that_only_count_fail() -> None:
    snap = snapshot(
        ("blocking", detail("blocking", [MANAGED, rate_rule("per-ip", "Block", 1000, 60)])),
        ("challenging", detail("challenging", [rate_rule("per-ip", "Challenge")])),
        ("counting", detail("counting", [MANAGED, rate_rule("per-ip", "Count")])),
        ("none", detail("none", [MANAGED])),
        ("groups", detail("groups", [RULE_GROUP])),
        ("empty", detail("empty", [])),
    )
    rows = rows_of(snap)
    blocking = rows[acl_arn("blocking")]
    assert blocking["status"] == "pass" and blocking["rate_limits"] == "per-ip=1000/60s Block"
    assert (
        blocking["rules"] == 2
        and blocking["limiting_rate_rules"] == 1
        and blocking["default_action"] == "Allow"
    )
    challenging = rows[acl_arn("challenging")]
    assert challenging["status"] == "pass" and "/300s" in challenging["rate_limits"]  # AWS's default window
    counting = rows[acl_arn("counting")]
    assert (
        counting["status"] == "fail"
        and counting["rate_based_rules"] == 1
        and "only count" in counting["reason"]
    )
    assert rows[acl_arn("none")]["status"] == "fail" and rows[acl_arn("none")]["rate_based_rules"] == 0
    groups = rows[acl_arn("groups")]
    assert (
        groups["status"] == "fail"
        and groups["rule_group_references"] == 1
        and "not inspected" in groups["reason"]
    )
    assert rows[acl_arn("empty")]["status"] == "fail"
    problems, success = judge(TYPE, list(rows.values()))
    assert problems == [] and success is False
    assert judge(TYPE, [blocking, challenging]) == ([], True)


def test_unreadable_web_acl_is_an_error_row() -> None:
    snap = snapshot(("locked", denied(GET_WEB_ACL)), ("ok", detail("ok", [rate_rule("r", "Block")])))
    rows = rows_of(snap)
    assert (
        rows[acl_arn("locked")]["status"] == "error"
        and "wafv2:GetWebACL" in rows[acl_arn("locked")]["reason"]
    )
    assert rows[acl_arn("locked")]["limiting_rate_rules"] is None
    assert judge(TYPE, list(rows.values())) == ([], True)  # GX judges what could be read


def test_no_web_acl_is_one_failing_row_for_the_region() -> None:
    (row,) = wafv2.rate_based_rules(snapshot())
    assert row["resource"] == ACCOUNT and row["region"] == "eu-west-1" and row["status"] == "fail"
    assert judge(TYPE, [row]) == ([], False)


def test_web_acl_deleted_while_read_is_skipped() -> None:
    rows = rows_of(snapshot(("gone", Absent("WAFNonexistentItemException")), ("ok", detail("ok", []))))
    assert list(rows) == [acl_arn("ok")]


@pytest.mark.parametrize(
    ("regions", "home"),
    [
        (("us-east-1", "eu-west-1"), "us-east-1"),
        (("eu-west-1", "us-east-1"), "us-east-1"),
        (("eu-west-1", "ap-south-1"), "eu-west-1"),
    ],
)
def test_cloudfront_scope_is_read_by_one_unit(regions: tuple[str, ...], home: str) -> None:
    assert cloudfront_home(regions) == home


def _clients(
    regions: tuple[str, ...], regional: dict[str, list[dict[str, Any]]], cloudfront: list[dict[str, Any]]
) -> tuple[ReplayClients, dict[str, ReplayClient]]:
    details = {a["Name"]: a for acls in [*regional.values(), cloudfront] for a in acls}

    def make(region: str) -> ReplayClient:
        def list_web_acls(Scope: str, **_: Any) -> dict[str, Any]:
            if Scope == "CLOUDFRONT":
                assert region == "us-east-1", "the CLOUDFRONT scope is only served by us-east-1"
                return {"WebACLs": cloudfront}
            return {"WebACLs": regional.get(region, [])}

        def get_web_acl(Name: str, Id: str, Scope: str) -> Any:
            summary = details[Name]
            return detail(Name, [rate_rule("r", "Block")], arn=summary["ARN"]).value

        return ReplayClient({"list_web_acls": list_web_acls, "get_web_acl": get_web_acl})

    clients = {r: make(r) for r in {*regions, "us-east-1"}}
    return ReplayClients({("wafv2", r): c for r, c in clients.items()}, regions), clients


def summary(name: str, region: str, scope: str) -> dict[str, Any]:
    return {"Name": name, "Id": f"id-{name}", "ARN": acl_arn(name, region, scope), "LockToken": "t"}


def test_fetch_reads_cloudfront_acls_once_through_us_east_1() -> None:
    regions = ("eu-west-1", "ap-south-1")  # us-east-1 is not a configured region
    clients, by_region = _clients(
        regions,
        {"eu-west-1": [summary("eu", "eu-west-1", "regional")]},
        [summary("cdn", "us-east-1", "global")],
    )
    home = run_fetch(wafv2.fetch, clients, "eu-west-1", target("eu-west-1"), AwsCallRecorder(), 2)
    other = run_fetch(wafv2.fetch, clients, "ap-south-1", target("ap-south-1"), AwsCallRecorder(), 2)
    home_rows = {r["resource"]: r for r in wafv2.rate_based_rules(home)}
    assert set(home_rows) == {acl_arn("eu", "eu-west-1"), acl_arn("cdn", "us-east-1", "global")}
    cdn = home_rows[acl_arn("cdn", "us-east-1", "global")]
    assert cdn["scope"] == "CLOUDFRONT" and cdn["region"] == "global" and cdn["status"] == "pass"
    assert ("get_web_acl", {"Name": "cdn", "Id": "id-cdn", "Scope": "CLOUDFRONT"}) in by_region[
        "us-east-1"
    ].requests
    (row,) = wafv2.rate_based_rules(other)  # no web ACL in ap-south-1, and the CDN one is not repeated
    assert row["resource"] == ACCOUNT and "REGIONAL" in row["reason"] and "CLOUDFRONT" not in row["reason"]


def test_fetch_with_a_denied_listing_fails_the_type() -> None:
    client = ReplayClient(
        {"list_web_acls": lambda **_: client_error("ListWebACLs", "AccessDeniedException", 400)}
    )
    clients = ReplayClients({("wafv2", "us-east-1"): client}, ("us-east-1",))
    snap = run_fetch(wafv2.fetch, clients, "us-east-1", target("us-east-1"), AwsCallRecorder(), 2)
    assert snap.failures[LIST_WEB_ACLS.key].permission == "wafv2:ListWebACLs"
    assert snap.web_acls == []

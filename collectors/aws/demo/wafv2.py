"""Sample WAF estate: web ACLs that rate-limit, that only count, that have no rate rule; a CloudFront
(global) web ACL; and, with a second region, a region without any web ACL."""

from __future__ import annotations

from typing import Any

from collectors.aws.demo import Expectations, Expected

ACCOUNT = "123456789012"  # moto's default account
CLOUDFRONT_REGION = "us-east-1"  # CLOUDFRONT-scope web ACLs live behind the us-east-1 endpoint


def _visibility(name: str) -> dict[str, Any]:
    return {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": name}


def _rate_rule(name: str, limit: int, action: str) -> dict[str, Any]:
    return {
        "Name": name,
        "Priority": 1,
        "Action": {action: {}},
        "VisibilityConfig": _visibility(name),
        "Statement": {"RateBasedStatement": {"Limit": limit, "AggregateKeyType": "IP"}},
    }


def seed(session: Any, regions: tuple[str, ...]) -> Expectations:
    home = regions[0]

    def acl(name: str, scope: str, rules: list[dict[str, Any]], region: str = home) -> str:
        client = session.client("wafv2", CLOUDFRONT_REGION if scope == "CLOUDFRONT" else region)
        summary = client.create_web_acl(
            Name=name,
            Scope=scope,
            DefaultAction={"Allow": {}},
            VisibilityConfig=_visibility(name),
            Rules=rules,
        )["Summary"]
        return str(summary["ARN"])

    limited = acl("demo-api-rate-limited", "REGIONAL", [_rate_rule("per-ip-2000", 2000, "Block")])
    counting = acl("demo-api-count-only", "REGIONAL", [_rate_rule("per-ip-count", 2000, "Count")])
    no_rate = acl(
        "demo-api-no-rate-rule",
        "REGIONAL",
        [
            {
                "Name": "block-bad-ips",
                "Priority": 1,
                "Action": {"Block": {}},
                "VisibilityConfig": _visibility("block-bad-ips"),
                "Statement": {
                    "IPSetReferenceStatement": {
                        "ARN": f"arn:aws:wafv2:{home}:{ACCOUNT}:regional/ipset/bad/0000"
                    }
                },
            }
        ],
    )
    cdn = acl("demo-cdn-rate-limited", "CLOUDFRONT", [_rate_rule("per-ip-challenge", 500, "Challenge")])
    failing = {counting, no_rate}
    if len(regions) > 1 and regions[1] != CLOUDFRONT_REGION:
        # The second region has no web ACL at all: one failing row named after the account.
        failing.add(ACCOUNT)
    return {"aws.wafv2.rate_based_rules": Expected(passing={limited, cdn}, failing=failing)}

"""WAFv2: every web ACL limits request rates (a rate-based rule that acts).

``fetch`` lists the region's web ACLs (Scope REGIONAL: ALB, API Gateway, AppSync, Cognito...) and
reads each one once (bounded concurrency). Web ACLs for CloudFront (Scope CLOUDFRONT) are global
resources that AWS serves only from the us-east-1 endpoint: asking for them in another region is an
error. They are read once per collection, by the us-east-1 unit (or, when us-east-1 is not a configured
region, by the unit of the first configured region, still through the us-east-1 endpoint), so they are
neither missed nor reported once per region.

Only rules of the web ACL itself are inspected: a rate-based rule inside a referenced rule group is
not seen (``rule_group_references`` counts those references, so a reviewer can look).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collectors.aws.client import AwsCallRecorder
from collectors.aws.family import AWS, AwsTarget
from collectors.core import Failed, Found, Outcome, Snapshot, failed_reason, fan_out
from collectors.core.family import FetchContext
from evidence.registry import ApiPermission, Row

COLLECTOR = "aws.wafv2"

LIST_WEB_ACLS = ApiPermission("wafv2", "list_web_acls", "wafv2:ListWebACLs")
# WAFNonexistentItemException: the web ACL was deleted between the listing and this call.
GET_WEB_ACL = ApiPermission("wafv2", "get_web_acl", "wafv2:GetWebACL", ("WAFNonexistentItemException",))

CLOUDFRONT_REGION = "us-east-1"  # the only endpoint that serves Scope=CLOUDFRONT
# Actions that stop or slow a client over the limit. "Count" only records it: monitoring, not limiting.
LIMITING_ACTIONS = ("Block", "Captcha", "Challenge")


@dataclass
class WebAcl:
    name: str
    id: str
    arn: str
    scope: str  # REGIONAL | CLOUDFRONT
    detail: Outcome | None = None  # Found(get_web_acl response)


@dataclass
class WafSnapshot(Snapshot):
    region: str = ""
    scopes: tuple[str, ...] = ()
    web_acls: list[WebAcl] = field(default_factory=list)


def cloudfront_home(regions: tuple[str, ...]) -> str:
    """The configured region whose unit reads the CLOUDFRONT scope."""
    return CLOUDFRONT_REGION if CLOUDFRONT_REGION in regions else regions[0]


def fetch(ctx: FetchContext[AwsTarget]) -> WafSnapshot:
    clients, region = ctx.connection.clients, ctx.connection.region
    recorder: AwsCallRecorder = ctx.recorder
    concurrency = ctx.concurrency
    snapshot = WafSnapshot(target=ctx.target, observed_at=ctx.observed_at, region=region)
    plans = [("REGIONAL", region)]
    if region == cloudfront_home(clients.config.regions):
        plans.append(("CLOUDFRONT", CLOUDFRONT_REGION))
    snapshot.scopes = tuple(scope for scope, _ in plans)
    acls: list[WebAcl] = []
    for scope, endpoint_region in plans:
        client = clients.client("wafv2", endpoint_region)
        listing = recorder.paginate(
            client, LIST_WEB_ACLS, endpoint_region, "WebACLs", token_in="NextMarker", Scope=scope
        )
        if isinstance(listing, Failed):
            # Either scope unreadable: the collection is incomplete, an error for the whole type.
            snapshot.fail(LIST_WEB_ACLS, listing.error)
            return snapshot
        assert isinstance(listing, Found)
        acls += [WebAcl(name=a["Name"], id=a["Id"], arn=a["ARN"], scope=scope) for a in listing.value]

    def read(acl: WebAcl) -> WebAcl:
        endpoint_region = CLOUDFRONT_REGION if acl.scope == "CLOUDFRONT" else region
        client = clients.client("wafv2", endpoint_region)
        acl.detail = recorder.call(
            client, GET_WEB_ACL, endpoint_region, Name=acl.name, Id=acl.id, Scope=acl.scope
        )
        return acl

    snapshot.web_acls = fan_out(read, acls, concurrency)
    snapshot.fail_if_uniform(GET_WEB_ACL, [a.detail for a in snapshot.web_acls])
    return snapshot


SERVICE = AWS.source(COLLECTOR, scope="regional")(fetch)


# ---------------------------------------------------------------------------------------------------
# Pure mapping: snapshot -> rows.


def _action(rule: dict[str, Any]) -> str | None:
    action = rule.get("Action") or {}
    return next(iter(action), None)


@SERVICE.evidence_type(
    "aws.wafv2.rate_based_rules",
    title="Every WAF web ACL has a rate-based rule that blocks (or challenges) clients over the limit",
    api_calls=(LIST_WEB_ACLS, GET_WEB_ACL),
    resource_kind="web ACL",
)
def rate_based_rules(snapshot: WafSnapshot) -> list[Row]:
    rows: list[Row] = []
    for acl in snapshot.web_acls:
        row_region = "global" if acl.scope == "CLOUDFRONT" else snapshot.region
        nulls = {
            "web_acl_name": acl.name,
            "scope": acl.scope,
            "rules": None,
            "rate_based_rules": None,
            "limiting_rate_rules": None,
            "rate_limits": None,
            "rule_group_references": None,
            "default_action": None,
        }
        if isinstance(acl.detail, Failed):
            rows.append(
                {
                    "resource": acl.arn,
                    "region": row_region,
                    "status": "error",
                    "reason": failed_reason(acl.detail),
                    **nulls,
                }
            )
            continue
        if not isinstance(acl.detail, Found):
            continue  # deleted while we read it
        web_acl = acl.detail.value.get("WebACL") or {}
        rules = web_acl.get("Rules") or []
        rate_rules = [r for r in rules if (r.get("Statement") or {}).get("RateBasedStatement")]
        limiting = [r for r in rate_rules if _action(r) in LIMITING_ACTIONS]
        limits = []
        for rule in rate_rules:
            statement = rule["Statement"]["RateBasedStatement"]
            window = statement.get("EvaluationWindowSec", 300)  # AWS's default window
            limits.append(f"{rule.get('Name')}={statement.get('Limit')}/{window}s {_action(rule)}")
        fields = {
            "web_acl_name": web_acl.get("Name", acl.name),
            "scope": acl.scope,
            "rules": len(rules),
            "rate_based_rules": len(rate_rules),
            "limiting_rate_rules": len(limiting),
            "rate_limits": ", ".join(limits),
            "rule_group_references": sum(
                1 for r in rules if (r.get("Statement") or {}).get("RuleGroupReferenceStatement")
            ),
            "default_action": next(iter(web_acl.get("DefaultAction") or {}), None),
        }
        if limiting:
            status, reason = "pass", f"rate limits: {fields['rate_limits']}"
        elif rate_rules:
            status, reason = (
                "fail",
                f"rate-based rules only count, none blocks: {fields['rate_limits']}",
            )
        else:
            status, reason = "fail", "no rate-based rule"
            if fields["rule_group_references"]:
                reason += f" (rule groups referenced: {fields['rule_group_references']}, not inspected)"
        rows.append({"resource": acl.arn, "region": row_region, "status": status, "reason": reason, **fields})
    if not rows:
        scopes = " and ".join(snapshot.scopes) or "REGIONAL"
        rows.append(
            {
                "resource": snapshot.target["account"],
                "region": snapshot.region,
                "status": "fail",
                "reason": f"no WAF web ACL ({scopes}) in {snapshot.region}: no rate limiting at the edge",
                "web_acl_name": None,
                "scope": None,
                "rules": None,
                "rate_based_rules": None,
                "limiting_rate_rules": None,
                "rate_limits": None,
                "rule_group_references": None,
                "default_action": None,
            }
        )
    return rows

"""CloudFront: viewers reach every distribution over HTTPS only, with a modern TLS floor.

``fetch`` lists every distribution once (the summaries carry the cache behaviours and the viewer
certificate); the evidence type below is a pure function of that snapshot. No distribution at all is
``not_applicable`` ("CDN configured (if applicable)"), not a failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collectors.aws.client import AwsCallRecorder
from collectors.aws.family import AWS, AwsTarget
from collectors.core import Failed, Found, Outcome, Snapshot
from collectors.core.family import FetchContext
from evidence.registry import ApiPermission, Row

COLLECTOR = "aws.cloudfront"

LIST_DISTRIBUTIONS = ApiPermission("cloudfront", "list_distributions", "cloudfront:ListDistributions")

# Viewer protocol policies that never serve content over plain HTTP ("allow-all" does).
HTTPS_POLICIES = frozenset({"redirect-to-https", "https-only"})
# Security policies with TLS 1.2 or later as the floor (TLSv1.2_2018/2019/2021/2025, TLSv1.3_2025).
# TLS 1.0/1.1 are deprecated (RFC 8996). With CloudFront's default *.cloudfront.net certificate the
# floor is CloudFront's and cannot be set, so it is judged only for custom certificates.
MODERN_TLS_PREFIXES = ("TLSv1.2_", "TLSv1.3")
# Safety stop for a pagination loop that never ends (a misbehaving endpoint).
MAX_PAGES = 10_000


@dataclass
class CloudFrontSnapshot(Snapshot):
    distributions: Outcome | None = None  # Found(list of DistributionSummary)


def list_distributions(client: Any, recorder: AwsCallRecorder, region: str) -> Outcome:
    """ListDistributions nests its items and marker inside ``DistributionList``: follow it there."""
    items: list[Any] = []
    request: dict[str, Any] = {}
    for _ in range(MAX_PAGES):
        outcome = recorder.call(client, LIST_DISTRIBUTIONS, region, **request)
        if not isinstance(outcome, Found):
            return outcome
        page = outcome.value.get("DistributionList") or {}
        items.extend(page.get("Items") or [])
        if not page.get("IsTruncated") or not page.get("NextMarker"):
            break
        request = {"Marker": page["NextMarker"]}
    return Found(items)


def fetch(ctx: FetchContext[AwsTarget]) -> CloudFrontSnapshot:
    clients, region = ctx.connection.clients, ctx.connection.region
    recorder: AwsCallRecorder = ctx.recorder
    snapshot = CloudFrontSnapshot(target=ctx.target, observed_at=ctx.observed_at)
    snapshot.distributions = list_distributions(clients.client("cloudfront", region), recorder, region)
    if isinstance(snapshot.distributions, Failed):
        snapshot.fail(LIST_DISTRIBUTIONS, snapshot.distributions.error)
    return snapshot


SERVICE = AWS.source(COLLECTOR, scope="global")(fetch)


# ---------------------------------------------------------------------------------------------------
# Pure mapping: snapshot -> rows.


def _behaviours(distribution: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(path pattern, viewer protocol policy) for the default and every ordered cache behaviour."""
    default = distribution.get("DefaultCacheBehavior") or {}
    found = [("default (*)", default.get("ViewerProtocolPolicy"))]
    for behaviour in (distribution.get("CacheBehaviors") or {}).get("Items") or []:
        found.append((str(behaviour.get("PathPattern")), behaviour.get("ViewerProtocolPolicy")))
    return found


@SERVICE.evidence_type(
    "aws.cloudfront.https_only",
    title="CloudFront distributions serve viewers over HTTPS only, with TLS 1.2+ on custom certificates",
    api_calls=(LIST_DISTRIBUTIONS,),
    resource_kind="distribution",
)
def https_only(snapshot: CloudFrontSnapshot) -> list[Row]:
    if not isinstance(snapshot.distributions, Found):
        return []  # the failure is recorded for the whole type (snapshot.failures)
    rows: list[Row] = []
    for distribution in snapshot.distributions.value:
        behaviours = _behaviours(distribution)
        insecure = [
            f"{path}: {policy or 'no viewer protocol policy'}"
            for path, policy in behaviours
            if policy not in HTTPS_POLICIES
        ]
        certificate = distribution.get("ViewerCertificate") or {}
        custom = bool(certificate.get("ACMCertificateArn") or certificate.get("IAMCertificateId")) or (
            certificate.get("CloudFrontDefaultCertificate") is False
        )
        minimum = certificate.get("MinimumProtocolVersion")
        fields = {
            "distribution_id": distribution.get("Id"),
            "domain_name": distribution.get("DomainName"),
            "aliases": ",".join((distribution.get("Aliases") or {}).get("Items") or []),
            "enabled": distribution.get("Enabled"),
            "default_viewer_protocol_policy": behaviours[0][1],
            "behaviours": len(behaviours),
            "insecure_behaviours": "; ".join(insecure),
            "custom_certificate": custom,
            "minimum_protocol_version": minimum,
        }
        problems = []
        if insecure:
            problems.append(f"not HTTPS-only ({'; '.join(insecure)})")
        if custom and not str(minimum or "").startswith(MODERN_TLS_PREFIXES):
            problems.append(
                f"custom certificate with TLS floor {minimum or 'unset'} (needs TLSv1.2 or later)"
            )
        if problems:
            status, reason = "fail", "; ".join(problems)
        else:
            tls = f"TLS floor {minimum}" if custom else "default CloudFront certificate"
            status, reason = "pass", f"HTTPS only on {len(behaviours)} behaviour(s); {tls}"
        rows.append(
            {
                "resource": str(distribution.get("ARN") or distribution.get("Id")),
                "region": None,
                "status": status,
                "reason": reason,
                **fields,
            }
        )
    return rows

"""CloudFront HTTPS-only fed recorded responses."""

from __future__ import annotations

from typing import Any

import pytest

from collectors.aws import cloudfront
from collectors.aws.client import AwsCallRecorder
from collectors.aws.cloudfront import LIST_DISTRIBUTIONS, CloudFrontSnapshot
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

TYPE = "aws.cloudfront.https_only"
ACM = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/0f1e2d3c"


def arn(dist_id: str) -> str:
    return f"arn:aws:cloudfront::{ACCOUNT}:distribution/{dist_id}"


def distribution(
    dist_id: str,
    default: str | None = "redirect-to-https",
    paths: tuple[tuple[str, str | None], ...] = (),
    certificate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "Id": dist_id,
        "ARN": arn(dist_id),
        "Status": "Deployed",
        "DomainName": f"{dist_id.lower()}.cloudfront.net",
        "Aliases": {"Quantity": 1, "Items": ["shop.example.com"]},
        "Enabled": True,
        "DefaultCacheBehavior": {"TargetOriginId": "origin"},
        "CacheBehaviors": {
            "Quantity": len(paths),
            "Items": [
                {"PathPattern": p, "TargetOriginId": "origin", **({"ViewerProtocolPolicy": v} if v else {})}
                for p, v in paths
            ],
        },
        "ViewerCertificate": certificate
        or {"CloudFrontDefaultCertificate": True, "MinimumProtocolVersion": "TLSv1"},
    }
    if default:
        summary["DefaultCacheBehavior"]["ViewerProtocolPolicy"] = default
    return summary


def custom(version: str | None) -> dict[str, Any]:
    cert: dict[str, Any] = {
        "CloudFrontDefaultCertificate": False,
        "ACMCertificateArn": ACM,
        "SSLSupportMethod": "sni-only",
    }
    if version:
        cert["MinimumProtocolVersion"] = version
    return cert


def rows_of(outcome: Outcome) -> dict[str, dict[str, Any]]:
    snap = CloudFrontSnapshot(target=target(), observed_at=OBSERVED_AT, distributions=outcome)
    return {row["resource"]: row for row in cloudfront.https_only(snap)}


def test_https_only_distributions_pass() -> None:
    rows = rows_of(
        Found(
            [
                distribution("GOOD", paths=(("/api/*", "https-only"),), certificate=custom("TLSv1.2_2021")),
                distribution("DEFAULTCERT", default="https-only"),
                distribution("TLS13", certificate=custom("TLSv1.3_2025")),
            ]
        )
    )
    good = rows[arn("GOOD")]
    assert good["status"] == "pass" and good["behaviours"] == 2 and good["custom_certificate"] is True
    assert good["minimum_protocol_version"] == "TLSv1.2_2021" and good["aliases"] == "shop.example.com"
    # The default certificate's TLS floor is CloudFront's own: not judged.
    default_cert = rows[arn("DEFAULTCERT")]
    assert default_cert["status"] == "pass" and default_cert["custom_certificate"] is False
    assert rows[arn("TLS13")]["status"] == "pass"
    assert judge(TYPE, list(rows.values())) == ([], True)


@pytest.mark.parametrize(
    ("summary", "words"),
    [
        (distribution("ALLOWALL", default="allow-all"), "default (*): allow-all"),
        (distribution("PATH", paths=(("/legacy/*", "allow-all"),)), "/legacy/*: allow-all"),
        (distribution("NOPOLICY", default=None), "default (*): no viewer protocol policy"),
        (distribution("PATHNOPOLICY", paths=(("/x/*", None),)), "/x/*: no viewer protocol policy"),
        (distribution("TLS1", certificate=custom("TLSv1")), "TLS floor TLSv1 "),
        (distribution("TLS11", certificate=custom("TLSv1.1_2016")), "TLSv1.1_2016"),
        (distribution("TLSUNSET", certificate=custom(None)), "TLS floor unset"),
        (
            distribution(
                "IAMCERT", certificate={"IAMCertificateId": "ASCA1", "MinimumProtocolVersion": "SSLv3"}
            ),
            "SSLv3",
        ),
    ],
)
def test_plain_http_or_an_old_tls_floor_fails(summary: dict[str, Any], words: str) -> None:
    (row,) = rows_of(Found([summary])).values()
    assert row["status"] == "fail" and words in row["reason"]
    problems, success = judge(TYPE, [row])
    assert problems == [] and success is False  # nulls (no policy, no TLS floor) do not slip past GX


def test_no_distribution_yields_no_rows_so_the_record_is_not_applicable() -> None:
    assert rows_of(Found([])) == {}


def test_unreadable_listing_yields_no_rows() -> None:
    assert rows_of(denied(LIST_DISTRIBUTIONS)) == {}


def test_fetch_follows_the_marker_inside_distribution_list() -> None:
    client = ReplayClient(
        {
            "list_distributions": [
                {
                    "DistributionList": {
                        "Marker": "",
                        "NextMarker": "E2",
                        "IsTruncated": True,
                        "MaxItems": 1,
                        "Quantity": 1,
                        "Items": [distribution("E1")],
                    }
                },
                {
                    "DistributionList": {
                        "Marker": "E2",
                        "IsTruncated": False,
                        "MaxItems": 1,
                        "Quantity": 1,
                        "Items": [distribution("E2", default="allow-all")],
                    }
                },
            ]
        }
    )
    snap = run_fetch(
        cloudfront.fetch,
        ReplayClients({("cloudfront", "us-east-1"): client}, ("us-east-1",)),
        "us-east-1",
        target(),
        AwsCallRecorder(),
        2,
    )
    assert client.requests == [("list_distributions", {}), ("list_distributions", {"Marker": "E2"})]
    statuses = {r["resource"]: r["status"] for r in cloudfront.https_only(snap)}
    assert statuses == {arn("E1"): "pass", arn("E2"): "fail"}


def test_fetch_with_no_items_and_a_denied_listing() -> None:
    empty = ReplayClient(
        {
            "list_distributions": [
                {"DistributionList": {"Marker": "", "IsTruncated": False, "MaxItems": 100, "Quantity": 0}}
            ]
        }
    )
    snap = run_fetch(
        cloudfront.fetch,
        ReplayClients({("cloudfront", "us-east-1"): empty}, ("us-east-1",)),
        "us-east-1",
        target(),
        AwsCallRecorder(),
        2,
    )
    assert snap.failures == {} and cloudfront.https_only(snap) == []
    denied_client = ReplayClient(
        {"list_distributions": [client_error("ListDistributions", "AccessDenied", 403)]}
    )
    snap = run_fetch(
        cloudfront.fetch,
        ReplayClients({("cloudfront", "us-east-1"): denied_client}, ("us-east-1",)),
        "us-east-1",
        target(),
        AwsCallRecorder(),
        2,
    )
    assert snap.failures[LIST_DISTRIBUTIONS.key].permission == "cloudfront:ListDistributions"

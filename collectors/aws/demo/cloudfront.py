"""Sample CloudFront estate: HTTPS-only distributions (custom and default certificate), one with a
plain-HTTP path and one with a TLS 1.0 floor on its custom certificate."""

from __future__ import annotations

from typing import Any

from collectors.aws.demo import Expectations, Expected

ACCOUNT = "123456789012"  # moto's default account
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"  # AWS managed cache policy


def seed(session: Any, regions: tuple[str, ...]) -> Expectations:
    cloudfront = session.client("cloudfront", regions[0])

    def distribution(
        ref: str, policy: str, paths: tuple[tuple[str, str], ...] = (), tls: str | None = None
    ) -> str:
        behaviour = {"TargetOriginId": "origin", "CachePolicyId": CACHING_OPTIMIZED}
        config: dict[str, Any] = {
            "CallerReference": ref,
            "Comment": ref,
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "origin",
                        "DomainName": f"{ref}.origin.demo.example",
                        "CustomOriginConfig": {
                            "HTTPPort": 80,
                            "HTTPSPort": 443,
                            "OriginProtocolPolicy": "https-only",
                        },
                    }
                ],
            },
            "DefaultCacheBehavior": {**behaviour, "ViewerProtocolPolicy": policy},
        }
        if paths:
            config["CacheBehaviors"] = {
                "Quantity": len(paths),
                "Items": [
                    {**behaviour, "PathPattern": path, "ViewerProtocolPolicy": path_policy}
                    for path, path_policy in paths
                ],
            }
        if tls:
            config["ViewerCertificate"] = {
                "ACMCertificateArn": f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/{ref}",
                "SSLSupportMethod": "sni-only",
                "MinimumProtocolVersion": tls,
                "CloudFrontDefaultCertificate": False,
            }
        return str(cloudfront.create_distribution(DistributionConfig=config)["Distribution"]["ARN"])

    shop = distribution("demo-shop", "redirect-to-https", (("/api/*", "https-only"),), tls="TLSv1.2_2021")
    assets = distribution("demo-assets", "https-only")  # default *.cloudfront.net certificate
    legacy_path = distribution(
        "demo-legacy-path", "redirect-to-https", (("/legacy/*", "allow-all"),), tls="TLSv1.2_2019"
    )
    old_tls = distribution("demo-old-tls", "redirect-to-https", tls="TLSv1")
    return {"aws.cloudfront.https_only": Expected(passing={shop, assets}, failing={legacy_path, old_tls})}

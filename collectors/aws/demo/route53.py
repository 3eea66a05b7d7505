"""Sample Route 53 estate: record sets with low and high TTLs, alias and NS/SOA records (not
applicable), and health checks that pass and fail."""

from __future__ import annotations

from typing import Any

from collectors.aws.demo import Expectations, Expected


def seed(session: Any, regions: tuple[str, ...]) -> Expectations:
    home = regions[0]
    r53 = session.client("route53", home)
    ec2 = session.client("ec2", home)

    def check(ref: str, **config: Any) -> str:
        return str(
            r53.create_health_check(CallerReference=ref, HealthCheckConfig=config)["HealthCheck"]["Id"]
        )

    # Health checks: well configured ones, and one of each mistake.
    good = check(
        "demo-www-https",
        Type="HTTPS",
        FullyQualifiedDomainName="www.demo-shop.example",
        Port=443,
        ResourcePath="/healthz",
        RequestInterval=30,
        FailureThreshold=3,
    )
    fast = check(
        "demo-api-http-str",
        Type="HTTP_STR_MATCH",
        IPAddress="192.0.2.10",
        Port=80,
        ResourcePath="/status",
        SearchString="ok",
        RequestInterval=10,
        FailureThreshold=3,
    )
    tcp_only = check(
        "demo-db-tcp", Type="TCP", IPAddress="192.0.2.20", Port=5432, RequestInterval=30, FailureThreshold=3
    )
    slow = check(
        "demo-slow-http",
        Type="HTTP",
        FullyQualifiedDomainName="slow.demo-shop.example",
        Port=80,
        ResourcePath="/",
        RequestInterval=30,
        FailureThreshold=5,
    )
    disabled = check(
        "demo-disabled-https",
        Type="HTTPS",
        FullyQualifiedDomainName="old.demo-shop.example",
        Port=443,
        ResourcePath="/healthz",
        RequestInterval=30,
        FailureThreshold=3,
        Disabled=True,
    )
    # Probes nothing itself (not_applicable): in neither expected set.
    check("demo-calculated", Type="CALCULATED", HealthThreshold=1, ChildHealthChecks=[good, fast])

    public = r53.create_hosted_zone(Name="demo-shop.example", CallerReference="demo-public")["HostedZone"]
    public_id = public["Id"].rsplit("/", 1)[-1]
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    private = r53.create_hosted_zone(
        Name="internal.demo",
        CallerReference="demo-private",
        VPC={"VPCRegion": home, "VPCId": vpc},
        HostedZoneConfig={"PrivateZone": True, "Comment": "demo private zone"},
    )["HostedZone"]
    private_id = private["Id"].rsplit("/", 1)[-1]

    def record(name: str, rtype: str, **fields: Any) -> dict[str, Any]:
        return {"Action": "CREATE", "ResourceRecordSet": {"Name": name, "Type": rtype, **fields}}

    r53.change_resource_record_sets(
        HostedZoneId=public_id,
        ChangeBatch={
            "Changes": [
                record(
                    "www.demo-shop.example.",
                    "A",
                    TTL=60,
                    SetIdentifier="primary",
                    Failover="PRIMARY",
                    HealthCheckId=good,
                    ResourceRecords=[{"Value": "192.0.2.1"}],
                ),
                record(
                    "www.demo-shop.example.",
                    "A",
                    TTL=60,
                    SetIdentifier="secondary",
                    Failover="SECONDARY",
                    ResourceRecords=[{"Value": "198.51.100.1"}],
                ),
                record(
                    "api.demo-shop.example.",
                    "CNAME",
                    TTL=3600,
                    ResourceRecords=[{"Value": "lb.demo.example"}],
                ),
                record("demo-shop.example.", "TXT", TTL=86400, ResourceRecords=[{"Value": '"v=spf1 -all"'}]),
                record(
                    "cdn.demo-shop.example.",
                    "A",
                    AliasTarget={
                        "HostedZoneId": public_id,
                        "DNSName": "www.demo-shop.example.",
                        "EvaluateTargetHealth": True,
                    },
                ),
            ]
        },
    )
    r53.change_resource_record_sets(
        HostedZoneId=private_id,
        ChangeBatch={
            "Changes": [
                record(
                    "db.internal.demo.", "CNAME", TTL=300, ResourceRecords=[{"Value": "db1.internal.demo"}]
                ),
            ]
        },
    )
    return {
        "aws.route53.record_ttl": Expected(
            passing={
                f"{public_id}/www.demo-shop.example./A/primary",
                f"{public_id}/www.demo-shop.example./A/secondary",
                f"{private_id}/db.internal.demo./CNAME",  # exactly the limit
            },
            failing={f"{public_id}/api.demo-shop.example./CNAME", f"{public_id}/demo-shop.example./TXT"},
        ),
        "aws.route53.health_checks": Expected(passing={good, fast}, failing={tcp_only, slow, disabled}),
    }

"""Route 53 mappings fed recorded responses: record TTLs and health checks."""

from __future__ import annotations

from typing import Any

import pytest

from collectors.aws import route53
from collectors.aws.client import AwsCallRecorder
from collectors.aws.route53 import (
    LIST_HEALTH_CHECKS,
    LIST_HOSTED_ZONES,
    LIST_RECORD_SETS,
    HostedZone,
    Route53Snapshot,
)
from collectors.core import Absent, Found
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

ZONE = "Z0123456789ABCDEFGHIJ"
PRIVATE_ZONE = "Z9876543210ZYXWVUTSRQ"
CHECK_ID = "5d0c4b59-6f0b-4e2c-9a0a-0c1c1f1e3a11"


def rrset(name: str, rtype: str, ttl: int | None = None, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"Name": name, "Type": rtype, **extra}
    if ttl is not None:
        record["TTL"] = ttl
        record.setdefault("ResourceRecords", [{"Value": "192.0.2.1"}])
    return record


PUBLIC_RECORDS = [
    rrset("shop.example.", "NS", 172800, ResourceRecords=[{"Value": "ns-1.awsdns-01.org."}]),
    rrset("shop.example.", "SOA", 900, ResourceRecords=[{"Value": "ns-1.awsdns-01.org. hostmaster 1 7200"}]),
    rrset("api.shop.example.", "CNAME", 3600, ResourceRecords=[{"Value": "lb.example."}]),
    rrset(
        "cdn.shop.example.",
        "A",
        AliasTarget={
            "HostedZoneId": "Z2FDTNDATAQYW2",
            "DNSName": "d1.cloudfront.net.",
            "EvaluateTargetHealth": False,
        },
    ),
    rrset("www.shop.example.", "A", 60, SetIdentifier="primary", Failover="PRIMARY", HealthCheckId=CHECK_ID),
    rrset("www.shop.example.", "A", 60, SetIdentifier="secondary", Failover="SECONDARY"),
    rrset("edge.shop.example.", "A", 300),
]


def snapshot(
    records: Any = None, checks: Any = None, zones: list[HostedZone] | None = None
) -> Route53Snapshot:
    if zones is None:
        zones = [
            HostedZone(ZONE, "shop.example.", False, Found(PUBLIC_RECORDS if records is None else records))
        ]
    return Route53Snapshot(
        target=target(),
        observed_at=OBSERVED_AT,
        zones=zones,
        zones_listing=Found([{"Id": f"/hostedzone/{z.id}"} for z in zones]),
        health_checks=checks if checks is not None else Found([]),
    )


def by_resource(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["resource"]: row for row in rows}


# -- record_ttl ------------------------------------------------------------------------------------


def test_record_ttl_judges_each_record_set() -> None:
    rows = by_resource(route53.record_ttl(snapshot()))
    assert rows[f"{ZONE}/www.shop.example./A/primary"]["status"] == "pass"
    assert rows[f"{ZONE}/www.shop.example./A/secondary"]["status"] == "pass"
    assert rows[f"{ZONE}/edge.shop.example./A"]["status"] == "pass"  # exactly 300 s
    api = rows[f"{ZONE}/api.shop.example./CNAME"]
    assert api["status"] == "fail" and api["ttl"] == 3600 and "3600" in api["reason"]
    for registrar in (f"{ZONE}/shop.example./NS", f"{ZONE}/shop.example./SOA"):
        assert rows[registrar]["status"] == "not_applicable"
        assert "registrar" in rows[registrar]["reason"]
    alias = rows[f"{ZONE}/cdn.shop.example./A"]
    assert alias["status"] == "not_applicable" and alias["alias"] is True and alias["ttl"] is None
    assert rows[f"{ZONE}/www.shop.example./A/primary"]["health_check_id"] == CHECK_ID


def test_record_without_ttl_that_is_not_an_alias_fails() -> None:
    (row,) = route53.record_ttl(snapshot([{"Name": "odd.shop.example.", "Type": "A"}]))
    assert row["status"] == "fail" and row["ttl"] is None and "no TTL" in row["reason"]


def test_unreadable_zone_is_an_error_row_naming_the_permission() -> None:
    zones = [
        HostedZone(ZONE, "shop.example.", False, Found(PUBLIC_RECORDS)),
        HostedZone(PRIVATE_ZONE, "internal.example.", True, denied(LIST_RECORD_SETS)),
    ]
    rows = by_resource(route53.record_ttl(snapshot(zones=zones)))
    error = rows[PRIVATE_ZONE]
    assert error["status"] == "error" and error["ttl"] is None and error["private_zone"] is True
    assert "route53:ListResourceRecordSets" in error["reason"]
    assert rows[f"{ZONE}/api.shop.example./CNAME"]["status"] == "fail"


def test_zone_deleted_while_read_yields_no_rows() -> None:
    zones = [HostedZone(ZONE, "shop.example.", False, Absent("NoSuchHostedZone"))]
    assert route53.record_ttl(snapshot(zones=zones)) == []


def test_record_ttl_schema_and_gx_agree_with_the_rows() -> None:
    rows = route53.record_ttl(snapshot())
    problems, success = judge("aws.route53.record_ttl", rows)
    assert problems == [] and success is False  # the 3600 s CNAME
    passing = [r for r in rows if r["status"] != "fail"]
    problems, success = judge("aws.route53.record_ttl", passing)
    assert problems == [] and success is True  # NS (172800 s) and alias (no TTL) are not judged
    missing_ttl = route53.record_ttl(snapshot([{"Name": "odd.shop.example.", "Type": "A"}]))
    assert judge("aws.route53.record_ttl", missing_ttl)[1] is False  # GX is not fooled by a null TTL


# -- health_checks ---------------------------------------------------------------------------------


def health_check(check_id: str, **config: Any) -> dict[str, Any]:
    return {
        "Id": check_id,
        "CallerReference": check_id,
        "HealthCheckConfig": {"Inverted": False, "Disabled": False, "EnableSNI": True, **config},
        "HealthCheckVersion": 1,
    }


CHECKS = [
    health_check(
        CHECK_ID,
        Type="HTTPS",
        FullyQualifiedDomainName="www.shop.example",
        Port=443,
        ResourcePath="/healthz",
        RequestInterval=30,
        FailureThreshold=3,
    ),
    health_check(
        "fast", Type="HTTP_STR_MATCH", IPAddress="192.0.2.10", Port=80, RequestInterval=10, FailureThreshold=2
    ),
    health_check(
        "tcp", Type="TCP", IPAddress="192.0.2.20", Port=5432, RequestInterval=30, FailureThreshold=3
    ),
    health_check(
        "slow", Type="HTTP", FullyQualifiedDomainName="slow.example", RequestInterval=30, FailureThreshold=10
    ),
    health_check(
        "off",
        Type="HTTPS",
        FullyQualifiedDomainName="off.example",
        RequestInterval=30,
        FailureThreshold=3,
        Disabled=True,
    ),
    health_check("calc", Type="CALCULATED", HealthThreshold=1, ChildHealthChecks=[CHECK_ID, "fast"]),
]


def test_health_checks_judge_protocol_detection_time_and_state() -> None:
    rows = by_resource(route53.health_checks(snapshot(checks=Found(CHECKS))))
    good = rows[CHECK_ID]
    assert good["status"] == "pass" and good["detection_seconds"] == 90
    assert good["endpoint"] == "www.shop.example:443"
    assert good["backs_records"] == f"{ZONE}/www.shop.example./A/primary"
    assert f"backs {ZONE}/www.shop.example./A/primary" in good["reason"]
    assert rows["fast"]["status"] == "pass" and rows["fast"]["backs_records"] == ""
    assert rows["tcp"]["status"] == "fail" and "TCP" in rows["tcp"]["reason"]
    assert rows["slow"]["status"] == "fail" and rows["slow"]["detection_seconds"] == 300
    assert rows["off"]["status"] == "fail" and "disabled" in rows["off"]["reason"]
    assert rows["calc"]["status"] == "not_applicable" and rows["calc"]["detection_seconds"] is None


def test_no_health_checks_is_one_failing_row_for_the_account() -> None:
    (row,) = route53.health_checks(snapshot(checks=Found([])))
    assert row["resource"] == ACCOUNT and row["status"] == "fail"
    problems, success = judge("aws.route53.health_checks", [row])
    assert problems == [] and success is False


def test_health_check_missing_interval_fails() -> None:
    check = health_check("bare", Type="HTTPS", FullyQualifiedDomainName="bare.example")
    (row,) = route53.health_checks(snapshot(checks=Found([check])))
    assert row["status"] == "fail" and row["detection_seconds"] is None
    assert judge("aws.route53.health_checks", [row])[1] is False


def test_backed_records_unknown_when_record_sets_unreadable() -> None:
    zones = [HostedZone(ZONE, "shop.example.", False, denied(LIST_RECORD_SETS))]
    rows = by_resource(route53.health_checks(snapshot(checks=Found(CHECKS[:1]), zones=zones)))
    assert rows[CHECK_ID]["status"] == "pass" and rows[CHECK_ID]["backs_records"] is None
    assert "unknown" in rows[CHECK_ID]["reason"]


def test_health_checks_unreadable_yield_no_rows() -> None:
    assert route53.health_checks(snapshot(checks=denied(LIST_HEALTH_CHECKS))) == []


def test_health_checks_schema_and_gx_agree_with_the_rows() -> None:
    rows = route53.health_checks(snapshot(checks=Found(CHECKS)))
    problems, success = judge("aws.route53.health_checks", rows)
    assert problems == [] and success is False
    compliant = [r for r in rows if r["status"] != "fail"]
    problems, success = judge("aws.route53.health_checks", compliant)
    assert problems == [] and success is True


# -- fetch: pagination and failures ----------------------------------------------------------------


def test_fetch_follows_record_set_pages_and_zone_markers() -> None:
    zone_pages = [
        {
            "HostedZones": [
                {"Id": f"/hostedzone/{ZONE}", "Name": "shop.example.", "Config": {"PrivateZone": False}}
            ],
            "IsTruncated": True,
            "NextMarker": "m2",
            "MaxItems": "1",
        },
        {
            "HostedZones": [
                {
                    "Id": f"/hostedzone/{PRIVATE_ZONE}",
                    "Name": "internal.example.",
                    "Config": {"PrivateZone": True},
                }
            ],
            "IsTruncated": False,
            "MaxItems": "1",
        },
    ]

    def record_sets(HostedZoneId: str, **start: Any) -> dict[str, Any]:
        if HostedZoneId == PRIVATE_ZONE:
            return {"ResourceRecordSets": [rrset("db.internal.example.", "CNAME", 300)], "IsTruncated": False}
        if not start:
            return {
                "ResourceRecordSets": PUBLIC_RECORDS[:4],
                "IsTruncated": True,
                "NextRecordName": "www.shop.example.",
                "NextRecordType": "A",
                "NextRecordIdentifier": "primary",
            }
        assert start == {
            "StartRecordName": "www.shop.example.",
            "StartRecordType": "A",
            "StartRecordIdentifier": "primary",
        }
        return {"ResourceRecordSets": PUBLIC_RECORDS[4:], "IsTruncated": False}

    client = ReplayClient(
        {
            "list_hosted_zones": zone_pages,
            "list_resource_record_sets": record_sets,
            "list_health_checks": [{"HealthChecks": CHECKS[:1], "IsTruncated": False, "MaxItems": "100"}],
        }
    )
    recorder = AwsCallRecorder()
    snap = run_fetch(
        route53.fetch,
        ReplayClients({("route53", "us-east-1"): client}, ("us-east-1",)),
        "us-east-1",
        target(),
        recorder,
        4,
    )
    assert snap.failures == {}
    assert [z.id for z in snap.zones] == [ZONE, PRIVATE_ZONE]
    assert snap.zones[1].private is True
    assert isinstance(snap.zones[0].records, Found) and len(snap.zones[0].records.value) == len(
        PUBLIC_RECORDS
    )
    assert ("list_hosted_zones", {"Marker": "m2"}) in client.requests
    assert len(route53.record_ttl(snap)) == len(PUBLIC_RECORDS) + 1
    assert len([c for c in recorder.calls if c.operation == "list_resource_record_sets"]) == 3


@pytest.mark.parametrize("denied_everywhere", [True, False])
def test_fetch_sorts_record_set_failures(denied_everywhere: bool) -> None:
    def record_sets(HostedZoneId: str, **_: Any) -> dict[str, Any]:
        if denied_everywhere or HostedZoneId == PRIVATE_ZONE:
            raise client_error("ListResourceRecordSets", "AccessDenied", 403)
        return {"ResourceRecordSets": PUBLIC_RECORDS, "IsTruncated": False}

    client = ReplayClient(
        {
            "list_hosted_zones": [
                {
                    "HostedZones": [
                        {"Id": f"/hostedzone/{ZONE}", "Name": "a."},
                        {"Id": f"/hostedzone/{PRIVATE_ZONE}", "Name": "b."},
                    ],
                    "IsTruncated": False,
                }
            ],
            "list_resource_record_sets": record_sets,
            "list_health_checks": [{"HealthChecks": [], "IsTruncated": False}],
        }
    )
    snap = run_fetch(
        route53.fetch,
        ReplayClients({("route53", "us-east-1"): client}, ("us-east-1",)),
        "us-east-1",
        target(),
        AwsCallRecorder(),
        2,
    )
    if denied_everywhere:
        # Denied for every zone: each zone an error row, the record an error naming the permission.
        assert snap.per_resource_failures[LIST_RECORD_SETS.key].permission == "route53:ListResourceRecordSets"
    else:
        assert LIST_RECORD_SETS.key not in snap.per_resource_failures
        rows = by_resource(route53.record_ttl(snap))
        assert rows[PRIVATE_ZONE]["status"] == "error"


def test_fetch_records_a_denied_zone_listing() -> None:
    client = ReplayClient(
        {
            "list_hosted_zones": [client_error("ListHostedZones", "AccessDenied", 403)],
            "list_health_checks": [{"HealthChecks": [], "IsTruncated": False}],
        }
    )
    snap = run_fetch(
        route53.fetch,
        ReplayClients({("route53", "us-east-1"): client}, ("us-east-1",)),
        "us-east-1",
        target(),
        AwsCallRecorder(),
        2,
    )
    assert snap.failures[LIST_HOSTED_ZONES.key].code == "AccessDenied"
    assert route53.record_ttl(snap) == []
    # Health checks are still judged: which records they back is then unknown.
    (row,) = route53.health_checks(snap)
    assert row["resource"] == ACCOUNT and row["backs_records"] is None

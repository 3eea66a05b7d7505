"""EC2 security group ingress open to the internet, fed recorded responses."""

from __future__ import annotations

from typing import Any

import pytest

from collectors.aws import ec2
from collectors.aws.client import AwsCallRecorder
from collectors.aws.ec2 import DESCRIBE_SECURITY_GROUPS, Ec2Snapshot
from collectors.core import Found, Outcome
from tests.support.recorded_aws import (
    OBSERVED_AT,
    ReplayClient,
    ReplayClients,
    client_error,
    denied,
    judge,
    run_fetch,
    target,
)

REGION = "us-west-2"
TYPE = "aws.ec2.security_group_open_ingress"


def rule(
    protocol: str,
    from_port: int | None = None,
    to_port: int | None = None,
    *,
    v4: Any = (),
    v6: Any = (),
    groups: Any = (),
    prefix_lists: Any = (),
) -> dict[str, Any]:
    permission: dict[str, Any] = {
        "IpProtocol": protocol,
        "IpRanges": [{"CidrIp": c} for c in v4],
        "Ipv6Ranges": [{"CidrIpv6": c} for c in v6],
        "UserIdGroupPairs": [{"GroupId": g, "UserId": "123456789012"} for g in groups],
        "PrefixListIds": [{"PrefixListId": p} for p in prefix_lists],
    }
    if from_port is not None:
        permission["FromPort"], permission["ToPort"] = from_port, to_port
    return permission


def sg(group_id: str, *permissions: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    return {
        "GroupId": group_id,
        "GroupName": name or group_id,
        "Description": "test",
        "VpcId": "vpc-0a1b2c3d",
        "OwnerId": "123456789012",
        "IpPermissions": list(permissions),
        "IpPermissionsEgress": [rule("-1", v4=["0.0.0.0/0"])],
    }


def rows_of(outcome: Outcome) -> dict[str, dict[str, Any]]:
    snap = Ec2Snapshot(target=target(REGION), observed_at=OBSERVED_AT, region=REGION, security_groups=outcome)
    return {row["resource"]: row for row in ec2.security_group_open_ingress(snap)}


WORLD = ["0.0.0.0/0"]
WORLD6 = ["::/0"]


@pytest.mark.parametrize(
    ("permission", "expected"),
    [
        (rule("tcp", 22, 22, v4=WORLD), "tcp 22 from 0.0.0.0/0"),
        (rule("tcp", 3389, 3389, v6=WORLD6), "tcp 3389 from ::/0"),
        (rule("-1", v4=WORLD), "all traffic from 0.0.0.0/0"),
        (rule("tcp", 0, 65535, v4=WORLD), "tcp all ports from 0.0.0.0/0"),
        (rule("tcp", 80, 443, v4=WORLD), "tcp 80-443 from 0.0.0.0/0"),
        (rule("udp", 80, 80, v4=WORLD), "udp 80 from 0.0.0.0/0"),
        (rule("6", 5432, 5432, v4=WORLD), "tcp 5432 from 0.0.0.0/0"),
        (rule("icmp", -1, -1, v4=WORLD), "icmp all types from 0.0.0.0/0"),
        (rule("icmp", 8, -1, v4=WORLD), "icmp type 8 from 0.0.0.0/0"),
        (rule("50", v4=WORLD), "protocol 50 from 0.0.0.0/0"),
        (rule("tcp", 22, 22, v4=["10.0.0.0/0"]), "tcp 22 from 10.0.0.0/0"),  # still /0: the world
    ],
)
def test_world_open_rules_fail_and_are_named(permission: dict[str, Any], expected: str) -> None:
    row = rows_of(Found([sg("sg-bad", permission)]))["sg-bad"]
    assert row["status"] == "fail" and row["open_rule_count"] == 1
    assert row["open_rules"] == expected and expected in row["reason"]
    assert judge(TYPE, [row]) == ([], False)


def test_web_ports_pmtud_and_internal_sources_pass() -> None:
    group = sg(
        "sg-web",
        rule("tcp", 80, 80, v4=WORLD, v6=WORLD6),
        rule("tcp", 443, 443, v4=WORLD, v6=WORLD6),
        rule("udp", 443, 443, v4=WORLD),  # HTTP/3
        rule("icmp", 3, 4, v4=WORLD),  # path-MTU discovery
        rule("58", 2, 0, v6=WORLD6),  # ICMPv6 packet too big
        rule("tcp", 22, 22, v4=["203.0.113.0/24"]),
        rule("tcp", 5432, 5432, groups=["sg-app"]),
        rule("tcp", 443, 443, prefix_lists=["pl-0123"]),
    )
    row = rows_of(Found([group]))["sg-web"]
    assert row["status"] == "pass" and row["open_rule_count"] == 0 and row["open_rules"] == ""
    assert "tcp 443 from ::/0" in row["world_web_rules"] and "icmpv6 type 2" in row["world_web_rules"]
    assert judge(TYPE, [row]) == ([], True)


def test_group_without_ingress_passes() -> None:
    row = rows_of(Found([sg("sg-empty")]))["sg-empty"]
    assert row["status"] == "pass" and row["reason"] == "nothing open to the internet"


def test_many_offending_rules_are_all_listed_and_the_reason_is_bounded() -> None:
    ports = [rule("tcp", p, p, v4=WORLD) for p in (21, 22, 23, 25, 3306, 5432, 6379)]
    row = rows_of(Found([sg("sg-wide", *ports)]))["sg-wide"]
    assert row["open_rule_count"] == 7 and row["open_rules"].count(";") == 6
    assert row["reason"].endswith("and 2 more")


def test_malformed_cidr_is_not_taken_for_the_world() -> None:
    row = rows_of(Found([sg("sg-odd", rule("tcp", 22, 22, v4=["not-a-cidr"]))]))["sg-odd"]
    assert row["status"] == "pass"


def test_unreadable_listing_yields_no_rows() -> None:
    assert rows_of(denied(DESCRIBE_SECURITY_GROUPS)) == {}


def test_fetch_follows_next_token() -> None:
    client = ReplayClient(
        {
            "describe_security_groups": [
                {"SecurityGroups": [sg("sg-1")], "NextToken": "t2"},
                {"SecurityGroups": [sg("sg-2", rule("tcp", 22, 22, v4=WORLD))]},
            ]
        }
    )
    snap = run_fetch(
        ec2.fetch,
        ReplayClients({("ec2", REGION): client}, (REGION,)),
        REGION,
        target(REGION),
        AwsCallRecorder(),
        2,
    )
    assert client.requests[1] == ("describe_security_groups", {"MaxResults": 1000, "NextToken": "t2"})
    statuses = {r["resource"]: r["status"] for r in ec2.security_group_open_ingress(snap)}
    assert statuses == {"sg-1": "pass", "sg-2": "fail"}


def test_fetch_records_a_denied_listing() -> None:
    client = ReplayClient(
        {"describe_security_groups": [client_error("DescribeSecurityGroups", "UnauthorizedOperation", 403)]}
    )
    snap = run_fetch(
        ec2.fetch,
        ReplayClients({("ec2", REGION): client}, (REGION,)),
        REGION,
        target(REGION),
        AwsCallRecorder(),
        2,
    )
    assert snap.failures[DESCRIBE_SECURITY_GROUPS.key].permission == "ec2:DescribeSecurityGroups"

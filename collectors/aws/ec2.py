"""EC2 security groups: nothing is reachable from the whole internet except the web ports.

``fetch`` lists every security group of the region once; the evidence type below is a pure function of
that snapshot. Only the rules' CIDR sources are judged: a rule whose source is a managed prefix list
or another security group does not open the group to the world by itself.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from collectors.aws.client import AwsCallRecorder
from collectors.aws.family import AWS, AwsTarget
from collectors.core import Failed, Found, Outcome, Snapshot
from collectors.core.family import FetchContext
from evidence.registry import ApiPermission, Row

COLLECTOR = "aws.ec2"

DESCRIBE_SECURITY_GROUPS = ApiPermission("ec2", "describe_security_groups", "ec2:DescribeSecurityGroups")

# The only ports a public web tier needs from anywhere: HTTP (to redirect to HTTPS) and HTTPS, TCP,
# plus UDP 443 for HTTP/3 (QUIC). Everything else (SSH, RDP, databases, admin consoles) must be
# reachable only from known networks.
WORLD_OPEN_PORTS = frozenset({("tcp", 80), ("tcp", 443), ("udp", 443)})
# ICMP has no ports. The one message that must reach hosts from anywhere is path-MTU discovery
# ("fragmentation needed", IPv4 type 3 code 4; "packet too big", ICMPv6 type 2): AWS's documentation
# asks for exactly this rule, and blocking it breaks large transfers. Any other ICMP from the world fails.
PMTUD_ICMP = frozenset({("icmp", 3, 4), ("icmpv6", 2, None)})
PROTOCOL_NAMES = {"-1": "all", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}
# How many offending rules a row's reason names (open_rules always lists them all).
MAX_NAMED_RULES = 5


@dataclass
class Ec2Snapshot(Snapshot):
    region: str = ""
    security_groups: Outcome | None = None  # Found(list of security groups)


def fetch(ctx: FetchContext[AwsTarget]) -> Ec2Snapshot:
    clients, region = ctx.connection.clients, ctx.connection.region
    recorder: AwsCallRecorder = ctx.recorder
    snapshot = Ec2Snapshot(target=ctx.target, observed_at=ctx.observed_at, region=region)
    client = clients.client("ec2", region)
    snapshot.security_groups = recorder.paginate(
        client, DESCRIBE_SECURITY_GROUPS, region, "SecurityGroups", MaxResults=1000
    )
    if isinstance(snapshot.security_groups, Failed):
        snapshot.fail(DESCRIBE_SECURITY_GROUPS, snapshot.security_groups.error)
    return snapshot


SERVICE = AWS.source(COLLECTOR, scope="regional")(fetch)


# ---------------------------------------------------------------------------------------------------
# Pure mapping: snapshot -> rows.


def _is_world(cidr: str | None) -> bool:
    if not cidr:
        return False
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


def _describe(protocol: str, from_port: Any, to_port: Any) -> str:
    if protocol == "all":
        return "all traffic"
    if protocol in ("icmp", "icmpv6"):
        kind = "all types" if from_port in (None, -1) else f"type {from_port}"
        code = "" if to_port in (None, -1) or from_port in (None, -1) else f" code {to_port}"
        return f"{protocol} {kind}{code}"
    if protocol not in ("tcp", "udp"):
        return f"protocol {protocol}"  # ESP, GRE...: no ports
    if from_port is None or to_port is None:
        return f"{protocol} all ports"
    if (from_port, to_port) in ((0, 65535), (-1, -1)):
        return f"{protocol} all ports"
    return f"{protocol} {from_port}" if from_port == to_port else f"{protocol} {from_port}-{to_port}"


def _allowed(protocol: str, from_port: Any, to_port: Any) -> bool:
    if protocol in ("tcp", "udp"):
        return from_port == to_port and (protocol, from_port) in WORLD_OPEN_PORTS
    if protocol == "icmp":
        return (protocol, from_port, to_port) in PMTUD_ICMP
    if protocol == "icmpv6":
        return (protocol, from_port, None) in PMTUD_ICMP
    return False  # all traffic, or a protocol without ports (ESP, GRE...)


def world_ingress(group: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(offending rules, allowed web rules) among the ingress rules open to 0.0.0.0/0 or ::/0."""
    offending: list[str] = []
    allowed: list[str] = []
    for permission in group.get("IpPermissions") or []:
        raw = str(permission.get("IpProtocol", "-1")).lower()
        protocol = PROTOCOL_NAMES.get(raw, raw)
        from_port, to_port = permission.get("FromPort"), permission.get("ToPort")
        sources = [r.get("CidrIp") for r in permission.get("IpRanges") or []]
        sources += [r.get("CidrIpv6") for r in permission.get("Ipv6Ranges") or []]
        for source in sources:
            if not _is_world(source):
                continue
            text = f"{_describe(protocol, from_port, to_port)} from {source}"
            (allowed if _allowed(protocol, from_port, to_port) else offending).append(text)
    return offending, allowed


@SERVICE.evidence_type(
    "aws.ec2.security_group_open_ingress",
    title="No security group admits traffic from anywhere (0.0.0.0/0, ::/0) except on ports 80 and 443",
    api_calls=(DESCRIBE_SECURITY_GROUPS,),
    resource_kind="security group",
)
def security_group_open_ingress(snapshot: Ec2Snapshot) -> list[Row]:
    if not isinstance(snapshot.security_groups, Found):
        return []  # the failure is recorded for the whole type (snapshot.failures)
    rows: list[Row] = []
    for group in snapshot.security_groups.value:
        offending, allowed = world_ingress(group)
        fields = {
            "group_name": group.get("GroupName"),
            "vpc_id": group.get("VpcId"),
            "open_rule_count": len(offending),
            "open_rules": "; ".join(offending),
            "world_web_rules": "; ".join(allowed),
        }
        if offending:
            named = "; ".join(offending[:MAX_NAMED_RULES])
            if len(offending) > MAX_NAMED_RULES:
                named += f"; and {len(offending) - MAX_NAMED_RULES} more"
            status, reason = "fail", f"open to the internet: {named}"
        elif allowed:
            status, reason = "pass", f"only web ports open to the internet: {'; '.join(allowed)}"
        else:
            status, reason = "pass", "nothing open to the internet"
        rows.append(
            {
                "resource": str(group.get("GroupId")),
                "region": snapshot.region,
                "status": status,
                "reason": reason,
                **fields,
            }
        )
    return rows

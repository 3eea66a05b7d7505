"""Sample security groups: web-only exposure, internal-only access, and groups open to the world."""

from __future__ import annotations

from typing import Any

from collectors.aws.demo import Expectations, Expected

WORLD4 = [{"CidrIp": "0.0.0.0/0"}]
WORLD6 = [{"CidrIpv6": "::/0"}]


def seed(session: Any, regions: tuple[str, ...]) -> Expectations:
    home = regions[0]
    ec2 = session.client("ec2", home)
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]

    def group(name: str, *permissions: dict[str, Any]) -> str:
        group_id = str(
            ec2.create_security_group(GroupName=name, Description=f"demo {name}", VpcId=vpc)["GroupId"]
        )
        if permissions:
            ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=list(permissions))
        return group_id

    def tcp(from_port: int, to_port: int, v4: Any = WORLD4, v6: Any = ()) -> dict[str, Any]:
        return {
            "IpProtocol": "tcp",
            "FromPort": from_port,
            "ToPort": to_port,
            "IpRanges": list(v4),
            "Ipv6Ranges": list(v6),
        }

    web = group(
        "demo-web-public",
        tcp(80, 80, WORLD4, WORLD6),
        tcp(443, 443, WORLD4, WORLD6),
        # Path-MTU discovery ("fragmentation needed"), as AWS's documentation asks.
        {"IpProtocol": "icmp", "FromPort": 3, "ToPort": 4, "IpRanges": WORLD4},
    )
    internal = group(
        "demo-db-internal",
        tcp(5432, 5432, [{"CidrIp": "10.0.0.0/16"}]),
        tcp(22, 22, [{"CidrIp": "203.0.113.0/24", "Description": "office"}]),
    )
    ssh_open = group("demo-ssh-open", tcp(22, 22))
    all_v6 = group("demo-all-traffic-v6", {"IpProtocol": "-1", "Ipv6Ranges": WORLD6})
    port_range = group("demo-port-range", tcp(80, 443))
    return {
        "aws.ec2.security_group_open_ingress": Expected(
            passing={web, internal}, failing={ssh_open, all_v6, port_range}
        )
    }

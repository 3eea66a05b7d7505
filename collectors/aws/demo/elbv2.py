"""Sample ELBv2 estate: target groups with and without working health checks."""

from __future__ import annotations

from typing import Any

from collectors.aws.demo import Expectations, Expected


def seed(session: Any, regions: tuple[str, ...]) -> Expectations:
    home = regions[0]
    elb = session.client("elbv2", home)
    ec2 = session.client("ec2", home)
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]

    def group(name: str, **params: Any) -> str:
        return str(elb.create_target_group(Name=name, **params)["TargetGroups"][0]["TargetGroupArn"])

    web = group(
        "demo-web",
        Protocol="HTTP",
        Port=8080,
        VpcId=vpc,
        HealthCheckProtocol="HTTP",
        HealthCheckPath="/healthz",
        HealthCheckIntervalSeconds=15,
        Matcher={"HttpCode": "200"},
    )
    tls = group("demo-tls-passthrough", Protocol="TCP", Port=443, VpcId=vpc, HealthCheckProtocol="TCP")
    switched_off = group("demo-no-health-check", Protocol="HTTP", Port=80, VpcId=vpc)
    elb.modify_target_group(TargetGroupArn=switched_off, HealthCheckEnabled=False)
    # Lambda target groups have health checks off unless asked for.
    lambda_group = group("demo-lambda", TargetType="lambda")
    # A running instance behind the healthy group, so target health is part of the evidence.
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    elb.register_targets(TargetGroupArn=web, Targets=[{"Id": instance, "Port": 8080}])
    return {
        "aws.elbv2.target_group_health_checks": Expected(
            passing={web, tls}, failing={switched_off, lambda_group}
        )
    }

"""A sample AWS estate for the demo and the tests: compliant and non-compliant resources for every
check, seeded into an emulator (moto server). Never point this at a real account.

Each service module has ``seed(session, regions) -> Expected`` where Expected maps an evidence type to
the resources that must pass and must fail, so tests can assert that every non-compliant resource
yields a failing record that names it and nothing compliant fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Expected:
    passing: set[str] = field(default_factory=set)
    failing: set[str] = field(default_factory=set)
    # The emulator lacks an API call this type needs ("service:operation"): every record must then be
    # an error naming that call, never a pass or a fail.
    unsupported_call: str | None = None


Expectations = dict[str, Expected]
Seeder = Callable[[Any, tuple[str, ...]], Expectations]


def _seeders() -> dict[str, Seeder]:
    from collectors.aws.demo import (
        acm,
        backup,
        budgets,
        cloudfront,
        cloudtrail,
        cloudwatch,
        ec2,
        elbv2,
        iam,
        kms,
        logs,
        rds,
        recovery,
        route53,
        s3,
        secretsmanager,
        wafv2,
    )

    return {
        "aws.s3": s3.seed,
        "aws.route53": route53.seed,
        "aws.elbv2": elbv2.seed,
        "aws.cloudwatch": cloudwatch.seed,
        "aws.logs": logs.seed,
        "aws.ec2": ec2.seed,
        "aws.wafv2": wafv2.seed,
        "aws.cloudfront": cloudfront.seed,
        "aws.budgets": budgets.seed,
        "aws.rds": rds.seed,
        "aws.backup": backup.seed,
        "aws.acm": acm.seed,
        "aws.cloudtrail": cloudtrail.seed,
        "aws.iam": iam.seed,
        "aws.kms": kms.seed,
        "aws.secretsmanager": secretsmanager.seed,
        "aws.recovery": recovery.seed,
    }


def seed_estate(
    endpoint_url: str,
    regions: tuple[str, ...] = ("us-east-1", "eu-west-1"),
    services: list[str] | None = None,
) -> Expectations:
    """Seed every (or the named) service's sample resources into the emulator at ``endpoint_url``."""
    import boto3

    # Emulators speak plain HTTP on loopback or a compose network; real AWS is HTTPS on amazonaws.com.
    host = endpoint_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    if not endpoint_url.startswith("http://") or host.endswith(("amazonaws.com", "amazonaws.com.cn")):
        raise ValueError(f"refusing to seed a demo estate anywhere but a local emulator: {endpoint_url}")
    session = boto3.Session(aws_access_key_id="demo", aws_secret_access_key="demo", region_name=regions[0])
    expectations: Expectations = {}
    for name, seeder in _seeders().items():
        if services is None or name in services:
            expectations.update(seeder(_EndpointSession(session, endpoint_url), regions))
    return expectations


class _EndpointSession:
    """A boto3 session whose clients all talk to the emulator."""

    def __init__(self, session: Any, endpoint_url: str) -> None:
        self._session = session
        self.endpoint_url = endpoint_url

    def client(self, service: str, region: str | None = None) -> Any:
        from collectors.aws.client import pin_endpoint

        client = self._session.client(
            service, region_name=region or self._session.region_name, endpoint_url=self.endpoint_url
        )
        pin_endpoint(client, self.endpoint_url)
        return client

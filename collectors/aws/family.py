"""The AWS collector family: one source per AWS service, collected per account x region.

A unit is one service in one account and region (global services such as IAM or S3 once per
account). ``connect`` resolves the account id with ``sts:GetCallerIdentity`` (the target's name);
bad credentials there make every evidence type of the unit an ``error`` record.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from collectors.aws.client import AWS_CONNECTION, AwsAccount, AwsCallRecorder, AwsClients, AwsConfig
from collectors.aws.policy import IamPermissions
from collectors.core.family import Family, TargetUnavailable
from evidence.errors import CollectionError
from evidence.family import DemoEstate, EventRejected, Unit
from evidence.records import SourceError

GLOBAL_REGION = "global"

SERVICE_MODULES = (
    "acm",
    "backup",
    "budgets",
    "cloudfront",
    "cloudtrail",
    "cloudwatch",
    "ec2",
    "elbv2",
    "iam",
    "kms",
    "logs",
    "rds",
    "recovery",
    "route53",
    "s3",
    "secretsmanager",
    "wafv2",
)


@dataclass(frozen=True)
class AwsTarget:
    """What a fetch gets as its connection: the account's clients and the region calls go to."""

    clients: AwsClients
    region: str  # for global services, the first configured region (where their endpoint is)


@dataclass
class AwsRun:
    """One collection's state: a client factory per account (clients and the account id are cached)."""

    config: AwsConfig
    clients: dict[str, AwsClients] = field(default_factory=dict)

    @property
    def concurrency(self) -> int:
        return self.config.concurrency


class AwsFamily(Family[AwsTarget]):
    name = "aws"
    title = "Amazon Web Services"
    connection = AWS_CONNECTION
    permission_model = IamPermissions()
    modules = tuple(f"collectors.aws.{m}" for m in SERVICE_MODULES)
    framework_permissions = ("sts:GetCallerIdentity",)

    def configure(self, settings: Mapping[str, Any]) -> AwsConfig:
        return AwsConfig.from_mapping(settings)

    def plan(
        self,
        config: AwsConfig,
        *,
        sources: Collection[str] | None = None,
        types: Collection[str] | None = None,
    ) -> list[Unit]:
        chosen, only = self.resolve_sources(sources, types)
        units = []
        for account in config.accounts:
            for source in chosen:
                regions = [GLOBAL_REGION] if source.scope == "global" else list(config.regions)
                for region in regions:
                    scope = (("account", account.name), ("region", region))
                    own = tuple(t for t in only if t.startswith(source.name + "."))
                    units.append(Unit(family=self.name, source=source.name, scope=scope, types=own))
        return units

    def open(self, config: AwsConfig) -> AwsRun:
        return AwsRun(config, {a.name: AwsClients(config, account=a) for a in config.accounts})

    def recorder(self) -> AwsCallRecorder:
        return AwsCallRecorder()

    def connect(self, opened: AwsRun, unit: Unit, recorder: Any) -> tuple[AwsTarget, dict[str, str]]:
        scope = unit.scope_dict
        account_name, region = scope["account"], scope["region"]
        clients = opened.clients.get(account_name)
        if clients is None:  # a unit planned for an account this configuration does not name
            account = AwsAccount(name=account_name, role_arn=account_name if ":" in account_name else None)
            clients = opened.clients.setdefault(account_name, AwsClients(opened.config, account=account))
        try:
            account_id = clients.account_id(recorder)
        except CollectionError as exc:
            error = SourceError(
                code=exc.code,
                message=exc.message,
                permission=exc.permission,
                operation="sts:get_caller_identity",
            )
            raise TargetUnavailable({"account": account_name, "region": region}, error) from exc
        call_region = opened.config.regions[0] if region == GLOBAL_REGION else region
        return AwsTarget(clients, call_region), {"account": account_id, "region": region}

    def demo(self) -> AbstractContextManager[DemoEstate]:
        return _demo_estate()

    def claims(self, event: Mapping[str, Any]) -> bool:
        from collectors.aws.events import is_eventbridge

        return super().claims(event) or is_eventbridge(event)

    def units_for_event(self, config: AwsConfig, event: Mapping[str, Any]) -> list[Unit]:
        """The neutral event shape, or an EventBridge event from AWS Config / AWS Backup: the types
        it concerns, in the account and region it names, for exactly the resource it names."""
        from collectors.aws.events import is_eventbridge, request_for

        if not is_eventbridge(event):
            return super().units_for_event(config, event)
        request = request_for(event)
        units = self.plan(config, sources=request.sources, types=request.types or None)
        chosen = []
        for unit in units:
            scope = unit.scope_dict
            region_ok = scope["region"] == GLOBAL_REGION or request.region in (None, scope["region"])
            account_ok = (
                request.account_id is None
                or len(config.accounts) == 1
                or request.account_id in scope["account"]
            )
            if region_ok and account_ok:
                chosen.append(replace(unit, resources=request.resources))
        if not chosen:
            raise EventRejected(
                f"no configured AWS account/region matches the event's {request.account_id}/{request.region}"
            )
        return chosen


@contextmanager
def _demo_estate(regions: tuple[str, ...] = ("us-east-1", "eu-west-1")) -> Iterator[DemoEstate]:
    """A moto server on loopback seeded with compliant and non-compliant resources for every check."""
    import os

    from collectors.aws.demo import seed_estate
    from collectors.aws.demo.emulator import MotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "demo")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "demo")
    with MotoServer() as emulator:
        expectations = seed_estate(emulator.url, regions)
        yield DemoEstate(
            settings={"endpoint_url": emulator.url, "regions": list(regions)},
            description=f"AWS emulator (moto server) on {emulator.url}, estate in {', '.join(regions)}",
            extra={"expectations": expectations, "endpoint_url": emulator.url},
        )


AWS = AwsFamily()

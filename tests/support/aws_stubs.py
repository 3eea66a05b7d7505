"""botocore-stubbed clients for unit tests of the AWS collectors' fetch step and the runner (the
recorded outcomes and the schema/GX agreement check live in ``recorded_aws``).

``Stubber`` is botocore's own stand-in for AWS: it checks every request against the service model and
every queued response against its output shape, so the collector's real calls, pagination and error
sorting run against it. It replaces AWS (which cannot run here), never our code.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from collectors.aws.client import AwsCallRecorder, AwsConfig
from collectors.aws.family import AWS, AwsRun
from collectors.core.family import Source
from collectors.core.runner import collect_unit
from evidence.family import Unit
from evidence.records import PreparedRecord, RunContext
from tests.support.recorded_aws import ACCOUNT, OBSERVED_AT, denied, judge, target


class StubbedClients:
    """The ``AwsClients`` surface the collectors and the runner use, with one botocore-stubbed client
    per (service, region). Concurrency 1, so queued answers are consumed in call order."""

    def __init__(self, regions: tuple[str, ...] = ("us-east-1",)) -> None:
        self.config = AwsConfig(regions=regions, concurrency=1, max_retries=1)
        self._clients: dict[tuple[str, str], Any] = {}
        self._stubbers: dict[tuple[str, str], Any] = {}

    def _make(self, service: str, region: str) -> None:
        import boto3
        from botocore.config import Config
        from botocore.stub import Stubber

        session = boto3.Session(aws_access_key_id="unit", aws_secret_access_key="unit", region_name=region)
        # One attempt: a stubbed throttling answer must not be retried into the next queued answer.
        client = session.client(service, region_name=region, config=Config(retries={"max_attempts": 1}))
        stubber = Stubber(client)
        stubber.activate()
        self._clients[(service, region)] = client
        self._stubbers[(service, region)] = stubber

    def stub(self, service: str, region: str) -> Any:
        if (service, region) not in self._stubbers:
            self._make(service, region)
        return self._stubbers[(service, region)]

    def client(self, service: str, region: str) -> Any:
        self.stub(service, region)
        return self._clients[(service, region)]

    def account_id(self, recorder: AwsCallRecorder | None = None) -> str:
        return ACCOUNT

    def assert_all_answered(self) -> None:
        for stubber in self._stubbers.values():
            stubber.assert_no_pending_responses()


def collect_records(
    clients: StubbedClients, service: Source, region: str, *, run_gx: bool = True
) -> dict[str, PreparedRecord]:
    """Run one (account, service, region) unit through the real collect loop: type id -> record."""
    target_region = "global" if service.scope == "global" else region
    regions = (region, *(r for r in clients.config.regions if r != region))
    opened = AwsRun(replace(clients.config, regions=regions), {"default": clients})  # type: ignore[dict-item]
    unit = Unit(AWS.name, service.name, (("account", "default"), ("region", target_region)))
    records = collect_unit(AWS, opened, unit, RunContext(run_id="unit"), run_gx=run_gx)
    return {r.draft.evidence_type: r for r in records}


def payload_rows(record: PreparedRecord) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(record.payload)["rows"]
    return rows


__all__ = [
    "ACCOUNT",
    "OBSERVED_AT",
    "StubbedClients",
    "collect_records",
    "denied",
    "judge",
    "payload_rows",
    "target",
]

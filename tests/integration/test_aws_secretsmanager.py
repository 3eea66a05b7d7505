"""Secrets never land in evidence: seed secrets with sentinel values into a moto server, collect, and
look for the values in every byte the collection produces (payload, attachments, record, call log)."""

from __future__ import annotations

import json

import pytest

from collectors.aws.client import AwsConfig
from collectors.aws.demo import seed_estate
from collectors.aws.demo.secretsmanager import SECRET_VALUES
from evidence.records import RunContext
from tests.support.aws_family import collect
from tests.support.servers import MotoServer

pytestmark = pytest.mark.integration

REGIONS = ("us-east-1", "eu-west-1")
MINE = ["aws.acm", "aws.cloudtrail", "aws.iam", "aws.kms", "aws.secretsmanager"]


def test_no_secret_value_appears_in_any_payload_row_or_provenance(moto: MotoServer) -> None:
    moto.reset()
    expected = seed_estate(moto.url, REGIONS, services=["aws.secretsmanager"])
    records = collect(
        AwsConfig(endpoint_url=moto.url, regions=REGIONS), RunContext(run_id="no-secrets"), service_names=MINE
    )
    secrets = [r for r in records if r.draft.evidence_type == "aws.secretsmanager.rotation"]
    assert len(secrets) == len(REGIONS)
    seeded = expected["aws.secretsmanager.rotation"]
    judged = {row["resource"] for r in secrets for row in json.loads(r.payload)["rows"]}
    assert judged == seeded.passing | seeded.failing  # the secrets were read (their metadata)
    everything = [r.payload for r in records]
    everything += [blob for r in records for blob in r.attachments.values()]  # call logs, GX results
    everything += [r.draft.model_dump_json().encode() for r in records]  # reasons, provenance
    for value in SECRET_VALUES:
        for blob in everything:
            assert value.encode() not in blob, f"secret value {value!r} leaked into evidence"
    calls = {(c.service, c.operation) for r in secrets for c in r.draft.provenance.api_calls}
    assert calls == {("secretsmanager", "list_secrets")}

"""Every AWS collector against the seeded sample estate on a moto server over HTTP.

The estate has compliant and non-compliant resources for every check. For every evidence type:
every non-compliant resource yields a failing row, and the record's reason names it; nothing
compliant fails; the payload passes its JSON Schema; the GX suite agrees with the rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import pytest

from collectors.aws.client import AwsConfig
from collectors.aws.demo import Expectations, seed_estate
from evidence import registry
from evidence.records import PreparedRecord, RunContext
from tests.support.aws_family import collect
from tests.support.servers import MotoServer

pytestmark = pytest.mark.integration

REGIONS = ("us-east-1", "eu-west-1")


@pytest.fixture(scope="module")
def estate(moto: MotoServer) -> Iterator[tuple[Expectations, dict[str, list[PreparedRecord]]]]:
    moto.reset()
    expectations = seed_estate(moto.url, REGIONS)
    records = collect(AwsConfig(endpoint_url=moto.url, regions=REGIONS), RunContext(run_id="estate-test"))
    by_type: dict[str, list[PreparedRecord]] = defaultdict(list)
    for record in records:
        by_type[record.draft.evidence_type].append(record)
    yield expectations, by_type


def _rows(records: list[PreparedRecord]) -> list[dict]:
    import json

    return [row for r in records for row in json.loads(r.payload)["rows"]]


def aws_types() -> list[str]:
    return sorted(t.id for t in registry.all_types() if t.id.startswith("aws."))


def test_every_aws_type_is_seeded(estate) -> None:
    expectations, _ = estate
    missing = set(aws_types()) - set(expectations)
    assert not missing, f"the sample estate seeds nothing for {sorted(missing)}"


@pytest.mark.parametrize("type_id", aws_types())
def test_findings_match_the_estate(estate, type_id: str) -> None:
    expectations, by_type = estate
    records = by_type[type_id]
    assert records, f"no record for {type_id}"
    expected = expectations[type_id]
    if expected.unsupported_call:
        # The emulator cannot serve a call this type needs: "could not collect", never pass or fail.
        for record in records:
            assert record.draft.status == "error", f"{type_id}: {record.draft.status}: {record.draft.reason}"
            assert record.draft.error is not None
            assert record.draft.error.operation == expected.unsupported_call, record.draft.error
        return
    for record in records:
        assert record.draft.status != "error", f"{type_id}: {record.draft.reason}"
        assert record.draft.validation.schema_valid, record.draft.validation.schema_errors
    rows = _rows(records)
    status_of = {row["resource"]: row["status"] for row in rows}
    for resource in expected.failing:
        assert status_of.get(resource) == "fail", (
            f"{type_id}: {resource} should fail, got {status_of.get(resource)}"
        )
    for resource in expected.passing:
        assert status_of.get(resource) == "pass", (
            f"{type_id}: {resource} should pass, got {status_of.get(resource)}"
        )
    failing_records = [r for r in records if any(row["status"] == "fail" for row in _rows([r]))]
    for record in failing_records:
        assert record.draft.status == "fail"
        failing_here = [row["resource"] for row in _rows([record]) if row["status"] == "fail"]
        if len(failing_here) <= 10:
            for resource in failing_here:
                assert resource in record.draft.reason, f"{type_id}: reason does not name {resource}"
        # GX agrees with the rows: a failing collection does not pass its suite.
        if record.draft.validation.gx is not None:
            assert not record.draft.validation.gx.success, f"{type_id}: GX passed a failing collection"
    for record in records:
        if record.draft.status == "pass" and record.draft.validation.gx is not None:
            assert record.draft.validation.gx.success, record.draft.validation.gx.failed_expectations


def test_records_carry_provenance(estate) -> None:
    _, by_type = estate
    record = by_type["aws.s3.bucket_encryption"][0]
    calls = {(c.service, c.operation) for c in record.draft.provenance.api_calls}
    assert ("s3", "list_buckets") in calls and ("s3", "get_bucket_encryption") in calls
    assert all(c.http_status in (200, 404) or c.error_code for c in record.draft.provenance.api_calls)
    assert any(a.role == "api-calls" for a in record.draft.attachments)
    assert record.draft.target["account"] == "123456789012"
    assert record.draft.period_start <= record.draft.period_end

"""The AWS records of the demo estate do not change under refactoring.

``tests/golden/aws_demo_records.json`` holds every record the demo estate gave before the collector
families moved onto the source-neutral contract, with ids, times and digests taken out
(``tests/support/golden.py``). A change to any status, reason, row, population, validation result,
control mapping or API call shows up here. Regenerate it only for an intended change of evidence:
``.venv/bin/python -m tests.support.golden > tests/golden/aws_demo_records.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collectors.aws import FAMILY
from collectors.aws.client import AwsConfig
from collectors.aws.demo import seed_estate
from collectors.core.runner import collect_all
from evidence import gx_process
from evidence.records import RunContext
from tests.support.golden import golden_form
from tests.support.servers import MotoServer

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "aws_demo_records.json"
REGIONS = ("us-east-1", "eu-west-1")


@pytest.mark.parametrize("gx_child", [False, True], ids=["gx-in-process", "gx-in-a-child"])
def test_demo_estate_records_are_unchanged(moto: MotoServer, gx_child: bool) -> None:
    """Also with GX suites run in a child process, as the CLI runs them (evidence.gx_process)."""
    moto.reset()
    seed_estate(moto.url, REGIONS)
    if gx_child:
        gx_process.enable()
    try:
        records = collect_all(
            FAMILY, AwsConfig(endpoint_url=moto.url, regions=REGIONS), RunContext(run_id="golden", host="h")
        )
        assert gx_process.running() is gx_child and gx_process.handed_back() == 0
    finally:
        gx_process.disable()
    expected = json.loads(GOLDEN.read_text())
    actual = json.loads(json.dumps(golden_form(records)))
    assert len(actual) == len(expected)
    for want, got in zip(expected, actual, strict=True):
        assert got == want, f"record for {want['draft']['evidence_type']} {want['draft']['target']} changed"

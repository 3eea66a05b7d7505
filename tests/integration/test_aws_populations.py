"""Every resource of a population gets a row, for every AWS evidence type (issue 13).

The sample estate is collected twice on the moto server: once as it is, and once with one resource's
read failing (AccessDenied) for every per-resource operation -- the first resource each operation
reads, whichever it is. A listing never fails here, so every population is known, and for every
evidence type:

- the same resources have rows (a failed read is an ``error`` row, never a missing one; rows a failed
  sub-listing hides, such as a user's access keys, are stood for by the parent's ``error`` row);
- every other row is judged as in the baseline, or is an ``error`` row (a row may depend on the
  failed resource), never silently changed;
- the record is ``error`` as a whole only when no row could be judged;
- a ``fail`` record with ``error`` rows names both in its reason.

Structural: it covers each mapper that judges a population, including ones added later, without a
per-mapper fixture (the bug it guards against: one Aurora cluster whose parameter group could not be
read turned ``aws.rds.force_ssl`` into a whole-record error and hid a readable instance).
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from collectors.aws import FAMILY
from collectors.aws.client import AwsCallRecorder, AwsConfig
from collectors.aws.demo import seed_estate
from collectors.core import Failed, Outcome
from evidence.records import PreparedRecord, RunContext, SourceError
from evidence.registry import ApiPermission
from tests.support.aws_family import collect
from tests.support.servers import MotoServer

pytestmark = pytest.mark.integration

REGIONS = ("us-east-1", "eu-west-1")
# Parameters that name one resource: a call carrying one reads that resource (not a listing).
IDENTIFIERS = frozenset(
    {
        "Bucket",
        "CertificateArn",
        "BackupPlanId",
        "KeyId",
        "BudgetName",
        "Name",
        "TrailName",
        "TargetGroupArn",
        "UserName",
        "AccessKeyId",
        "DBParameterGroupName",
        "DBClusterParameterGroupName",
        "HostedZoneId",
    }
)


class _Victims:
    """Per operation, the one resource whose reads fail: the first one read."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.chosen: dict[str, str] = {}

    def hit(self, api: ApiPermission, params: dict[str, Any]) -> bool:
        named = {k: str(v) for k, v in params.items() if k in IDENTIFIERS}
        if not named:
            return False
        identity = json.dumps(named, sort_keys=True)
        with self.lock:
            return self.chosen.setdefault(api.key, identity) == identity


VICTIMS = _Victims()


class OneResourceDenied(AwsCallRecorder):
    def call(self, client: Any, api: ApiPermission, region: str | None, **params: Any) -> Outcome:
        if VICTIMS.hit(api, params):
            return Failed(
                "access_denied",
                SourceError(
                    code="AccessDenied",
                    message="denied for this one resource (test)",
                    operation=api.key,
                    permission=api.permission,
                ),
            )
        return super().call(client, api, region, **params)


def _by_type(records: list[PreparedRecord]) -> dict[tuple[str, str], PreparedRecord]:
    return {(r.draft.evidence_type, json.dumps(r.draft.target, sort_keys=True)): r for r in records}


def _rows(record: PreparedRecord) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(record.payload)["rows"]
    return rows


@pytest.fixture(scope="module")
def runs(moto: MotoServer) -> Iterator[tuple[dict[Any, PreparedRecord], dict[Any, PreparedRecord]]]:
    moto.reset()
    seed_estate(moto.url, REGIONS)
    config = AwsConfig(endpoint_url=moto.url, regions=REGIONS)
    baseline = collect(config, RunContext(run_id="population-baseline"), run_gx=False)
    patch = pytest.MonkeyPatch()
    patch.setattr(FAMILY, "recorder", lambda: OneResourceDenied())
    try:
        denied = collect(config, RunContext(run_id="population-denied"), run_gx=False)
    finally:
        patch.undo()
    yield _by_type(baseline), _by_type(denied)


def test_some_reads_were_denied(runs) -> None:
    assert len(VICTIMS.chosen) >= 10, VICTIMS.chosen  # S3, RDS, IAM, KMS, ACM, backup, ... each lost one


def test_every_resource_keeps_its_row_and_the_others_are_judged(runs) -> None:
    baseline, denied = runs
    assert baseline.keys() == denied.keys()
    problems: dict[str, list[str]] = defaultdict(list)
    for key, before in baseline.items():
        after = denied[key]
        type_id = key[0]
        rows_before = {r["resource"]: r for r in _rows(before)}
        if before.draft.error is not None:
            continue  # the emulator cannot serve this type at all (see the estate test)
        rows_after = {r["resource"]: r for r in _rows(after)}
        vanished = set(rows_before) - set(rows_after)
        added = {r: rows_after[r] for r in set(rows_after) - set(rows_before)}
        # Rows may only be replaced by error rows of their parent (a user whose keys could not be
        # listed, a zone whose record sets could not be): the error row stands for what it hides.
        if (vanished and not added) or any(row["status"] != "error" for row in added.values()):
            problems[type_id].append(f"rows {sorted(rows_before)} became {sorted(rows_after)}")
            continue
        for resource, row in rows_after.items():
            if resource in added:
                continue
            if "pending validation" in str(rows_before[resource]["reason"]):
                continue  # moto issues a requested certificate after a while: it may between runs
            if row["status"] not in (rows_before[resource]["status"], "error"):
                problems[type_id].append(
                    f"{resource}: {rows_before[resource]['status']} became {row['status']} ({row['reason']})"
                )
        judged = [r for r in rows_after.values() if r["status"] != "error"]
        if judged and after.draft.error is not None:
            problems[type_id].append(f"whole-record error although {len(judged)} rows were judged")
        erroring = [r for r in rows_after.values() if r["status"] == "error"]
        if after.draft.status == "fail" and erroring and "could not read" not in after.draft.reason:
            problems[type_id].append(
                f"fail with error rows, reason names only the failures: {after.draft.reason}"
            )
    assert not problems, json.dumps(problems, indent=1)

"""Fault tests: the S3 collector against a moto server that throttles, fails, denies, garbles or is gone.

Faults are injected at the HTTP level (``tests/support/faults.py``: a proxy on loopback in front of
moto), so botocore's real retry logic runs. Revoked permissions use moto's IAM enforcement with
AWS's action names for S3 (``tests/support/moto_iam.py``). Each test's docstring says what it proves.

The rule under test (DESIGN.md): a collector that cannot read its source still produces a record with
status ``error`` and the source's reason, never a pass or a fail; and what it can read, it reads
completely. GX is off here (``run_gx=False``): statuses come from the rows, which these tests compare
byte for byte; the GX suites are exercised by ``test_aws_estate.py``.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from collectors.aws import FAMILY
from collectors.aws.client import AwsCallRecorder, AwsClients, AwsConfig
from collectors.aws.demo import Expectations, seed_estate
from collectors.core import Failed
from evidence import registry
from evidence.records import PreparedRecord, RunContext
from evidence.registry import ApiPermission
from tests.support.aws_family import collect
from tests.support.faults import FaultProxy, FaultRule
from tests.support.moto_iam import AwsIamMotoServer
from tests.support.servers import MotoServer, free_port

pytestmark = pytest.mark.integration

REGIONS = ("us-east-1", "eu-west-1")
S3_TYPES = sorted(t.id for t in registry.for_collector("aws.s3"))
ACCOUNT_TYPE = "aws.s3.account_public_access_block"
BUCKET_TYPES = [t for t in S3_TYPES if t != ACCOUNT_TYPE]
# A seed whose draws fault about a fifth of all requests with each of the three transient kinds.
FAULT_SEED = 4

Records = dict[str, PreparedRecord]


def collect_s3(config: AwsConfig, session: Any = None) -> Records:
    records = collect(
        config, RunContext(run_id="fault-test"), service_names=["aws.s3"], session=session, run_gx=False
    )
    by_type = {r.draft.evidence_type: r for r in records}
    assert len(by_type) == len(records) == len(S3_TYPES), [r.draft.evidence_type for r in records]
    return by_type


def rows(record: PreparedRecord) -> list[dict[str, Any]]:
    return json.loads(record.payload)["rows"]


def call_log(record: PreparedRecord) -> list[dict[str, Any]]:
    """The record's full API call log (the "api-calls" attachment): one entry per call made."""
    ref = next(a for a in record.draft.attachments if a.role == "api-calls")
    return json.loads(record.attachments[ref.sha256])


def all_calls(records: Records) -> list[dict[str, Any]]:
    """Every call behind a collection once (records share the listing calls)."""
    unique: dict[tuple[str, str, str], dict[str, Any]] = {}
    for record in records.values():
        for call in call_log(record):
            unique[(call["service"], call["operation"], json.dumps(call["params"], sort_keys=True))] = call
    return list(unique.values())


def assert_same_evidence(got: PreparedRecord, want: PreparedRecord) -> None:
    """Same payload bytes (every row), status, reason and population as the fault-free run."""
    assert got.draft.status == want.draft.status, (got.draft.evidence_type, got.draft.reason)
    assert got.draft.reason == want.draft.reason
    assert got.draft.population == want.draft.population
    assert got.payload == want.payload, got.draft.evidence_type


def assert_error_record(record: PreparedRecord, code: str) -> None:
    """An ``error`` record for the whole type: the source's code, no rows judged pass or fail. A failed
    listing leaves no rows; a per-resource read that failed for every resource leaves one ``error`` row
    per resource (the population stays complete), each naming the code."""
    draft = record.draft
    assert draft.status == "error", (draft.evidence_type, draft.status, draft.reason)
    assert code in draft.reason
    found = rows(record)
    if not found:
        assert draft.error is not None and draft.error.code == code, draft.error
        assert draft.validation.gx is None
    for row in found:
        assert row["status"] == "error" and code in row["reason"], row


@pytest.fixture(scope="module")
def estate(moto: MotoServer) -> tuple[MotoServer, Expectations, Records]:
    """The sample S3 estate on the shared moto server, and its fault-free collection (the baseline)."""
    moto.reset()
    expectations = seed_estate(moto.url, REGIONS, services=["aws.s3"])
    baseline = collect_s3(AwsConfig(endpoint_url=moto.url, regions=REGIONS))
    for type_id in S3_TYPES:
        assert baseline[type_id].draft.status in ("pass", "fail"), baseline[type_id].draft.reason
    return moto, expectations, baseline


# --------------------------------------------------------------------------- throttling, 5xx, retries


def test_transient_faults_still_give_complete_evidence(estate) -> None:
    """Proves: with a quarter of requests (at most two attempts in a row of the same call) answered by
    throttling (S3 SlowDown), 503 or 500, the default client configuration (adaptive retries, 8
    retries) recovers every call, so every record is identical
    (rows, status, reason, population) to the fault-free run; and every retry botocore made is in the
    records' call logs: as many retries as faults injected into the S3 calls."""
    moto, _, baseline = estate
    with FaultProxy(moto.url, rate=0.25, seed=FAULT_SEED) as proxy:
        got = collect_s3(AwsConfig(endpoint_url=proxy.url, regions=REGIONS))
    assert proxy.injected_total > 0
    assert set(proxy.injected) == {"throttle", "unavailable", "internal"}, proxy.injected
    for type_id in S3_TYPES:
        assert_same_evidence(got[type_id], baseline[type_id])

    calls = all_calls(got)
    assert len(calls) == len(all_calls(baseline))
    retried = [c for c in calls if c["attempts"] > 1]
    assert retried, "no call shows a retry in the call log"
    injected_into_s3 = sum(
        n for (name, _), n in proxy.injected_by_operation.items() if not name.startswith("sts:")
    )
    assert sum(c["attempts"] - 1 for c in calls) == injected_into_s3
    assert all(c["error_code"] is None or c["http_status"] == 404 for c in calls)
    # The per-record provenance summary adds the attempts up too.
    summary = [c for r in got.values() for c in r.draft.provenance.api_calls]
    assert any(c.attempts > c.count for c in summary)


EXHAUSTED = [
    pytest.param("s3:GetBucketEncryption", ["aws.s3.bucket_encryption"], id="one-per-bucket-call"),
    pytest.param("s3:ListBuckets", BUCKET_TYPES, id="the-bucket-listing"),
    pytest.param("s3control:GetPublicAccessBlock", [ACCOUNT_TYPE], id="the-account-setting"),
]


@pytest.mark.parametrize(("operation", "failing_types"), EXHAUSTED)
def test_throttling_past_the_retries_gives_error_records(estate, operation, failing_types) -> None:
    """Proves: when one operation is throttled on every attempt, the records that need it are ``error``
    naming the throttling code (SlowDown), with no rows judged and no permission blamed, the call log
    shows every attempt; every other record is still complete. (Standard retry mode with 2 retries
    keeps the test short; adaptive mode only adds client-side pacing to the same retry decisions.)"""
    moto, expectations, baseline = estate
    with FaultProxy(moto.url, rules=[FaultRule(operation, "throttle")]) as proxy:
        got = collect_s3(
            AwsConfig(endpoint_url=proxy.url, regions=REGIONS, retry_mode="standard", max_retries=2)
        )
    assert proxy.injected["throttle"] > 0 and set(proxy.injected) == {"throttle"}
    for type_id in failing_types:
        assert_error_record(got[type_id], "SlowDown")
        assert got[type_id].draft.error.permission is None
        assert "missing permission" not in got[type_id].draft.reason
        attempts = [c["attempts"] for c in call_log(got[type_id]) if c["error_code"] == "SlowDown"]
        assert attempts and set(attempts) == {3}, attempts  # the first try and two retries
    unaffected = set(S3_TYPES) - set(failing_types)
    if operation == "s3control:GetPublicAccessBlock":
        # The account's block is optional evidence for each bucket: buckets that block everything
        # themselves are still judged; the rest cannot be, and say why.
        unaffected.discard("aws.s3.public_access_block")
        bucket_block = got["aws.s3.public_access_block"]
        assert bucket_block.draft.status == "error"
        row_of = {row["resource"]: row for row in rows(bucket_block)}
        for bucket in expectations["aws.s3.public_access_block"].passing:
            assert row_of[bucket]["status"] == "pass"
        for bucket in expectations["aws.s3.public_access_block"].failing:
            assert row_of[bucket]["status"] == "error"
            assert "account setting unreadable" in row_of[bucket]["reason"]
            assert "SlowDown" in row_of[bucket]["reason"]
    if operation == "s3control:GetPublicAccessBlock":
        _public_policy_unjudged(got, expectations, "SlowDown")
        unaffected.discard(POLICY_PUBLIC)
    for type_id in unaffected:
        assert_same_evidence(got[type_id], baseline[type_id])


POLICY_PUBLIC = "aws.s3.bucket_policy_public"


def _public_policy_unjudged(got: Records, expectations: Expectations, cause: str) -> None:
    """A public bucket policy is neutralised only by a Block Public Access setting: with the account's
    unreadable, a bucket whose policy is public cannot be judged (an ``error`` row naming the cause);
    every other bucket is judged as before."""
    record = got[POLICY_PUBLIC]
    status_of = {row["resource"]: row for row in rows(record)}
    for bucket in expectations[POLICY_PUBLIC].passing:
        assert status_of[bucket]["status"] == "pass"
    for bucket in expectations[POLICY_PUBLIC].failing:
        assert status_of[bucket]["status"] in ("fail", "error")
        if status_of[bucket]["status"] == "error":
            assert cause in status_of[bucket]["reason"]


# The proxy's faults are AWS-shaped in every wire protocol the AWS collectors use: botocore retries
# them, and once retries are exhausted the call is sorted as throttled with the protocol's own code.
PROTOCOLS = [
    pytest.param("sts", "get_caller_identity", {}, "Throttling", id="query"),
    pytest.param("ec2", "describe_vpcs", {}, "RequestLimitExceeded", id="ec2"),
    pytest.param("kms", "list_keys", {}, "ThrottlingException", id="json"),
    pytest.param("cloudwatch", "describe_alarms", {}, "ThrottlingException", id="rpc-v2-cbor"),
    pytest.param("s3", "list_buckets", {}, "SlowDown", id="rest-xml-s3"),
    pytest.param("route53", "list_hosted_zones", {}, "Throttling", id="rest-xml"),
    pytest.param("backup", "list_backup_plans", {}, "ThrottlingException", id="rest-json"),
]


@pytest.mark.parametrize(("service", "operation", "params", "code"), PROTOCOLS)
def test_injected_throttling_is_retried_in_every_protocol(moto, service, operation, params, code) -> None:
    """Proves: in each wire protocol, the injected throttling answer is one botocore recognises: it
    retries it (2 attempts recorded with max_retries=1), and once retries are exhausted the call is
    Failed(throttled) with the service's own throttling code and no permission named."""
    api = ApiPermission(service, operation, f"{service}:{operation}")
    with FaultProxy(moto.url, rules=[FaultRule("*", "throttle")]) as proxy:
        clients = AwsClients(AwsConfig(endpoint_url=proxy.url, retry_mode="standard", max_retries=1))
        recorder = AwsCallRecorder()
        outcome = recorder.call(clients.client(service, "us-east-1"), api, "us-east-1", **params)
    assert isinstance(outcome, Failed), outcome
    assert (outcome.kind, outcome.error.code, outcome.error.permission) == ("throttled", code, None)
    assert [(c.attempts, c.error_code) for c in recorder.calls] == [(2, code)]
    assert proxy.injected == {"throttle": 2}


# --------------------------------------------------------------------------- malformed responses


@pytest.mark.parametrize("fault", ["truncate", "garble"])
def test_an_unreadable_answer_gives_error_records(estate, fault) -> None:
    """Proves: a 200 whose body is truncated or garbled is "could not read", never a finding. For S3,
    botocore treats an unparsable answer as a 500 and retries it; once retries are exhausted every
    bucket's row is ``error`` and so is the record, while the other records are complete."""
    moto, _, baseline = estate
    with FaultProxy(moto.url, rules=[FaultRule("s3:GetBucketEncryption", fault)]) as proxy:
        got = collect_s3(
            AwsConfig(endpoint_url=proxy.url, regions=REGIONS, retry_mode="standard", max_retries=1)
        )
    assert proxy.injected[fault] > 0
    encryption = got["aws.s3.bucket_encryption"]
    assert encryption.draft.status == "error", encryption.draft.reason
    assert encryption.draft.reason.startswith("could not read 6 of 6 buckets")
    assert {row["status"] for row in rows(encryption)} == {"error"}
    assert all(row["sse_algorithm"] is None for row in rows(encryption))
    for type_id in set(S3_TYPES) - {"aws.s3.bucket_encryption"}:
        assert_same_evidence(got[type_id], baseline[type_id])


@pytest.mark.parametrize("fault", ["truncate", "garble"])
def test_an_unparsable_identity_answer_gives_error_records(estate, fault) -> None:
    """Proves: botocore's ResponseParserError (a query-protocol answer it cannot parse; not a
    BotoCoreError, and not retried) is sorted as could-not-read: every type is an ``error`` record
    naming it, and the collection does not crash."""
    moto, _, _ = estate
    with FaultProxy(moto.url, rules=[FaultRule("sts:GetCallerIdentity", fault)]) as proxy:
        got = collect_s3(AwsConfig(endpoint_url=proxy.url, regions=REGIONS))
    assert proxy.injected[fault] == 1
    for type_id in S3_TYPES:
        assert_error_record(got[type_id], "ResponseParserError")
        assert "b'" not in got[type_id].draft.error.message  # the raw body is not copied into the record


# --------------------------------------------------------------------------- unreachable


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("where", ["closed-port", "silent-port"])
def test_an_unreachable_endpoint_gives_error_records_in_bounded_time(where, request) -> None:
    """Proves: nothing listening (connection refused) or nothing answering (read timeout) gives an
    ``error`` record for every type with the unreachable code, no permission blamed, and the run ends
    within its retry and timeout budget instead of hanging."""
    port = request.getfixturevalue("silent_port") if where == "silent-port" else free_port()
    config = AwsConfig(
        endpoint_url=f"http://127.0.0.1:{port}",
        regions=REGIONS,
        max_retries=1,
        connect_timeout=1.0,
        read_timeout=1.0,
    )
    started = time.monotonic()
    got = collect_s3(config)
    elapsed = time.monotonic() - started
    code = "EndpointConnectionError" if where == "closed-port" else "ReadTimeoutError"
    for type_id in S3_TYPES:
        assert_error_record(got[type_id], code)
        assert got[type_id].draft.error.permission is None
    # 2 attempts x 1 s timeouts + one backoff of at most 1 s: far below this, unless something hangs.
    assert elapsed < 20, f"an unreachable endpoint took {elapsed:.1f} s"


# --------------------------------------------------------------------------- IAM: revoked, wrong keys


def s3_policy(without: str | None = None) -> str:
    """The generated least-privilege policy for the S3 types, minus one action."""
    actions = [a for a in FAMILY.required_permissions(S3_TYPES) if a != without]
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    )


REVOKED = {
    "s3:GetEncryptionConfiguration": ["aws.s3.bucket_encryption"],
    "s3:ListAllMyBuckets": BUCKET_TYPES,
    "s3:GetAccountPublicAccessBlock": [ACCOUNT_TYPE],
}


@pytest.fixture(scope="module")
def iam_estate() -> Iterator[tuple[AwsIamMotoServer, Expectations, Records, dict[str, Any]]]:
    """A moto server enforcing IAM (AWS's S3 action names): the S3 estate, a fault-free baseline, and
    one IAM user per policy: the full generated policy, and the policy minus each revoked action."""
    import boto3

    with AwsIamMotoServer() as server:
        expectations = seed_estate(server.url, REGIONS, services=["aws.s3"])
        baseline = collect_s3(AwsConfig(endpoint_url=server.url, regions=REGIONS))
        iam = boto3.client("iam", endpoint_url=server.url, region_name="us-east-1")
        keys: dict[str, dict[str, str]] = {}
        for revoked in [None, *REVOKED]:
            user = f"collector-{(revoked or 'full').replace(':', '-')}"
            iam.create_user(UserName=user)
            iam.put_user_policy(UserName=user, PolicyName="evidence", PolicyDocument=s3_policy(revoked))
            key = iam.create_access_key(UserName=user)["AccessKey"]
            keys[revoked or "full"] = {
                "aws_access_key_id": key["AccessKeyId"],
                "aws_secret_access_key": key["SecretAccessKey"],
            }
        keys["unknown-key"] = {
            "aws_access_key_id": "AKIAUNKNOWNKEY000000",
            "aws_secret_access_key": "not-a-secret",
        }
        keys["wrong-secret"] = {**keys["full"], "aws_secret_access_key": "not-the-secret"}
        # Explicit keys and no session token (the test environment sets AWS_SESSION_TOKEN).
        sessions = {name: boto3.Session(aws_session_token=None, **creds) for name, creds in keys.items()}
        server.enforce_iam()
        yield server, expectations, baseline, sessions


def test_the_generated_policy_is_enough(iam_estate) -> None:
    """Proves: with IAM enforced and exactly the generated least-privilege policy, every S3 record is
    identical to the unauthenticated run (the policy names every action the collector needs)."""
    server, _, baseline, sessions = iam_estate
    got = collect_s3(AwsConfig(endpoint_url=server.url, regions=REGIONS), session=sessions["full"])
    for type_id in S3_TYPES:
        assert_same_evidence(got[type_id], baseline[type_id])


@pytest.mark.parametrize("revoked", list(REVOKED))
def test_a_revoked_permission_gives_an_error_record_naming_it(iam_estate, revoked) -> None:
    """Proves: with one action missing from the policy, the records that need it are ``error`` with
    the AccessDenied code and the missing permission named (in ``error.permission`` and the reason),
    never pass or fail; every other record is complete, as the estate says."""
    server, expectations, baseline, sessions = iam_estate
    got = collect_s3(AwsConfig(endpoint_url=server.url, regions=REGIONS), session=sessions[revoked])
    for type_id in REVOKED[revoked]:
        record = got[type_id]
        # moto's S3 Control answers a denial with an empty 403 body (AWS sends an AccessDenied
        # document): botocore then gives the HTTP status as the code, sorted as access denied.
        assert_error_record(record, "403" if revoked == "s3:GetAccountPublicAccessBlock" else "AccessDenied")
        assert record.draft.error.permission == revoked
        assert f"missing permission {revoked}" in record.draft.reason
    unaffected = set(S3_TYPES) - set(REVOKED[revoked])
    if revoked == "s3:GetAccountPublicAccessBlock":
        unaffected.discard("aws.s3.public_access_block")  # uses the account's block where it can
        bucket_block = {row["resource"]: row for row in rows(got["aws.s3.public_access_block"])}
        for bucket in expectations["aws.s3.public_access_block"].passing:
            assert bucket_block[bucket]["status"] == "pass"
        for bucket in expectations["aws.s3.public_access_block"].failing:
            assert bucket_block[bucket]["status"] == "error"
            assert revoked in bucket_block[bucket]["reason"]
        _public_policy_unjudged(got, expectations, revoked)
        unaffected.discard(POLICY_PUBLIC)
    for type_id in unaffected:
        assert_same_evidence(got[type_id], baseline[type_id])
        status_of = {row["resource"]: row["status"] for row in rows(got[type_id])}
        assert all(status_of[r] == "fail" for r in expectations[type_id].failing)
        assert all(status_of[r] == "pass" for r in expectations[type_id].passing)


@pytest.mark.parametrize(
    ("credentials", "code"),
    [("unknown-key", "InvalidClientTokenId"), ("wrong-secret", "SignatureDoesNotMatch")],
)
def test_wrong_credentials_give_error_records_only(iam_estate, credentials, code) -> None:
    """Proves: credentials AWS rejects (an unknown access key, a wrong secret) make every type an
    ``error`` record with STS's code, nothing pass or fail, and no permission blamed: a policy change
    would not fix bad credentials."""
    server, _, _, sessions = iam_estate
    got = collect_s3(AwsConfig(endpoint_url=server.url, regions=REGIONS), session=sessions[credentials])
    for type_id in S3_TYPES:
        record = got[type_id]
        assert_error_record(record, code)
        assert record.draft.error.operation == "sts:get_caller_identity"
        assert record.draft.error.permission is None
        assert "missing permission" not in record.draft.reason

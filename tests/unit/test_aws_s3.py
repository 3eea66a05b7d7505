"""S3 mappings fed recorded responses: no server. Pass, fail, absent settings, nulls, unreadable."""

from __future__ import annotations

import json
from typing import Any

import pytest

from collectors.aws import s3
from collectors.aws.core import Absent, Found, Outcome
from tests.support.recorded_aws import ACCOUNT, OBSERVED_AT, denied, judge, target

PAB_ON = {"PublicAccessBlockConfiguration": dict.fromkeys(s3.PAB_FLAGS, True)}


def bucket(name: str, region: str | None = "eu-west-1", **settings: Outcome) -> s3.Bucket:
    location = (
        Found({"LocationConstraint": region})
        if region != "us-east-1"
        else Found({"LocationConstraint": None})
    )
    b = s3.Bucket(name=name, created=None, settings={s3.GET_LOCATION.operation: location})
    for api in s3.BUCKET_CALLS:
        b.settings.setdefault(api.operation, Absent("NotFound") if api.not_found_codes else Found({}))
    b.settings.update({k: v for k, v in settings.items()})
    return b


def snapshot(*buckets: s3.Bucket, account_pab: Outcome | None = None) -> s3.S3Snapshot:
    return s3.S3Snapshot(
        target=target(),
        observed_at=OBSERVED_AT,
        buckets=list(buckets),
        account_public_access_block=account_pab
        if account_pab is not None
        else Absent("NoSuchPublicAccessBlockConfiguration"),
    )


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["resource"]: r for r in rows}


def test_encryption_pass_fail_absent_and_unreadable() -> None:
    enc = s3.GET_ENCRYPTION.operation
    rows = by_name(
        s3.bucket_encryption(
            snapshot(
                bucket(
                    "kms",
                    **{
                        enc: Found(
                            {
                                "ServerSideEncryptionConfiguration": {
                                    "Rules": [
                                        {
                                            "ApplyServerSideEncryptionByDefault": {
                                                "SSEAlgorithm": "aws:kms",
                                                "KMSMasterKeyID": "k1",
                                            },
                                            "BucketKeyEnabled": True,
                                        }
                                    ]
                                }
                            }
                        )
                    },
                ),
                bucket("none", **{enc: Absent("ServerSideEncryptionConfigurationNotFoundError")}),
                bucket("odd", **{enc: Found({"ServerSideEncryptionConfiguration": {"Rules": [{}]}})}),
                bucket("denied", **{enc: denied(s3.GET_ENCRYPTION)}),
            )
        )
    )
    assert (
        rows["kms"]["status"] == "pass"
        and rows["kms"]["kms_key_id"] == "k1"
        and rows["kms"]["region"] == "eu-west-1"
    )
    assert rows["none"]["status"] == "fail" and rows["none"]["sse_algorithm"] is None
    assert rows["odd"]["status"] == "fail"  # a rule without an algorithm is not encryption
    assert rows["denied"]["status"] == "error" and "s3:GetEncryptionConfiguration" in rows["denied"]["reason"]
    problems, gx_ok = judge("aws.s3.bucket_encryption", list(rows.values()))
    assert not problems and gx_ok is False  # GX sees the null algorithm (in-set alone would ignore it)


def test_versioning_never_enabled_is_not_a_pass() -> None:
    ver = s3.GET_VERSIONING.operation
    rows = by_name(
        s3.bucket_versioning(
            snapshot(
                bucket("on", **{ver: Found({"Status": "Enabled", "MFADelete": "Enabled"})}),
                bucket("never", **{ver: Found({})}),
                bucket("suspended", **{ver: Found({"Status": "Suspended"})}),
            )
        )
    )
    assert [rows[n]["status"] for n in ("on", "never", "suspended")] == ["pass", "fail", "fail"]
    assert rows["never"]["versioning"] == "Disabled"
    assert judge("aws.s3.bucket_versioning", [rows["on"]]) == ([], True)


def test_replication_must_leave_the_region() -> None:
    rep = s3.GET_REPLICATION.operation

    def rule(dest: str) -> Found:
        return Found(
            {
                "ReplicationConfiguration": {
                    "Rules": [{"Status": "Enabled", "Destination": {"Bucket": f"arn:aws:s3:::{dest}"}}]
                }
            }
        )

    rows = by_name(
        s3.bucket_replication(
            snapshot(
                bucket("src", region="us-east-1", **{rep: rule("far")}),
                bucket("far", region="eu-west-1", **{rep: rule("src")}),
                bucket("near", region="us-east-1", **{rep: rule("src")}),
                bucket("elsewhere", region="us-east-1", **{rep: rule("not-in-this-account")}),
                bucket(
                    "disabled",
                    region="us-east-1",
                    **{rep: Found({"ReplicationConfiguration": {"Rules": [{"Status": "Disabled"}]}})},
                ),
                bucket("none", region="us-east-1", **{rep: Absent("ReplicationConfigurationNotFoundError")}),
            )
        )
    )
    assert rows["src"]["status"] == "pass" and rows["src"]["cross_region"] is True
    assert rows["far"]["status"] == "pass"
    assert rows["near"]["status"] == "fail" and "same region" in rows["near"]["reason"]
    assert rows["elsewhere"]["status"] == "fail" and rows["elsewhere"]["cross_region"] is False
    assert rows["disabled"]["status"] == "fail" and rows["none"]["status"] == "fail"


def test_object_lock_needs_a_default_retention() -> None:
    lock = s3.GET_OBJECT_LOCK.operation
    rows = by_name(
        s3.bucket_object_lock(
            snapshot(
                bucket(
                    "years",
                    **{
                        lock: Found(
                            {
                                "ObjectLockConfiguration": {
                                    "ObjectLockEnabled": "Enabled",
                                    "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Years": 1}},
                                }
                            }
                        )
                    },
                ),
                bucket(
                    "bare", **{lock: Found({"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled"}})}
                ),
                bucket("off", **{lock: Absent("ObjectLockConfigurationNotFoundError")}),
            )
        )
    )
    assert rows["years"]["status"] == "pass" and rows["years"]["retention_days"] == 365
    assert rows["bare"]["status"] == "fail" and rows["off"]["status"] == "fail"


def test_public_access_block_bucket_or_account() -> None:
    pab = s3.GET_PUBLIC_ACCESS_BLOCK.operation
    half = Found({"PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "IgnorePublicAcls": True}})
    buckets = (
        bucket("own", **{pab: Found(PAB_ON)}),
        bucket("half", **{pab: half}),
        bucket("none", **{pab: Absent("x")}),
    )
    rows = by_name(s3.public_access_block(snapshot(*buckets)))
    assert [rows[n]["status"] for n in ("own", "half", "none")] == ["pass", "fail", "fail"]
    assert "BlockPublicPolicy" in rows["half"]["reason"]
    covered = by_name(s3.public_access_block(snapshot(*buckets, account_pab=Found(PAB_ON))))
    assert all(r["status"] == "pass" and r["fully_blocked"] for r in covered.values())
    unknown = by_name(s3.public_access_block(snapshot(*buckets, account_pab=denied(s3.GET_ACCOUNT_PAB))))
    assert unknown["own"]["status"] == "pass"  # the bucket alone blocks everything
    assert (
        unknown["half"]["status"] == "error" and "s3:GetAccountPublicAccessBlock" in unknown["half"]["reason"]
    )


def test_account_public_access_block() -> None:
    assert s3.account_public_access_block(snapshot(account_pab=Found(PAB_ON)))[0]["status"] == "pass"
    row = s3.account_public_access_block(snapshot())[0]
    assert row["resource"] == ACCOUNT and row["status"] == "fail"
    assert s3.account_public_access_block(snapshot(account_pab=denied(s3.GET_ACCOUNT_PAB))) == []


@pytest.mark.parametrize(
    ("statement", "ok"),
    [
        (
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            True,
        ),
        (
            {
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": ["s3:GetObject"],
                "Condition": {"Bool": {"aws:SecureTransport": False}},
            },
            True,
        ),
        (
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:*",
                "Condition": {"Bool": {"aws:SecureTransport": "true"}},
            },
            False,
        ),
        (
            {
                "Effect": "Deny",
                "Principal": {"AWS": "arn:aws:iam::1:root"},
                "Action": "s3:*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            False,
        ),
        ({"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket"}, False),
    ],
)
def test_secure_transport_policy(statement: dict[str, Any], ok: bool) -> None:
    pol = s3.GET_POLICY.operation
    policy = Found({"Policy": json.dumps({"Statement": [statement]})})
    row = s3.bucket_secure_transport(snapshot(bucket("b", **{pol: policy})))[0]
    assert row["denies_insecure_transport"] is ok and row["status"] == ("pass" if ok else "fail")


def test_secure_transport_without_policy_or_with_garbage() -> None:
    pol = s3.GET_POLICY.operation
    rows = by_name(
        s3.bucket_secure_transport(
            snapshot(
                bucket("none", **{pol: Absent("NoSuchBucketPolicy")}),
                bucket("junk", **{pol: Found({"Policy": "{not json"})}),
            )
        )
    )
    assert rows["none"]["status"] == "fail" and rows["junk"]["status"] == "error"


def test_lifecycle_must_expire_something() -> None:
    life = s3.GET_LIFECYCLE.operation
    rows = by_name(
        s3.bucket_lifecycle(
            snapshot(
                bucket(
                    "expires", **{life: Found({"Rules": [{"Status": "Enabled", "Expiration": {"Days": 30}}]})}
                ),
                bucket(
                    "noncurrent",
                    **{
                        life: Found(
                            {
                                "Rules": [
                                    {
                                        "Status": "Enabled",
                                        "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
                                    }
                                ]
                            }
                        )
                    },
                ),
                bucket(
                    "transition",
                    **{life: Found({"Rules": [{"Status": "Enabled", "Transitions": [{"Days": 30}]}]})},
                ),
                bucket(
                    "disabled",
                    **{life: Found({"Rules": [{"Status": "Disabled", "Expiration": {"Days": 1}}]})},
                ),
                bucket("none", **{life: Absent("NoSuchLifecycleConfiguration")}),
            )
        )
    )
    assert rows["expires"]["status"] == "pass" and rows["noncurrent"]["status"] == "pass"
    assert all(rows[n]["status"] == "fail" for n in ("transition", "disabled", "none"))
    problems, gx_ok = judge("aws.s3.bucket_lifecycle", list(rows.values()))
    assert not problems and gx_ok is False


def test_access_logging() -> None:
    log = s3.GET_LOGGING.operation
    rows = by_name(
        s3.bucket_access_logging(
            snapshot(
                bucket("on", **{log: Found({"LoggingEnabled": {"TargetBucket": "logs"}})}),
                bucket("off", **{log: Found({})}),
                bucket("denied", **{log: denied(s3.GET_LOGGING)}),
            )
        )
    )
    assert (
        rows["on"]["target_bucket"] == "logs"
        and rows["off"]["status"] == "fail"
        and rows["denied"]["status"] == "error"
    )


def test_legacy_location_constraints() -> None:
    assert bucket("a", region="us-east-1").region == "us-east-1"
    eu = s3.Bucket("b", None, {s3.GET_LOCATION.operation: Found({"LocationConstraint": "EU"})})
    assert eu.region == "eu-west-1"
    assert s3.Bucket("c", None, {s3.GET_LOCATION.operation: denied(s3.GET_LOCATION)}).region is None

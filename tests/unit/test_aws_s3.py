"""S3 mappings fed recorded responses: no server. Pass, fail, absent settings, nulls, unreadable."""

from __future__ import annotations

import json
from typing import Any

import pytest

from collectors.aws import s3
from collectors.core import Absent, Found, Outcome
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


def test_replication_to_a_bucket_whose_region_could_not_be_read_is_not_judged() -> None:
    # Found by tests/integration/test_aws_populations.py: one bucket's unreadable location turned its
    # replication source's row from pass into fail.
    rep, loc = s3.GET_REPLICATION.operation, s3.GET_LOCATION.operation
    rule = Found(
        {
            "ReplicationConfiguration": {
                "Rules": [{"Status": "Enabled", "Destination": {"Bucket": "arn:aws:s3:::dst"}}]
            }
        }
    )
    dst = bucket("dst", region="eu-west-1")
    dst.settings[loc] = denied(s3.GET_LOCATION)
    rows = by_name(s3.bucket_replication(snapshot(bucket("src", region="us-east-1", **{rep: rule}), dst)))
    assert rows["src"]["status"] == "error" and "s3:GetBucketLocation" in rows["src"]["reason"], rows["src"]


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


BOTH = ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]
HTTP = {"Bool": {"aws:SecureTransport": "false"}}


def _deny(**over: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": BOTH, "Condition": HTTP, **over}


@pytest.mark.parametrize(
    ("statements", "ok"),
    [
        ([_deny()], True),
        ([_deny(Principal={"AWS": "*"}, Condition={"Bool": {"aws:SecureTransport": False}})], True),
        # A condition written as a list is the same condition (issue 13: a compliant bucket failed).
        ([_deny(Condition={"Bool": {"aws:SecureTransport": ["false"]}})], True),
        ([_deny(Condition={"BoolIfExists": {"aws:SecureTransport": "false"}})], True),
        ([_deny(Action="*", Resource="*")], True),
        ([_deny(Resource=BOTH[0]), _deny(Resource=BOTH[1], Sid="objects")], True),
        # A Deny of one read action leaves writes over plain HTTP allowed (issue 13: it passed).
        ([_deny(Action=["s3:GetObject"])], False),
        ([_deny(Action="s3:Get*")], False),
        # Only the objects: bucket-level calls (ListBucket, PutBucketPolicy) still go over HTTP.
        ([_deny(Resource="arn:aws:s3:::b/*")], False),
        ([_deny(Resource="arn:aws:s3:::b/private/*")], False),
        ([{**_deny(), "Effect": "Allow", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}], False),
        ([_deny(Principal={"AWS": "arn:aws:iam::1:root"})], False),
        # An exemption by a negated condition lets the exempted callers through.
        ([_deny(Condition={**HTTP, "StringNotEquals": {"aws:PrincipalAccount": ACCOUNT}})], False),
        ([_deny(Condition={**HTTP, "StringEquals": {"aws:PrincipalAccount": "999999999999"}})], False),
        ([_deny(NotAction="s3:GetObject", Action=None)], False),
        ([{"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket", "Resource": BOTH}], False),
        ([_deny(Condition={"Bool": {"aws:SecureTransport": "true"}})], False),
    ],
)
def test_secure_transport_policy(statements: list[dict[str, Any]], ok: bool) -> None:
    pol = s3.GET_POLICY.operation
    cleaned = [{k: v for k, v in st.items() if v is not None} for st in statements]
    policy = Found({"Policy": json.dumps({"Version": "2012-10-17", "Statement": cleaned})})
    row = s3.bucket_secure_transport(snapshot(bucket("b", **{pol: policy})))[0]
    assert row["denies_insecure_transport"] is ok and row["status"] == ("pass" if ok else "fail"), row


def test_secure_transport_names_what_plain_http_still_reaches() -> None:
    pol = s3.GET_POLICY.operation
    policy = Found({"Policy": json.dumps({"Statement": [_deny(Action="s3:GetObject")]})})
    row = s3.bucket_secure_transport(snapshot(bucket("b", **{pol: policy})))[0]
    assert row["reason"].startswith("policy does not deny every request without TLS: s3:"), row
    assert (
        "more actions still allowed over plain HTTP (from " in row["reason"] and "anyone" in row["reason"]
    ), row


def test_secure_transport_policy_it_cannot_evaluate_is_an_error_row() -> None:
    pol = s3.GET_POLICY.operation
    policy = Found({"Policy": json.dumps({"Statement": [_deny(Condition={"StringSortOf": {"k": "v"}})]})})
    row = s3.bucket_secure_transport(snapshot(bucket("b", **{pol: policy})))[0]
    assert row["status"] == "error" and "StringSortOf" in row["reason"], row


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


def _policy(*statements: dict[str, Any]) -> Outcome:
    return Found({"Policy": json.dumps({"Version": "2012-10-17", "Statement": list(statements)})})


PUBLIC_READ = {
    "Sid": "PublicRead",
    "Effect": "Allow",
    "Principal": "*",
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::{name}/*",
}


def _public(name: str) -> dict[str, Any]:
    return {**PUBLIC_READ, "Resource": f"arn:aws:s3:::{name}/*"}


def _pab(**flags: bool) -> Outcome:
    return Found({"PublicAccessBlockConfiguration": {f: flags.get(f, False) for f in s3.PAB_FLAGS}})


def test_bucket_policy_public_judges_each_resource() -> None:
    pol, pab = s3.GET_POLICY.operation, s3.GET_PUBLIC_ACCESS_BLOCK.operation
    private = {**_public("private"), "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/app"}}
    rows = by_name(
        s3.bucket_policy_public(
            snapshot(
                bucket("none", **{pol: Absent("NoSuchBucketPolicy")}),
                bucket("private", **{pol: _policy(private)}),
                bucket("open", **{pol: _policy(_public("open"))}),
                bucket(
                    "restricted",
                    **{pol: _policy(_public("restricted")), pab: _pab(RestrictPublicBuckets=True)},
                ),
                bucket(
                    "blocked-new", **{pol: _policy(_public("blocked-new")), pab: _pab(BlockPublicPolicy=True)}
                ),
                bucket("hidden", **{pol: denied(s3.GET_POLICY)}),
                bucket("junk", **{pol: Found({"Policy": "{not json"})}),
                bucket(
                    "unknown-pab",
                    **{pol: _policy(_public("unknown-pab")), pab: denied(s3.GET_PUBLIC_ACCESS_BLOCK)},
                ),
                bucket(
                    "private-unknown-pab", **{pol: _policy(private), pab: denied(s3.GET_PUBLIC_ACCESS_BLOCK)}
                ),
            )
        )
    )
    status = {name: row["status"] for name, row in rows.items()}
    assert status == {
        "none": "pass",
        "private": "pass",
        "open": "fail",
        "restricted": "pass",
        "blocked-new": "fail",
        "hidden": "error",
        "junk": "error",
        "unknown-pab": "error",
        "private-unknown-pab": "pass",
    }
    assert "PublicRead" in rows["open"]["reason"] and rows["open"]["public_statements"] == "PublicRead"
    assert rows["open"]["publicly_accessible"] is True and rows["open"]["restrict_public_buckets"] is False
    assert "only refuses new public policies" in rows["blocked-new"]["reason"]
    assert "RestrictPublicBuckets on the bucket" in rows["restricted"]["reason"]
    assert "s3:GetBucketPublicAccessBlock" in rows["unknown-pab"]["reason"]
    assert "s3:GetBucketPolicy" in rows["hidden"]["reason"]
    problems, suite_ok = judge("aws.s3.bucket_policy_public", list(rows.values()))
    assert problems == [] and suite_ok is False


def test_bucket_policy_public_neutralised_by_the_account_block() -> None:
    pol = s3.GET_POLICY.operation
    snap = snapshot(
        bucket("open", **{pol: _policy(_public("open"))}), account_pab=_pab(RestrictPublicBuckets=True)
    )
    row = s3.bucket_policy_public(snap)[0]
    assert row["status"] == "pass" and "on the account" in row["reason"], row
    problems, suite_ok = judge("aws.s3.bucket_policy_public", [row])
    assert problems == [] and suite_ok is True

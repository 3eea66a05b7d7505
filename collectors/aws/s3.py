"""S3: default encryption, versioning, replication, Object Lock, public access blocks (bucket and
account), secure-transport policy, lifecycle and server access logging.

``fetch`` reads every bucket's settings once (bounded concurrency); each evidence type below is a pure
function of the snapshot, fed recorded responses in the unit tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from collectors.aws import iam_eval
from collectors.aws.client import AwsCallRecorder, AwsClients
from collectors.aws.family import AWS, AwsTarget
from collectors.core import Absent, Failed, Found, Outcome, Snapshot, failed_reason, fan_out
from collectors.core.family import FetchContext
from evidence.registry import ApiPermission, Row

COLLECTOR = "aws.s3"

LIST_BUCKETS = ApiPermission("s3", "list_buckets", "s3:ListAllMyBuckets")
GET_LOCATION = ApiPermission("s3", "get_bucket_location", "s3:GetBucketLocation", ("NoSuchBucket",))
GET_ENCRYPTION = ApiPermission(
    "s3",
    "get_bucket_encryption",
    "s3:GetEncryptionConfiguration",
    ("ServerSideEncryptionConfigurationNotFoundError",),
)
GET_VERSIONING = ApiPermission("s3", "get_bucket_versioning", "s3:GetBucketVersioning")
GET_REPLICATION = ApiPermission(
    "s3",
    "get_bucket_replication",
    "s3:GetReplicationConfiguration",
    ("ReplicationConfigurationNotFoundError",),
)
GET_OBJECT_LOCK = ApiPermission(
    "s3",
    "get_object_lock_configuration",
    "s3:GetBucketObjectLockConfiguration",
    ("ObjectLockConfigurationNotFoundError",),
)
GET_PUBLIC_ACCESS_BLOCK = ApiPermission(
    "s3",
    "get_public_access_block",
    "s3:GetBucketPublicAccessBlock",
    ("NoSuchPublicAccessBlockConfiguration",),
)
GET_POLICY = ApiPermission("s3", "get_bucket_policy", "s3:GetBucketPolicy", ("NoSuchBucketPolicy",))
GET_LIFECYCLE = ApiPermission(
    "s3",
    "get_bucket_lifecycle_configuration",
    "s3:GetLifecycleConfiguration",
    ("NoSuchLifecycleConfiguration",),
)
GET_LOGGING = ApiPermission("s3", "get_bucket_logging", "s3:GetBucketLogging")
GET_ACCOUNT_PAB = ApiPermission(
    "s3control",
    "get_public_access_block",
    "s3:GetAccountPublicAccessBlock",
    ("NoSuchPublicAccessBlockConfiguration",),
)

# The per-bucket calls, in the order they are made.
BUCKET_CALLS = (
    GET_LOCATION,
    GET_ENCRYPTION,
    GET_VERSIONING,
    GET_REPLICATION,
    GET_OBJECT_LOCK,
    GET_PUBLIC_ACCESS_BLOCK,
    GET_POLICY,
    GET_LIFECYCLE,
    GET_LOGGING,
)
PAB_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
ENCRYPTION_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")


@dataclass
class Bucket:
    name: str
    created: str | None
    settings: dict[str, Outcome] = field(default_factory=dict)  # operation -> outcome

    @property
    def region(self) -> str | None:
        outcome = self.settings.get(GET_LOCATION.operation)
        if isinstance(outcome, Found):
            # GetBucketLocation answers None (or "") for us-east-1 and "EU" for the oldest eu-west-1 buckets.
            constraint: str | None = outcome.value.get("LocationConstraint")
            legacy = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}
            return legacy.get(constraint, constraint)
        return None


@dataclass
class S3Snapshot(Snapshot):
    buckets: list[Bucket] = field(default_factory=list)
    account_public_access_block: Outcome | None = None


def _fetch_bucket(clients: AwsClients, region: str, recorder: AwsCallRecorder, bucket: Bucket) -> Bucket:
    client = clients.client("s3", region)
    for api in BUCKET_CALLS:
        bucket.settings[api.operation] = recorder.call(client, api, region, Bucket=bucket.name)
    return bucket


def fetch(ctx: FetchContext[AwsTarget]) -> S3Snapshot:
    target = ctx.target
    clients, region = ctx.connection.clients, ctx.connection.region
    recorder: AwsCallRecorder = ctx.recorder
    concurrency = ctx.concurrency
    snapshot = S3Snapshot(target=ctx.target, observed_at=ctx.observed_at)
    client = clients.client("s3", region)
    listing = recorder.paginate(client, LIST_BUCKETS, region, "Buckets", token_in="ContinuationToken")
    account_pab = recorder.call(
        clients.client("s3control", region), GET_ACCOUNT_PAB, region, AccountId=target["account"]
    )
    snapshot.account_public_access_block = account_pab
    if isinstance(account_pab, Failed):
        snapshot.fail(GET_ACCOUNT_PAB, account_pab.error)
    if isinstance(listing, Failed):
        snapshot.fail(LIST_BUCKETS, listing.error)
        return snapshot
    assert isinstance(listing, Found)
    buckets = [
        Bucket(name=b["Name"], created=str(b.get("CreationDate") or "") or None) for b in listing.value
    ]
    snapshot.buckets = fan_out(lambda b: _fetch_bucket(clients, region, recorder, b), buckets, concurrency)
    for api in BUCKET_CALLS:
        snapshot.fail_if_uniform(api, [b.settings[api.operation] for b in snapshot.buckets])
    return snapshot


SERVICE = AWS.source(COLLECTOR, scope="global")(fetch)


# ---------------------------------------------------------------------------------------------------
# Pure mappings: snapshot -> rows. A row names its resource and says pass / fail / error, and why.


def _row(bucket: Bucket, status: str, reason: str, **fields: Any) -> Row:
    return {"resource": bucket.name, "region": bucket.region, "status": status, "reason": reason, **fields}


def _unreadable(bucket: Bucket, outcome: Failed, **nulls: Any) -> Row:
    return _row(bucket, "error", failed_reason(outcome), **nulls)


@SERVICE.evidence_type(
    "aws.s3.bucket_encryption",
    title="S3 buckets encrypt objects at rest by default (SSE-S3 or SSE-KMS)",
    api_calls=(LIST_BUCKETS, GET_LOCATION, GET_ENCRYPTION),
    resource_kind="bucket",
)
def bucket_encryption(snapshot: S3Snapshot) -> list[Row]:
    rows = []
    for bucket in snapshot.buckets:
        outcome = bucket.settings[GET_ENCRYPTION.operation]
        nulls = {"sse_algorithm": None, "kms_key_id": None, "bucket_key_enabled": None}
        if isinstance(outcome, Failed):
            rows.append(_unreadable(bucket, outcome, **nulls))
            continue
        if isinstance(outcome, Absent):
            rows.append(_row(bucket, "fail", "no default encryption configured", **nulls))
            continue
        rules = outcome.value.get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
        default = (
            next(
                (
                    r.get("ApplyServerSideEncryptionByDefault")
                    for r in rules
                    if r.get("ApplyServerSideEncryptionByDefault")
                ),
                None,
            )
            or {}
        )
        algorithm = default.get("SSEAlgorithm")
        fields = {
            "sse_algorithm": algorithm,
            "kms_key_id": default.get("KMSMasterKeyID"),
            "bucket_key_enabled": next(
                (r.get("BucketKeyEnabled") for r in rules if "BucketKeyEnabled" in r), None
            ),
        }
        if algorithm in ENCRYPTION_ALGORITHMS:
            rows.append(_row(bucket, "pass", f"default encryption {algorithm}", **fields))
        else:
            rows.append(
                _row(
                    bucket,
                    "fail",
                    f"default encryption rule without a known algorithm ({algorithm})",
                    **fields,
                )
            )
    return rows


@SERVICE.evidence_type(
    "aws.s3.bucket_versioning",
    title="S3 buckets keep object versions (versioning enabled)",
    api_calls=(LIST_BUCKETS, GET_LOCATION, GET_VERSIONING),
    resource_kind="bucket",
)
def bucket_versioning(snapshot: S3Snapshot) -> list[Row]:
    rows = []
    for bucket in snapshot.buckets:
        outcome = bucket.settings[GET_VERSIONING.operation]
        if isinstance(outcome, Failed):
            rows.append(_unreadable(bucket, outcome, versioning=None, mfa_delete=None))
            continue
        value = outcome.value if isinstance(outcome, Found) else {}
        status = value.get("Status")  # absent: never enabled
        fields = {"versioning": status or "Disabled", "mfa_delete": value.get("MFADelete") or "Disabled"}
        if status == "Enabled":
            rows.append(_row(bucket, "pass", "versioning enabled", **fields))
        else:
            rows.append(_row(bucket, "fail", f"versioning {(status or 'never enabled').lower()}", **fields))
    return rows


@SERVICE.evidence_type(
    "aws.s3.bucket_replication",
    title="S3 buckets replicate to another region (cross-region replication)",
    api_calls=(LIST_BUCKETS, GET_LOCATION, GET_REPLICATION),
    resource_kind="bucket",
)
def bucket_replication(snapshot: S3Snapshot) -> list[Row]:
    regions = {b.name: b.region for b in snapshot.buckets}
    by_name = {b.name: b for b in snapshot.buckets}
    rows = []
    for bucket in snapshot.buckets:
        outcome = bucket.settings[GET_REPLICATION.operation]
        nulls = {"replication_rules": None, "destinations": None, "cross_region": None}
        if isinstance(outcome, Failed):
            rows.append(_unreadable(bucket, outcome, **nulls))
            continue
        if isinstance(outcome, Absent):
            rows.append(
                _row(
                    bucket,
                    "fail",
                    "no replication configured",
                    replication_rules=0,
                    destinations="",
                    cross_region=False,
                )
            )
            continue
        rules = [
            r
            for r in outcome.value.get("ReplicationConfiguration", {}).get("Rules", [])
            if r.get("Status") == "Enabled"
        ]
        destinations = sorted(
            {r.get("Destination", {}).get("Bucket", "").rsplit(":", 1)[-1] for r in rules} - {""}
        )
        dest_regions = {regions.get(d) for d in destinations}
        # A destination outside this account's listing has an unknown region: not proven cross-region.
        cross_region = bool(destinations) and None not in dest_regions and bucket.region not in dest_regions
        fields = {
            "replication_rules": len(rules),
            "destinations": ",".join(destinations),
            "cross_region": cross_region,
        }
        # A destination in this account whose location could not be read: could not judge, not a fail.
        unread: list[tuple[str, Failed]] = []
        for name in destinations:
            location = by_name[name].settings.get(GET_LOCATION.operation) if name in by_name else None
            if isinstance(location, Failed):
                unread.append((name, location))
        if rules and unread and bucket.region not in dest_regions:
            name, failure = unread[0]
            reason = f"region of destination {name} unknown: {failed_reason(failure)}"
            rows.append(_row(bucket, "error", reason, **nulls))
            continue
        if not rules:
            rows.append(_row(bucket, "fail", "replication configured but no rule is enabled", **fields))
        elif not cross_region:
            where = (
                "the same region" if None not in dest_regions else "a bucket whose region could not be read"
            )
            rows.append(
                _row(bucket, "fail", f"replicates only to {where} ({fields['destinations']})", **fields)
            )
        else:
            rows.append(
                _row(bucket, "pass", f"replicates to {fields['destinations']} in another region", **fields)
            )
    return rows


@SERVICE.evidence_type(
    "aws.s3.bucket_object_lock",
    title="S3 buckets holding evidence, backups or logs are immutable (Object Lock)",
    api_calls=(LIST_BUCKETS, GET_LOCATION, GET_OBJECT_LOCK),
    resource_kind="bucket",
)
def bucket_object_lock(snapshot: S3Snapshot) -> list[Row]:
    rows = []
    for bucket in snapshot.buckets:
        outcome = bucket.settings[GET_OBJECT_LOCK.operation]
        nulls = {"object_lock": None, "retention_mode": None, "retention_days": None}
        if isinstance(outcome, Failed):
            rows.append(_unreadable(bucket, outcome, **nulls))
            continue
        config = outcome.value.get("ObjectLockConfiguration", {}) if isinstance(outcome, Found) else {}
        enabled = config.get("ObjectLockEnabled") == "Enabled"
        retention = config.get("Rule", {}).get("DefaultRetention", {})
        days = retention.get("Days") or (retention["Years"] * 365 if retention.get("Years") else None)
        fields = {"object_lock": enabled, "retention_mode": retention.get("Mode"), "retention_days": days}
        if not enabled:
            rows.append(_row(bucket, "fail", "Object Lock not enabled", **fields))
        elif not retention:
            rows.append(_row(bucket, "fail", "Object Lock enabled without a default retention", **fields))
        else:
            rows.append(
                _row(bucket, "pass", f"Object Lock {retention.get('Mode')} for {days} days", **fields)
            )
    return rows


def _flags(outcome: Outcome | None) -> dict[str, bool] | None:
    if isinstance(outcome, Found):
        config = outcome.value.get("PublicAccessBlockConfiguration", {})
        return {flag: bool(config.get(flag)) for flag in PAB_FLAGS}
    if isinstance(outcome, Absent):
        return dict.fromkeys(PAB_FLAGS, False)
    return None


@SERVICE.evidence_type(
    "aws.s3.public_access_block",
    title="S3 buckets block public access (bucket settings, or the account's)",
    api_calls=(LIST_BUCKETS, GET_LOCATION, GET_PUBLIC_ACCESS_BLOCK, GET_ACCOUNT_PAB.optional()),
    resource_kind="bucket",
)
def public_access_block(snapshot: S3Snapshot) -> list[Row]:
    account = _flags(snapshot.account_public_access_block)
    rows = []
    for bucket in snapshot.buckets:
        outcome = bucket.settings[GET_PUBLIC_ACCESS_BLOCK.operation]
        bucket_flags = _flags(outcome)
        if bucket_flags is None:
            assert isinstance(outcome, Failed)
            rows.append(
                _unreadable(
                    bucket, outcome, blocked_by_bucket=None, blocked_by_account=None, fully_blocked=None
                )
            )
            continue
        effective = {f: bucket_flags[f] or bool(account and account[f]) for f in PAB_FLAGS}
        missing = [f for f, on in effective.items() if not on]
        if missing and account is None:
            # The bucket alone does not block everything and the account's setting could not be read.
            assert isinstance(snapshot.account_public_access_block, Failed)
            reason = f"{', '.join(missing)} off on the bucket; account setting unreadable: "
            rows.append(
                _row(
                    bucket,
                    "error",
                    reason + failed_reason(snapshot.account_public_access_block),
                    blocked_by_bucket=False,
                    blocked_by_account=None,
                    fully_blocked=None,
                )
            )
            continue
        fields = {
            "blocked_by_bucket": all(bucket_flags.values()),
            "blocked_by_account": bool(account) and all(account.values()) if account else False,
            "fully_blocked": not missing,
        }
        if missing:
            rows.append(
                _row(bucket, "fail", f"public access not blocked: {', '.join(missing)} off", **fields)
            )
        else:
            rows.append(_row(bucket, "pass", "public access blocked", **fields))
    return rows


@SERVICE.evidence_type(
    "aws.s3.account_public_access_block",
    title="The account blocks S3 public access for every bucket",
    api_calls=(GET_ACCOUNT_PAB,),
    resource_kind="account",
)
def account_public_access_block(snapshot: S3Snapshot) -> list[Row]:
    flags = _flags(snapshot.account_public_access_block)
    if flags is None:
        return []  # the failure is recorded for the whole type (snapshot.failures)
    missing = [f for f, on in flags.items() if not on]
    row: Row = {"resource": snapshot.target["account"], "region": None, **{f: flags[f] for f in PAB_FLAGS}}
    row["status"], row["reason"] = (
        ("fail", f"account-level block off: {', '.join(missing)}")
        if missing
        else ("pass", "all four account-level blocks on")
    )
    return [row]


# Probe requests for the policy checks: a read, a write and a delete of an object, the bucket-level
# reads and writes, and (added per policy) every action and resource the policy itself names. The
# probes are judged by collectors.aws.iam_eval, which evaluates policies as IAM does.
S3_PROBE_ACTIONS = (
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectAcl",
    "s3:PutObject",
    "s3:PutObjectAcl",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:AbortMultipartUpload",
    "s3:RestoreObject",
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:ListBucketMultipartUploads",
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketAcl",
    "s3:PutLifecycleConfiguration",
    "s3:DeleteBucket",
)
# Callers an insecure request may come from: anyone, another account, and the bucket's own account.
FOREIGN_PRINCIPAL = "arn:aws:iam::999999999999:role/outside"


def bucket_arn(name: str) -> str:
    return f"arn:aws:s3:::{name}"


def _probe_resources(policy: dict[str, Any], name: str) -> list[str]:
    arn = bucket_arn(name)
    return sorted({arn, f"{arn}/any-object-key", *iam_eval.named_resources(policy, (arn + "/", arn))})


def insecure_transport_allowed(policy: dict[str, Any], name: str, account: str | None) -> list[str]:
    """The requests over plain HTTP (aws:SecureTransport false) the policy does NOT explicitly deny,
    as "action on resource by principal" (empty: every insecure request is denied). A Deny of some
    actions, some resources or some callers leaves the others named here."""
    principals = [iam_eval.Principal.anonymous(), iam_eval.Principal.aws(FOREIGN_PRINCIPAL)]
    if account:
        principals.append(iam_eval.Principal.aws(f"arn:aws:iam::{account}:role/inside"))
    actions = sorted(set(S3_PROBE_ACTIONS) | iam_eval.named_actions(policy, "s3"))
    resources = _probe_resources(policy, name)
    missed = iam_eval.undenied(policy, principals, actions, resources, {"aws:SecureTransport": "false"})
    return [f"{p.action} on {p.resource} by {p.principal.arn or 'anyone'}" for p in missed]


def _read_policy(bucket: Bucket) -> Outcome | str:
    """The bucket policy parsed (Found(dict)), Absent, Failed, or why it cannot be judged (a str)."""
    outcome = bucket.settings[GET_POLICY.operation]
    if not isinstance(outcome, Found):
        return outcome
    try:
        policy = json.loads(outcome.value.get("Policy") or "{}")
    except json.JSONDecodeError:
        return "bucket policy is not valid JSON"
    if not isinstance(policy, dict):
        return "bucket policy is not a JSON object"
    return Found(policy)


@SERVICE.evidence_type(
    "aws.s3.bucket_secure_transport",
    title="S3 bucket policies deny requests not made over TLS (aws:SecureTransport)",
    api_calls=(LIST_BUCKETS, GET_LOCATION, GET_POLICY),
    resource_kind="bucket",
)
def bucket_secure_transport(snapshot: S3Snapshot) -> list[Row]:
    """Passes only when the policy explicitly denies every request over plain HTTP: every S3 action
    (and every action the policy names), on the bucket and its objects, from anyone."""
    rows = []
    account = snapshot.target.get("account")
    for bucket in snapshot.buckets:
        read = _read_policy(bucket)
        if isinstance(read, Failed):
            rows.append(_unreadable(bucket, read, has_policy=None, denies_insecure_transport=None))
            continue
        if isinstance(read, Absent):
            rows.append(
                _row(
                    bucket,
                    "fail",
                    "no bucket policy: plain HTTP is allowed",
                    has_policy=False,
                    denies_insecure_transport=False,
                )
            )
            continue
        if isinstance(read, str):
            rows.append(_row(bucket, "error", read, has_policy=True, denies_insecure_transport=None))
            continue
        assert isinstance(read, Found)
        try:
            allowed = insecure_transport_allowed(read.value, bucket.name, account)
        except iam_eval.PolicyError as exc:
            rows.append(
                _row(
                    bucket,
                    "error",
                    f"bucket policy cannot be evaluated: {exc}",
                    has_policy=True,
                    denies_insecure_transport=None,
                )
            )
            continue
        if not allowed:
            rows.append(
                _row(
                    bucket,
                    "pass",
                    "policy denies every request made without TLS (aws:SecureTransport false)",
                    has_policy=True,
                    denies_insecure_transport=True,
                )
            )
        else:
            actions = sorted({a.split(" on ", 1)[0] for a in allowed})
            callers = sorted({a.rsplit(" by ", 1)[1] for a in allowed})
            callers = ["anyone"] if "anyone" in callers else callers
            named = ", ".join(actions[:3]) + (
                f" and {len(actions) - 3} more actions" if len(actions) > 3 else ""
            )
            rows.append(
                _row(
                    bucket,
                    "fail",
                    f"policy does not deny every request without TLS: {named} still allowed over plain "
                    f"HTTP (from {', '.join(callers)})",
                    has_policy=True,
                    denies_insecure_transport=False,
                )
            )
    return rows


@SERVICE.evidence_type(
    "aws.s3.bucket_lifecycle",
    title="S3 buckets apply a retention (lifecycle expiration) rule",
    api_calls=(LIST_BUCKETS, GET_LOCATION, GET_LIFECYCLE),
    resource_kind="bucket",
)
def bucket_lifecycle(snapshot: S3Snapshot) -> list[Row]:
    rows = []
    for bucket in snapshot.buckets:
        outcome = bucket.settings[GET_LIFECYCLE.operation]
        nulls = {"enabled_rules": None, "expiration_days": None, "noncurrent_expiration_days": None}
        if isinstance(outcome, Failed):
            rows.append(_unreadable(bucket, outcome, **nulls))
            continue
        rules = [
            r
            for r in (outcome.value.get("Rules", []) if isinstance(outcome, Found) else [])
            if r.get("Status") == "Enabled"
        ]
        expirations = [r["Expiration"]["Days"] for r in rules if r.get("Expiration", {}).get("Days")]
        noncurrent = [
            r["NoncurrentVersionExpiration"]["NoncurrentDays"]
            for r in rules
            if r.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays")
        ]
        fields = {
            "enabled_rules": len(rules),
            "expiration_days": min(expirations) if expirations else None,
            "noncurrent_expiration_days": min(noncurrent) if noncurrent else None,
        }
        if expirations or noncurrent:
            rows.append(_row(bucket, "pass", "retention enforced by a lifecycle expiration rule", **fields))
        elif rules:
            rows.append(_row(bucket, "fail", "lifecycle rules enabled but none expires objects", **fields))
        else:
            rows.append(_row(bucket, "fail", "no enabled lifecycle rule: data kept forever", **fields))
    return rows


@SERVICE.evidence_type(
    "aws.s3.bucket_access_logging",
    title="S3 buckets log every request (server access logging)",
    api_calls=(LIST_BUCKETS, GET_LOCATION, GET_LOGGING),
    resource_kind="bucket",
)
def bucket_access_logging(snapshot: S3Snapshot) -> list[Row]:
    rows = []
    for bucket in snapshot.buckets:
        outcome = bucket.settings[GET_LOGGING.operation]
        if isinstance(outcome, Failed):
            rows.append(_unreadable(bucket, outcome, logging_enabled=None, target_bucket=None))
            continue
        enabled = outcome.value.get("LoggingEnabled") if isinstance(outcome, Found) else None
        if enabled:
            rows.append(
                _row(
                    bucket,
                    "pass",
                    f"access logs go to {enabled.get('TargetBucket')}",
                    logging_enabled=True,
                    target_bucket=enabled.get("TargetBucket"),
                )
            )
        else:
            rows.append(
                _row(bucket, "fail", "server access logging off", logging_enabled=False, target_bucket=None)
            )
    return rows


# Public-policy probes: reads, writes and listing (S3's "bad actions": s3:Get*, s3:List*, s3:Put*,
# s3:Delete*, s3:AbortMultipartUpload, s3:RestoreObject), plus every action the policy names.
PUBLIC_PROBE_ACTIONS = S3_PROBE_ACTIONS


def _public_fields(
    has_policy: bool | None, statements: list[str] | None, restrict: bool | None, block: bool | None
) -> dict[str, Any]:
    return {
        "has_policy": has_policy,
        "public_statements": ",".join(statements) if statements else ("" if statements is not None else None),
        "restrict_public_buckets": restrict,
        "block_public_policy": block,
    }


@SERVICE.evidence_type(
    "aws.s3.bucket_policy_public",
    title="S3 bucket policies grant nothing to the public (unless Block Public Access restricts it)",
    api_calls=(LIST_BUCKETS, GET_LOCATION, GET_POLICY, GET_PUBLIC_ACCESS_BLOCK, GET_ACCOUNT_PAB.optional()),
    resource_kind="bucket",
)
def bucket_policy_public(snapshot: S3Snapshot) -> list[Row]:
    """A bucket fails when its policy grants access to the public in S3's sense ("The meaning of
    'public'", S3 User Guide: an Allow to ``*`` not limited to fixed principals, accounts, VPCs or
    CIDRs, and not taken back by a Deny) and RestrictPublicBuckets, on the bucket or the account, does
    not restrict it. RestrictPublicBuckets is what neutralises a public policy ("restricts access to
    ... only AWS service principals and authorized users within the bucket owner's account");
    BlockPublicPolicy only refuses *new* public policies ("doesn't affect existing bucket policies"),
    so it is reported but does not make an existing public policy pass."""
    account = _flags(snapshot.account_public_access_block)
    rows = []
    for bucket in snapshot.buckets:
        bucket_flags = _flags(bucket.settings[GET_PUBLIC_ACCESS_BLOCK.operation])
        restrict_by = [
            where
            for where, flags in (("bucket", bucket_flags), ("account", account))
            if flags is not None and flags["RestrictPublicBuckets"]
        ]
        known = [flags for flags in (bucket_flags, account) if flags is not None]
        restrict = bool(restrict_by) if (restrict_by or len(known) == 2) else None
        block = True if any(f["BlockPublicPolicy"] for f in known) else (False if len(known) == 2 else None)
        read = _read_policy(bucket)
        if isinstance(read, Failed):
            rows.append(
                _unreadable(bucket, read, **_public_fields(None, None, None, None), publicly_accessible=None)
            )
            continue
        if isinstance(read, Absent):
            rows.append(
                _row(
                    bucket,
                    "pass",
                    "no bucket policy: nothing granted to the public by policy",
                    **_public_fields(False, [], restrict, block),
                    publicly_accessible=False,
                )
            )
            continue
        if isinstance(read, str):
            rows.append(
                _row(
                    bucket, "error", read, **_public_fields(True, None, None, None), publicly_accessible=None
                )
            )
            continue
        assert isinstance(read, Found)
        try:
            public = iam_eval.public_statements(
                read.value, "s3", _probe_resources(read.value, bucket.name), PUBLIC_PROBE_ACTIONS
            )
        except iam_eval.PolicyError as exc:
            rows.append(
                _row(
                    bucket,
                    "error",
                    f"bucket policy cannot be evaluated: {exc}",
                    **_public_fields(True, None, None, None),
                    publicly_accessible=None,
                )
            )
            continue
        fields = _public_fields(True, public, restrict, block)
        if not public:
            rows.append(
                _row(
                    bucket,
                    "pass",
                    "bucket policy grants nothing to the public",
                    **fields,
                    publicly_accessible=False,
                )
            )
            continue
        named = ", ".join(public)
        if restrict:
            rows.append(
                _row(
                    bucket,
                    "pass",
                    f"policy statements {named} are public, but RestrictPublicBuckets on the "
                    f"{' and '.join(restrict_by)} limits them to the account and AWS services",
                    **fields,
                    publicly_accessible=False,
                )
            )
            continue
        if restrict is None:
            failed = next(
                o
                for o in (
                    bucket.settings[GET_PUBLIC_ACCESS_BLOCK.operation],
                    snapshot.account_public_access_block,
                )
                if isinstance(o, Failed)
            )
            rows.append(
                _row(
                    bucket,
                    "error",
                    f"policy statements {named} are public; whether Block Public Access restricts them "
                    f"is unknown: {failed_reason(failed)}",
                    **fields,
                    publicly_accessible=None,
                )
            )
            continue
        note = " (BlockPublicPolicy is on, but it only refuses new public policies)" if block else ""
        rows.append(
            _row(
                bucket,
                "fail",
                f"policy statements {named} grant access to the public; RestrictPublicBuckets is off on "
                f"the bucket and the account{note}",
                **fields,
                publicly_accessible=True,
            )
        )
    return rows

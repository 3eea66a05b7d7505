"""S3: default encryption, versioning, replication, Object Lock, public access blocks (bucket and
account), secure-transport policy, lifecycle and server access logging.

``fetch`` reads every bucket's settings once (bounded concurrency); each evidence type below is a pure
function of the snapshot, fed recorded responses in the unit tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from collectors.aws.core import (
    Absent,
    AwsClients,
    CallRecorder,
    Failed,
    Found,
    Outcome,
    Snapshot,
    failed_reason,
    fan_out,
)
from collectors.aws.runner import AwsService, register_service
from evidence.canonical import utcnow
from evidence.registry import ApiPermission, Row, evidence_type

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


def _fetch_bucket(clients: AwsClients, region: str, recorder: CallRecorder, bucket: Bucket) -> Bucket:
    client = clients.client("s3", region)
    for api in BUCKET_CALLS:
        bucket.settings[api.operation] = recorder.call(client, api, region, Bucket=bucket.name)
    return bucket


def fetch(
    clients: AwsClients, region: str, target: dict[str, str], recorder: CallRecorder, concurrency: int
) -> S3Snapshot:
    snapshot = S3Snapshot(target=target, observed_at=utcnow())
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


register_service(AwsService(name=COLLECTOR, scope="global", fetch=fetch))


# ---------------------------------------------------------------------------------------------------
# Pure mappings: snapshot -> rows. A row names its resource and says pass / fail / error, and why.


def _row(bucket: Bucket, status: str, reason: str, **fields: Any) -> Row:
    return {"resource": bucket.name, "region": bucket.region, "status": status, "reason": reason, **fields}


def _unreadable(bucket: Bucket, outcome: Failed, **nulls: Any) -> Row:
    return _row(bucket, "error", failed_reason(outcome), **nulls)


@evidence_type(
    "aws.s3.bucket_encryption",
    title="S3 buckets encrypt objects at rest by default (SSE-S3 or SSE-KMS)",
    collector=COLLECTOR,
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


@evidence_type(
    "aws.s3.bucket_versioning",
    title="S3 buckets keep object versions (versioning enabled)",
    collector=COLLECTOR,
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


@evidence_type(
    "aws.s3.bucket_replication",
    title="S3 buckets replicate to another region (cross-region replication)",
    collector=COLLECTOR,
    api_calls=(LIST_BUCKETS, GET_LOCATION, GET_REPLICATION),
    resource_kind="bucket",
)
def bucket_replication(snapshot: S3Snapshot) -> list[Row]:
    regions = {b.name: b.region for b in snapshot.buckets}
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


@evidence_type(
    "aws.s3.bucket_object_lock",
    title="S3 buckets holding evidence, backups or logs are immutable (Object Lock)",
    collector=COLLECTOR,
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


@evidence_type(
    "aws.s3.public_access_block",
    title="S3 buckets block public access (bucket settings, or the account's)",
    collector=COLLECTOR,
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


@evidence_type(
    "aws.s3.account_public_access_block",
    title="The account blocks S3 public access for every bucket",
    collector=COLLECTOR,
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


def _denies_insecure_transport(policy: dict[str, Any]) -> bool:
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    for st in statements:
        if st.get("Effect") != "Deny":
            continue
        principal = st.get("Principal")
        if principal not in ("*", {"AWS": "*"}):
            continue
        actions = st.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(a in ("s3:*", "*", "s3:GetObject") for a in actions):
            continue
        condition = st.get("Condition", {}).get("Bool", {})
        if str(condition.get("aws:SecureTransport", "")).lower() == "false":
            return True
    return False


@evidence_type(
    "aws.s3.bucket_secure_transport",
    title="S3 bucket policies deny requests not made over TLS (aws:SecureTransport)",
    collector=COLLECTOR,
    api_calls=(LIST_BUCKETS, GET_LOCATION, GET_POLICY),
    resource_kind="bucket",
)
def bucket_secure_transport(snapshot: S3Snapshot) -> list[Row]:
    rows = []
    for bucket in snapshot.buckets:
        outcome = bucket.settings[GET_POLICY.operation]
        if isinstance(outcome, Failed):
            rows.append(_unreadable(bucket, outcome, has_policy=None, denies_insecure_transport=None))
        elif isinstance(outcome, Absent):
            rows.append(
                _row(
                    bucket,
                    "fail",
                    "no bucket policy: plain HTTP is allowed",
                    has_policy=False,
                    denies_insecure_transport=False,
                )
            )
        else:
            try:
                policy = json.loads(outcome.value.get("Policy") or "{}")
            except json.JSONDecodeError:
                rows.append(
                    _row(
                        bucket,
                        "error",
                        "bucket policy is not valid JSON",
                        has_policy=True,
                        denies_insecure_transport=None,
                    )
                )
                continue
            ok = _denies_insecure_transport(policy)
            reason = (
                "policy denies aws:SecureTransport=false"
                if ok
                else "policy does not deny requests without TLS"
            )
            rows.append(
                _row(bucket, "pass" if ok else "fail", reason, has_policy=True, denies_insecure_transport=ok)
            )
    return rows


@evidence_type(
    "aws.s3.bucket_lifecycle",
    title="S3 buckets apply a retention (lifecycle expiration) rule",
    collector=COLLECTOR,
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


@evidence_type(
    "aws.s3.bucket_access_logging",
    title="S3 buckets log every request (server access logging)",
    collector=COLLECTOR,
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

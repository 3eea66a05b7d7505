"""Sample S3 estate: one compliant bucket and one non-compliant bucket (or more) per check."""

from __future__ import annotations

import json
from typing import Any

from collectors.aws.demo import Expectations, Expected

ACCOUNT = "123456789012"  # moto's default account


def _secure_transport_policy(bucket: str, *, log_delivery: bool = False) -> str:
    extra = []
    if log_delivery:
        extra.append(
            {
                "Sid": "S3ServerAccessLogsPolicy",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        )
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                *extra,
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        }
    )


def seed(session: Any, regions: tuple[str, ...]) -> Expectations:
    home, other = regions[0], (regions[1] if len(regions) > 1 else "eu-west-1")
    s3 = session.client("s3", home)
    s3_other = session.client("s3", other)

    def create(name: str, region: str = home, lock: bool = False) -> None:
        client = s3 if region == home else s3_other
        params: dict[str, Any] = {"Bucket": name, "ObjectLockEnabledForBucket": lock}
        if region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        client.create_bucket(**params)

    # A well-run bucket: every control passes.
    good, replica, logs = "demo-evidence-good", "demo-evidence-replica", "demo-access-logs"
    create(good, lock=True)
    create(replica, region=other, lock=True)
    create(logs, lock=True)
    # Buckets that each miss something.
    plain = "demo-plain-bucket"  # nothing configured at all
    kms_no_lock = "demo-kms-same-region"  # KMS-encrypted, replicates within its own region, no lock
    suspended = "demo-versioning-suspended"
    create(plain)
    create(kms_no_lock)
    create(suspended)

    for name in (good, replica, logs):
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration=dict.fromkeys(
                ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
            ),
        )
        s3.put_bucket_policy(
            Bucket=name, Policy=_secure_transport_policy(name, log_delivery=name in (logs, replica))
        )
        s3.put_object_lock_configuration(
            Bucket=name,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 400}},
            },
        )
        s3.put_bucket_lifecycle_configuration(
            Bucket=name,
            LifecycleConfiguration={
                "Rules": [
                    {
                        "ID": "retention",
                        "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "Expiration": {"Days": 2555},
                        "NoncurrentVersionExpiration": {"NoncurrentDays": 90},
                    }
                ]
            },
        )
    for name in (good, replica, logs):  # after the log bucket's policy lets the logging service in
        s3.put_bucket_logging(
            Bucket=name,
            BucketLoggingStatus={
                # Access logs must stay in the bucket's own region: the replica logs to itself.
                "LoggingEnabled": {
                    "TargetBucket": replica if name == replica else logs,
                    "TargetPrefix": f"{name}/",
                }
            },
        )
    for name in (good, replica):
        # Replication: good -> replica (other region); replica -> good (back again, other region).
        dest = replica if name == good else good
        s3.put_bucket_replication(
            Bucket=name,
            ReplicationConfiguration={
                "Role": f"arn:aws:iam::{ACCOUNT}:role/replication",
                "Rules": [
                    {
                        "ID": "dr",
                        "Priority": 1,
                        "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "DeleteMarkerReplication": {"Status": "Disabled"},
                        "Destination": {"Bucket": f"arn:aws:s3:::{dest}"},
                    }
                ],
            },
        )
    s3.put_bucket_replication(
        Bucket=logs,
        ReplicationConfiguration={
            "Role": f"arn:aws:iam::{ACCOUNT}:role/replication",
            "Rules": [
                {
                    "ID": "dr",
                    "Priority": 1,
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "DeleteMarkerReplication": {"Status": "Disabled"},
                    "Destination": {"Bucket": f"arn:aws:s3:::{replica}"},
                }
            ],
        },
    )

    # The partly-compliant ones.
    s3.put_bucket_encryption(
        Bucket=kms_no_lock,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": "alias/demo",
                    },
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    s3.put_bucket_versioning(Bucket=kms_no_lock, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_replication(
        Bucket=kms_no_lock,
        ReplicationConfiguration={
            "Role": f"arn:aws:iam::{ACCOUNT}:role/replication",
            "Rules": [
                {
                    "ID": "same",
                    "Priority": 1,
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "DeleteMarkerReplication": {"Status": "Disabled"},
                    "Destination": {"Bucket": f"arn:aws:s3:::{logs}"},
                }
            ],
        },
    )
    # A policy that exists but allows plain HTTP (only an unrelated statement).
    s3.put_bucket_policy(
        Bucket=kms_no_lock,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:DeleteBucket",
                        "Resource": f"arn:aws:s3:::{kms_no_lock}",
                    },
                    # Anyone may read its objects, and nothing restricts that: a public bucket.
                    {
                        "Sid": "PublicRead",
                        "Effect": "Allow",
                        "Principal": {"AWS": "*"},
                        "Action": ["s3:GetObject"],
                        "Resource": f"arn:aws:s3:::{kms_no_lock}/*",
                    },
                ],
            }
        ),
    )
    # Public access partly blocked: two of four flags.
    s3.put_public_access_block(
        Bucket=kms_no_lock,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False,
        },
    )
    # Lifecycle with only a transition: retention is not enforced.
    s3.put_bucket_lifecycle_configuration(
        Bucket=kms_no_lock,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "cold",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}],
                }
            ]
        },
    )
    s3.put_bucket_versioning(Bucket=suspended, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_versioning(Bucket=suspended, VersioningConfiguration={"Status": "Suspended"})
    s3.put_bucket_encryption(
        Bucket=suspended,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    # A public-read policy neutralised by the bucket's RestrictPublicBuckets (the other three flags off,
    # so the public access block check still fails it).
    s3.put_bucket_policy(
        Bucket=suspended,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "PublicRead",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{suspended}/*",
                    }
                ],
            }
        ),
    )
    s3.put_public_access_block(
        Bucket=suspended,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": False,
            "IgnorePublicAcls": False,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": True,
        },
    )
    # No account-level public access block at all: the account check fails.

    compliant = {good, replica, logs}
    every = compliant | {plain, kms_no_lock, suspended}
    return {
        "aws.s3.bucket_encryption": Expected(compliant | {kms_no_lock, suspended}, {plain}),
        "aws.s3.bucket_versioning": Expected(compliant | {kms_no_lock}, {plain, suspended}),
        "aws.s3.bucket_replication": Expected({good, replica, logs}, {plain, kms_no_lock, suspended}),
        "aws.s3.bucket_object_lock": Expected(compliant, {plain, kms_no_lock, suspended}),
        "aws.s3.public_access_block": Expected(compliant, {plain, kms_no_lock, suspended}),
        "aws.s3.account_public_access_block": Expected(set(), {ACCOUNT}),
        "aws.s3.bucket_secure_transport": Expected(compliant, {plain, kms_no_lock, suspended}),
        "aws.s3.bucket_lifecycle": Expected(compliant, {plain, kms_no_lock, suspended}),
        "aws.s3.bucket_access_logging": Expected(compliant, every - compliant),
        "aws.s3.bucket_policy_public": Expected(compliant | {plain, suspended}, {kms_no_lock}),
    }

"""Sample CloudTrail estate: a compliant multi-region trail, a multi-region trail that is stopped
(and validates nothing, logging writes only), and a single-region trail in the second region that the
compliant trail makes redundant (not_applicable there).

The emulator cannot represent an S3 or digest delivery error (GetTrailStatus never reports one), and
a region with no trail at all cannot coexist with a multi-region trail: the unit tests cover those.
"""

from __future__ import annotations

from typing import Any

from collectors.aws.demo import Expectations, Expected

BUCKET = "demo-cloudtrail-logs"


def seed(session: Any, regions: tuple[str, ...]) -> Expectations:
    home, other = regions[0], (regions[1] if len(regions) > 1 else "eu-west-1")
    s3 = session.client("s3", home)
    params: dict[str, Any] = {"Bucket": BUCKET}
    if home != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": home}
    s3.create_bucket(**params)
    # A decent log bucket, so the S3 checks do not drown in it.
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(
        Bucket=BUCKET,
        PublicAccessBlockConfiguration=dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
        ),
    )
    kms = session.client("kms", home)
    key = kms.create_key(Description="demo CloudTrail log key")["KeyMetadata"]
    kms.enable_key_rotation(KeyId=key["KeyId"])

    trail = session.client("cloudtrail", home)
    good = trail.create_trail(
        Name="demo-org-trail",
        S3BucketName=BUCKET,
        S3KeyPrefix="org",
        IsMultiRegionTrail=True,
        IncludeGlobalServiceEvents=True,
        EnableLogFileValidation=True,
        KmsKeyId=key["Arn"],
    )["TrailARN"]
    trail.put_event_selectors(
        TrailName=good, EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}]
    )
    trail.start_logging(Name=good)

    stopped = trail.create_trail(
        Name="demo-stopped-trail", S3BucketName=BUCKET, S3KeyPrefix="stopped", IsMultiRegionTrail=True
    )["TrailARN"]
    trail.put_event_selectors(
        TrailName=stopped, EventSelectors=[{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}]
    )

    trail_other = session.client("cloudtrail", other)
    regional = trail_other.create_trail(
        Name="demo-regional-trail", S3BucketName=BUCKET, S3KeyPrefix="regional", EnableLogFileValidation=True
    )["TrailARN"]
    trail_other.put_event_selectors(
        TrailName=regional, EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}]
    )
    trail_other.start_logging(Name=regional)

    # Both multi-region trails appear in every region's record, judged alike; the regional trail is
    # not_applicable (in neither set) because the compliant trail covers its region.
    return {"aws.cloudtrail.trails": Expected({good}, {stopped})}

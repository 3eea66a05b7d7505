"""The demo profile's AWS side in docker-compose.yml: the sample estate, the evidence blob bucket
(Object Lock, COMPLIANCE mode) and the events queue, in the emulator at the given endpoint.

    python -m collectors.aws.demo.compose http://moto:5000
"""

from __future__ import annotations

import sys

from collectors.aws.demo import seed_estate

BUCKET = "evidence-blobs"
QUEUE = "evidence-events"


def prepare(endpoint_url: str, regions: tuple[str, ...] = ("us-east-1", "eu-west-1")) -> None:
    import boto3

    seed_estate(endpoint_url, regions)
    session = boto3.Session(aws_access_key_id="demo", aws_secret_access_key="demo", region_name=regions[0])
    s3 = session.client("s3", endpoint_url=endpoint_url)
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=BUCKET,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 400}},
        },
    )
    session.client("sqs", endpoint_url=endpoint_url).create_queue(QueueName=QUEUE)


if __name__ == "__main__":
    prepare(sys.argv[1] if len(sys.argv) > 1 else "http://moto:5000")
    print("demo estate, blob bucket and events queue ready")

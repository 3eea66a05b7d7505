"""Several accounts and regions in one run: roles are assumed per account, each target is separate."""

from __future__ import annotations

import json

import boto3
import pytest

from collectors.aws.client import AwsAccount, AwsConfig
from evidence.records import RunContext
from tests.support.aws_family import collect
from tests.support.servers import MotoServer

pytestmark = pytest.mark.integration

ACCOUNTS = {"111111111111": "prod-logs", "222222222222": "prod-data"}


def _session_for(moto: MotoServer, account: str) -> boto3.Session:
    sts = boto3.client("sts", endpoint_url=moto.url, region_name="us-east-1")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/evidence-reader", RoleSessionName="seed")[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )


def test_each_account_is_collected_through_its_role(moto: MotoServer) -> None:
    moto.reset()
    for account, bucket in ACCOUNTS.items():
        s3 = _session_for(moto, account).client("s3", endpoint_url=moto.url)
        s3.create_bucket(Bucket=f"{bucket}-bucket")
    config = AwsConfig(
        endpoint_url=moto.url,
        regions=("us-east-1", "eu-west-1"),
        accounts=tuple(
            AwsAccount(name=name, role_arn=f"arn:aws:iam::{account}:role/evidence-reader")
            for account, name in ACCOUNTS.items()
        ),
    )
    records = collect(
        config, RunContext("multi-account"), service_names=["aws.s3"], types={"aws.s3.bucket_versioning"}
    )
    by_account = {r.draft.target["account"]: r for r in records}
    assert set(by_account) == set(ACCOUNTS)
    for account, name in ACCOUNTS.items():
        rows = json.loads(by_account[account].payload)["rows"]
        assert [row["resource"] for row in rows] == [f"{name}-bucket"], (
            "an account's record holds only its own buckets"
        )
        assert by_account[account].draft.status == "fail"  # versioning never enabled


def test_regional_services_run_once_per_region(moto: MotoServer) -> None:
    moto.reset()
    from collectors.aws import FAMILY

    regional = [name for name, s in FAMILY.source_map().items() if s.scope == "regional"]
    if not regional:
        pytest.skip("no regional AWS collector registered")
    config = AwsConfig(endpoint_url=moto.url, regions=("us-east-1", "eu-west-1", "ap-southeast-2"))
    units = FAMILY.plan(config, sources=[regional[0]])
    assert sorted(u.scope_dict["region"] for u in units) == ["ap-southeast-2", "eu-west-1", "us-east-1"]
    assert {u.scope_dict["region"] for u in FAMILY.plan(config, sources=["aws.s3"])} == {"global"}

"""AWS events (EventBridge: AWS Config, AWS Backup) as collection requests."""

from __future__ import annotations

import pytest

from collectors.aws import FAMILY
from collectors.aws.client import AwsConfig
from collectors.aws.events import request_for
from evidence.family import EventRejected

CONFIG_EVENT = {
    "version": "0",
    "source": "aws.config",
    "detail-type": "Config Configuration Item Change",
    "account": "123456789012",
    "region": "eu-west-1",
    "detail": {
        "configurationItem": {
            "resourceType": "AWS::S3::Bucket",
            "resourceName": "payments-logs",
            "ARN": "arn:aws:s3:::payments-logs",
            "awsAccountId": "123456789012",
            "awsRegion": "eu-west-1",
        }
    },
}
BACKUP_EVENT = {
    "source": "aws.backup",
    "detail-type": "Backup Job State Change",
    "account": "123456789012",
    "region": "eu-west-1",
    "detail": {"state": "FAILED", "resourceArn": "arn:aws:rds:eu-west-1:123456789012:db:orders"},
}
CONFIG = AwsConfig(regions=("us-east-1", "eu-west-1"))


def test_a_config_change_collects_its_resource_with_its_collector() -> None:
    (unit,) = FAMILY.units_for_event(CONFIG, CONFIG_EVENT)
    assert unit.source == "aws.s3" and unit.scope_dict["region"] == "global"
    assert unit.resources == ("arn:aws:s3:::payments-logs",) and unit.types == ()


def test_a_backup_job_collects_recent_jobs_for_that_resource_in_its_region() -> None:
    (unit,) = FAMILY.units_for_event(CONFIG, BACKUP_EVENT)
    assert unit.types == ("aws.backup.recent_jobs",)
    assert unit.scope_dict["region"] == "eu-west-1"
    assert unit.resources == ("arn:aws:rds:eu-west-1:123456789012:db:orders",)


def test_the_neutral_shape_names_types_scope_and_resources() -> None:
    event = {
        "family": "aws",
        "evidence_types": ["aws.rds.storage_encryption"],
        "scope": {"region": "us-east-1"},
        "resources": ["arn:aws:rds:us-east-1:1:db:x"],
    }
    (unit,) = FAMILY.units_for_event(CONFIG, event)
    assert unit.types == ("aws.rds.storage_encryption",) and unit.scope_dict["region"] == "us-east-1"


@pytest.mark.parametrize(
    ("event", "why"),
    [
        (
            {**CONFIG_EVENT, "detail": {"configurationItem": {"resourceType": "AWS::Lambda::Function"}}},
            "not collected",
        ),
        ({**CONFIG_EVENT, "detail": "oops"}, "no 'detail'"),
        ({**BACKUP_EVENT, "detail": {"state": "FAILED"}}, "names no resourceArn"),
        ({**BACKUP_EVENT, "detail-type": "Something Else"}, "not one the AWS collectors act on"),
        ({"family": "aws", "evidence_types": ["aws.s3.nope"]}, "unknown aws evidence type"),
        ({"family": "aws", "evidence_types": "aws.s3"}, "must be a list"),
        (
            {
                **CONFIG_EVENT,
                "region": "ap-south-1",
                "detail": {
                    "configurationItem": {
                        **CONFIG_EVENT["detail"]["configurationItem"],
                        "resourceType": "AWS::RDS::DBInstance",
                        "awsRegion": "ap-south-1",
                    }
                },
            },
            "no configured AWS account/region",
        ),
    ],
)
def test_what_cannot_be_collected_is_rejected_with_the_reason(event, why: str) -> None:
    with pytest.raises(EventRejected, match=why):
        FAMILY.units_for_event(CONFIG, event)


def test_request_for_is_pure() -> None:
    request = request_for(CONFIG_EVENT)
    assert request.sources == ("aws.s3",) and request.account_id == "123456789012"

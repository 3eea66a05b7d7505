"""AWS events as collection requests: what AWS Config and AWS Backup send through EventBridge.

Pure functions from an event to (collectors, evidence types, scope, resources); the family turns them
into units. An event about a resource type no collector covers is rejected with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evidence.family import EventRejected

# AWS Config resource type -> the collector that reads it.
CONFIG_RESOURCE_SOURCES = {
    "AWS::S3::Bucket": "aws.s3",
    "AWS::RDS::DBInstance": "aws.rds",
    "AWS::RDS::DBCluster": "aws.rds",
    "AWS::RDS::DBSnapshot": "aws.rds",
    "AWS::RDS::DBClusterSnapshot": "aws.rds",
    "AWS::IAM::User": "aws.iam",
    "AWS::IAM::AccountPasswordPolicy": "aws.iam",
    "AWS::KMS::Key": "aws.kms",
    "AWS::EC2::SecurityGroup": "aws.ec2",
    "AWS::CloudTrail::Trail": "aws.cloudtrail",
    "AWS::Logs::LogGroup": "aws.logs",
    "AWS::CloudWatch::Alarm": "aws.cloudwatch",
    "AWS::ElasticLoadBalancingV2::TargetGroup": "aws.elbv2",
    "AWS::ACM::Certificate": "aws.acm",
    "AWS::SecretsManager::Secret": "aws.secretsmanager",
    "AWS::Backup::BackupPlan": "aws.backup",
    "AWS::Backup::BackupVault": "aws.backup",
    "AWS::WAFv2::WebACL": "aws.wafv2",
    "AWS::CloudFront::Distribution": "aws.cloudfront",
    "AWS::Route53::HostedZone": "aws.route53",
}
BACKUP_DETAIL_TYPES = ("Backup Job State Change", "Recovery Point State Change", "Copy Job State Change")


@dataclass(frozen=True)
class AwsRequest:
    sources: tuple[str, ...]
    types: tuple[str, ...]  # empty: every type of the sources
    account_id: str | None
    region: str | None
    resources: tuple[str, ...]


def is_eventbridge(event: Mapping[str, Any]) -> bool:
    return str(event.get("source", "")).startswith("aws.") and "detail-type" in event


def request_for(event: Mapping[str, Any]) -> AwsRequest:
    """What an EventBridge event from AWS Config or AWS Backup asks to collect."""
    source, detail_type = event.get("source"), event.get("detail-type")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise EventRejected(f"{source} event {detail_type!r} has no 'detail' object")
    account = str(event.get("account") or "") or None
    region = str(event.get("region") or "") or None
    if source == "aws.config" and detail_type == "Config Configuration Item Change":
        item = detail.get("configurationItem")
        if not isinstance(item, Mapping):
            raise EventRejected("AWS Config event without a configurationItem")
        kind = item.get("resourceType")
        collector = CONFIG_RESOURCE_SOURCES.get(str(kind))
        if collector is None:
            raise EventRejected(f"AWS Config resource type {kind!r} is not collected by any AWS collector")
        resource = item.get("ARN") or item.get("resourceName") or item.get("resourceId")
        if not resource:
            raise EventRejected(f"AWS Config event for {kind} names no resource")
        return AwsRequest(
            (collector,),
            (),
            str(item.get("awsAccountId") or account or "") or None,
            str(item.get("awsRegion") or region or "") or None,
            (str(resource),),
        )
    if source == "aws.backup" and detail_type in BACKUP_DETAIL_TYPES:
        resource = detail.get("resourceArn")
        if not resource:
            raise EventRejected(f"AWS Backup event {detail_type!r} names no resourceArn")
        return AwsRequest(("aws.backup",), ("aws.backup.recent_jobs",), account, region, (str(resource),))
    raise EventRejected(f"AWS event {source}/{detail_type!r} is not one the AWS collectors act on")

"""AWS collectors. Importing this package registers every AWS service and evidence type; the modules
import boto3 only inside functions, so this stays cheap."""

from collectors.aws import (  # noqa: F401
    acm,
    backup,
    budgets,
    cloudfront,
    cloudtrail,
    cloudwatch,
    ec2,
    elbv2,
    iam,
    kms,
    logs,
    rds,
    route53,
    s3,
    secretsmanager,
    wafv2,
)

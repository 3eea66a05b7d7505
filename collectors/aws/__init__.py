"""AWS collectors. Importing this package registers every AWS service and evidence type; the modules
import boto3 only inside functions, so this stays cheap."""

from collectors.aws import (  # noqa: F401
    backup,
    budgets,
    cloudfront,
    cloudwatch,
    ec2,
    elbv2,
    logs,
    rds,
    route53,
    s3,
    wafv2,
)

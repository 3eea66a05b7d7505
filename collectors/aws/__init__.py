"""AWS collectors. Importing this package registers every AWS service and evidence type; the modules
import boto3 only inside functions, so this stays cheap."""

from collectors.aws import (  # noqa: F401
    budgets,
    cloudfront,
    cloudwatch,
    ec2,
    elbv2,
    logs,
    route53,
    s3,
    wafv2,
)

"""AWS collectors. Importing this package registers every AWS service and evidence type; the modules
import boto3 only inside functions, so this stays cheap."""

from collectors.aws import s3  # noqa: F401

"""The AWS collector family (entry point ``aws = "collectors.aws:FAMILY"``).

Importing this package is cheap: ``FAMILY.load()`` imports the service modules, which register their
sources and evidence types and import boto3 only inside functions.
"""

from collectors.aws.family import AWS as FAMILY

__all__ = ["FAMILY"]

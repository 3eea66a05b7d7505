"""The HTTPS endpoints collector family (entry point ``https = "collectors.https:FAMILY"``)."""

from collectors.https.family import HTTPS as FAMILY

__all__ = ["FAMILY"]

"""The Sentry collector family (entry point ``sentry = "collectors.sentry:FAMILY"``)."""

from collectors.sentry.family import SENTRY as FAMILY

__all__ = ["FAMILY"]

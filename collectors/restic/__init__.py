"""The restic collector family (entry point ``restic = "collectors.restic:FAMILY"``)."""

from collectors.restic.family import RESTIC as FAMILY

__all__ = ["FAMILY"]

"""The pgBackRest collector family (entry point ``pgbackrest = "collectors.pgbackrest:FAMILY"``)."""

from collectors.pgbackrest.family import PGBACKREST as FAMILY

__all__ = ["FAMILY"]

"""DR drills as a collector family (entry point ``drill = "collectors.drill:FAMILY"``): restore
drills for PostgreSQL from pgBackRest, ``pg_basebackup`` and restic, with scratch clusters that are
always cleaned up (``collectors.pgscratch``)."""

from collectors.drill.family import DRILL as FAMILY

__all__ = ["FAMILY"]

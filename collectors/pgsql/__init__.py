"""The PostgreSQL collector family (entry point ``postgres = "collectors.pgsql:FAMILY"``)."""

from collectors.pgsql.family import POSTGRES as FAMILY

__all__ = ["FAMILY"]

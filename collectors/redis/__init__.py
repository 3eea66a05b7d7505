"""The Redis collector family (entry point ``redis = "collectors.redis:FAMILY"``)."""

from collectors.redis.family import REDIS as FAMILY

__all__ = ["FAMILY"]

"""Canonical JSON: the one byte form that is hashed, signed and stored.

Sorted keys, no insignificant whitespace, UTF-8, no NaN/Infinity (RFC 8785's shape for the values
we produce: strings, integers, booleans, null, arrays, objects, and floats rendered by ``repr``).
Datetimes are serialised by the caller (ISO 8601, UTC, ``Z``) before they get here.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any


def canonical_bytes(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def utc_iso(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a ``Z``; naive datetimes are refused."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: evidence times must carry a timezone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utcnow() -> datetime:
    return datetime.now(UTC)

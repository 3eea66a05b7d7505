"""Timestamps as AWS APIs hand them over, made comparable with ``snapshot.observed_at``.

botocore parses most timestamps into aware datetimes, but some arrive naive, as epoch numbers (a
JSON protocol service answering with numbers) or as ISO strings (CloudTrail's ``TimeLoggingStarted``).
Pure helpers: no I/O, used by the mapping functions and their tests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from evidence.canonical import utc_iso


def as_utc(value: Any) -> datetime | None:
    """An aware UTC datetime, or None for a missing or unparseable value (never a guess)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return as_utc(parsed)
    return None


def iso(value: Any) -> str | None:
    moment = as_utc(value)
    return utc_iso(moment) if moment is not None else None

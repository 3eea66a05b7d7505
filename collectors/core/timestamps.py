"""Timestamps as sources hand them over, made comparable with ``snapshot.observed_at``.

SDKs parse most timestamps into aware datetimes, but some arrive naive, as epoch numbers (a
JSON protocol service answering with numbers) or as ISO strings (CloudTrail's ``TimeLoggingStarted``).
Pure helpers: no I/O, used by the mapping functions and their tests. A value that cannot be read as a
time (garbage, out of range) gives ``None``, never an exception: one bad timestamp must not cost the
evidence of every other resource.
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
        try:
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except (OverflowError, ValueError):  # an offset that pushes year 1 or 9999 out of range
            return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
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

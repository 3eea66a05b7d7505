"""What one call to a source gave: ``Found`` (the value), ``Absent`` (the source said the setting or
resource does not exist: a finding, e.g. no default encryption) or ``Failed`` (could not read: access
denied, throttled after retries, unavailable, unreachable, or another error the source named).
Exceptions that are not the source's answers (bugs) are never turned into outcomes: they propagate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from evidence.records import SourceError

FailureKind = Literal["access_denied", "throttled", "unavailable", "unreachable", "client_error"]


@dataclass(frozen=True)
class Found:
    value: Any


@dataclass(frozen=True)
class Absent:
    """The source answered that the setting or resource does not exist (a declared not-found code)."""

    code: str


@dataclass(frozen=True)
class Failed:
    kind: FailureKind
    error: SourceError


Outcome = Found | Absent | Failed


def uniform_failure(outcomes: Iterable[Outcome]) -> SourceError | None:
    """If every call of one operation failed the same way (e.g. AccessDenied everywhere), that is a
    failure to collect the whole evidence type, not a finding about each resource."""
    listed = list(outcomes)
    if not listed or not all(isinstance(o, Failed) for o in listed):
        return None
    first = listed[0]
    assert isinstance(first, Failed)
    if all(isinstance(o, Failed) and o.error.code == first.error.code for o in listed):
        return first.error
    return None


def failed_reason(outcome: Failed) -> str:
    """The reason of a row whose resource could not be read."""
    text = f"could not read: {outcome.error.code} on {outcome.error.operation}"
    if outcome.error.permission:
        text += f" (needs {outcome.error.permission})"
    return text

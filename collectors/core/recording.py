"""The call log behind every piece of evidence: each call a collector makes to its source, with the
service, operation, parameters (never secrets), region, request id, HTTP status and attempts.

Families subclass :class:`CallRecorder` with a ``call`` method that makes one call through their SDK
and sorts the answer at the boundary into an outcome (``collectors.core.outcomes``); the log is kept
here. A record's provenance summarises the calls of its evidence type; the full log is its
"api-calls" blob.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from evidence.records import ApiCall
from evidence.registry import ApiPermission

# Parameter names whose values are never recorded (collectors call read-only metadata APIs; be sure).
# A family whose API names other credentials (Vault's ``secret_id``) passes its own pattern to scrub().
SECRET_PARAM = re.compile(
    r"(password|secretstring|secretbinary|private_?key|passphrase|credential|api_?key|authorization"
    r"|access_?token|refresh_?token|client_?secret|unseal)",
    re.I,
)
_TAG = re.compile(r"<[^>]*>")
MAX_PARAM_CHARS = 256


def scrub(params: Mapping[str, Any], secret: re.Pattern[str] = SECRET_PARAM) -> dict[str, Any]:
    """Parameters fit for the call log: secrets masked, long values cut."""
    clean: dict[str, Any] = {}
    for key, value in params.items():
        if secret.search(str(key)):
            clean[key] = "***"
        elif isinstance(value, str | int | float | bool) or value is None:
            too_long = isinstance(value, str) and len(value) > MAX_PARAM_CHARS
            clean[key] = value[: MAX_PARAM_CHARS - 3] + "..." if too_long else value  # type: ignore[index]
        else:
            clean[key] = repr(value)[:MAX_PARAM_CHARS]
    return clean


def one_line(message: str, limit: int = 500) -> str:
    """An error message fit for a record: a server's HTML error page (an emulator's 404, a proxy's
    502) becomes its text on one line, bounded."""
    text = " ".join(_TAG.sub(" ", message).split())
    return text[:limit] or "(no message)"


@dataclass
class CallRecorder:
    """Keeps the log of one unit's calls (thread-safe: a fetch fans out)."""

    calls: list[ApiCall] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, call: ApiCall) -> None:
        with self._lock:
            self.calls.append(call)

    def calls_for(self, apis: Iterable[ApiPermission]) -> list[ApiCall]:
        """The calls made for these declared APIs (one evidence type's share of the log)."""
        wanted = {(a.service, a.operation) for a in apis}
        with self._lock:
            return [c for c in self.calls if (c.service, c.operation) in wanted]

    def all_calls(self) -> list[ApiCall]:
        with self._lock:
            return list(self.calls)

"""The collector's own failures, reported to an error tracker through sentry-sdk, with secrets scrubbed.

Off unless configured: ``EVIDENCE_ERROR_DSN`` (or the SDK's usual ``SENTRY_DSN``) turns it on for the
CLI and the Airflow plugin; Airflow tasks use Airflow's own ``[sentry]`` settings, with
``before_send = evidence.error_reporting.scrub_event`` so the same scrubbing applies. The SDK is
imported only when a DSN is set, so the core does not load it otherwise.

Scrubbing runs on every event before it leaves the process (``before_send`` and
``before_breadcrumb``): values under secret-looking keys (token, password, secret, authorization,
cookie, DSN...), every credential the collector registered (:func:`register_secret`, called for each
secret setting of a family, like Airflow's ``mask_secret``), bearer tokens and passwords in URLs are
replaced by ``[Filtered]`` wherever they appear: exception messages, stack-frame variables,
breadcrumbs, request data, tags and extra.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from typing import Any

DSN_ENV = ("EVIDENCE_ERROR_DSN", "SENTRY_DSN")
FILTERED = "[Filtered]"
MIN_SECRET_LENGTH = 6  # shorter values would mask ordinary words

_SECRET_KEY = re.compile(
    r"(password|passwd|secret|token|authorization|api_?key|cookie|credential|private_?key|dsn|unseal|session)",
    re.IGNORECASE,
)
_PATTERNS = (
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)(://[^:/@\s]+:)[^@\s]+@"),  # a password in a URL
    re.compile(r"\b(?:hvs|hvb|hvr|s|sntrys|sntryu)\.[A-Za-z0-9_-]{16,}"),  # Vault / Sentry token shapes
)

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: Any) -> None:
    """Never let ``value`` reach an error report (a token, a password, a secret_id the collector holds)."""
    text = str(value) if value is not None else ""
    if len(text) >= MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(text)


def register_settings(settings: Mapping[str, Any], secret_names: set[str]) -> None:
    for name in secret_names:
        if settings.get(name):
            register_secret(settings[name])


def scrub_text(text: str) -> str:
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, FILTERED)
    text = _PATTERNS[0].sub("Bearer " + FILTERED, text)
    text = _PATTERNS[1].sub(r"\1" + FILTERED + "@", text)
    return _PATTERNS[2].sub(FILTERED, text)


def _scrub(value: Any, key: str | None = None) -> Any:
    if (
        key is not None
        and _SECRET_KEY.search(key)
        and isinstance(value, str | bytes | int | float)
        and value != ""
    ):
        return FILTERED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: _scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """``before_send``: the event with every secret replaced (keys such as ``type`` are kept)."""
    scrubbed: dict[str, Any] = _scrub(event)
    return scrubbed


def scrub_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    scrubbed: dict[str, Any] = _scrub(crumb)
    return scrubbed


def configured_dsn(environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    return next((env[name] for name in DSN_ENV if env.get(name)), None)


def init_error_reporting(component: str, environ: Mapping[str, str] | None = None) -> bool:
    """Start reporting this process's failures when a DSN is configured; whether it started."""
    dsn = configured_dsn(environ)
    if not dsn:
        return False
    register_secret(dsn)
    import sentry_sdk

    from evidence import __version__

    env = os.environ if environ is None else environ
    sentry_sdk.init(
        dsn=dsn,
        release=f"evidence-collector@{__version__}",
        environment=env.get("EVIDENCE_ENVIRONMENT") or "production",
        send_default_pii=False,
        before_send=scrub_event,  # type: ignore[arg-type]
        before_breadcrumb=scrub_breadcrumb,
    )
    sentry_sdk.set_tag("component", component)
    return True


def report_exception(exc: BaseException) -> None:
    """Send an exception the caller handled (the CLI turns bugs into one line) when reporting is on."""
    import sys

    if "sentry_sdk" not in sys.modules:  # never started: nothing to report to
        return
    import sentry_sdk

    if sentry_sdk.is_initialized():
        sentry_sdk.capture_exception(exc)
        sentry_sdk.flush(timeout=2)

"""The Sentry canary: send a test event through sentry-sdk to a project's DSN and confirm, through the
Web API, that it arrived (``GET /api/0/projects/{org}/{project}/events/{event_id}/``).

Proof that error tracking works end to end (the SDK, the DSN, ingestion), not only that it is
configured. The event goes through a client of its own, so the process's own Sentry setup (if any) is
neither used nor disturbed.

As evidence: the source ``sentry.canary`` (type ``sentry.canary.delivery``) runs only for the projects
named in ``canary_projects`` (``evidence sentry canary --project SLUG``, the demo, or a DAG whose
connection names them): per project, the first enabled client key's public DSN gets one event, then
the API is polled for it. A project without an enabled DSN fails; a key listing or event read that is
denied is an ``error`` row naming the scope. The DSN's host is kept, never the key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from collectors.core import Failed, Found, Outcome, Snapshot
from collectors.core.family import FetchContext
from collectors.core.outcomes import failed_reason
from collectors.sentry.family import CANARY_SOURCE, SENTRY, SentryClient, SentryConnection, SentryRecorder
from collectors.sentry.projects import KEYS
from evidence.registry import ApiPermission, Row

EVENT = ApiPermission(
    "events", "GET /api/0/projects/{org}/{project}/events/{event_id}/", "event:read", ("404",)
)


@dataclass(frozen=True)
class CanaryResult:
    event_id: str
    arrived: bool
    waited_s: float
    detail: str


def send_canary(dsn: str, *, message: str = "evidence-collector canary", timeout: float = 5.0) -> str:
    """Send one info-level event to ``dsn``; its event id."""
    import sentry_sdk

    client = sentry_sdk.Client(dsn=dsn, default_integrations=False, auto_enabling_integrations=False)
    try:
        event_id = client.capture_event({"message": message, "level": "info", "tags": {"canary": "true"}})
        client.flush(timeout=timeout)
    finally:
        client.close(timeout=timeout)
    if not event_id:
        raise RuntimeError("sentry-sdk dropped the canary event (sample rate or a before_send hook)")
    return str(event_id)


def confirm_canary(
    client: SentryClient,
    recorder: SentryRecorder,
    project: str,
    event_id: str,
    *,
    timeout: float = 30.0,
    interval: float = 0.5,
) -> CanaryResult:
    """Poll the event until it is readable or ``timeout`` passes (ingestion is asynchronous)."""
    org = client.config.organization
    started = time.monotonic()
    path = f"/api/0/projects/{org}/{project}/events/{event_id}/"
    while True:
        outcome = recorder.get(client, EVENT, path)
        waited = round(time.monotonic() - started, 3)
        if isinstance(outcome, Found):
            return CanaryResult(event_id, True, waited, "event readable through the API")
        if isinstance(outcome, Failed):
            return CanaryResult(event_id, False, waited, f"{outcome.error.code}: {outcome.error.message}")
        if waited >= timeout:
            return CanaryResult(event_id, False, waited, f"not arrived within {timeout:g} s")
        time.sleep(interval)


@dataclass
class CanarySnapshot(Snapshot):
    keys: dict[str, Outcome] = field(default_factory=dict)  # project slug -> its client keys
    results: dict[str, CanaryResult] = field(default_factory=dict)  # project slug -> the canary
    dsn_hosts: dict[str, str] = field(default_factory=dict)
    sent_errors: dict[str, str] = field(default_factory=dict)  # project slug -> why nothing was sent


def _public_dsn(keys: Any) -> str | None:
    for key in keys if isinstance(keys, list) else []:
        dsn = (key.get("dsn") or {}).get("public") if isinstance(key, dict) else None
        if key.get("isActive") and dsn:
            return str(dsn)
    return None


def fetch(ctx: FetchContext[SentryConnection]) -> CanarySnapshot:
    conn = ctx.connection
    cfg, client = conn.config, conn.client
    snapshot = CanarySnapshot(target=ctx.target, observed_at=ctx.observed_at)
    for slug in cfg.canary_projects:
        keys = ctx.recorder.get(
            client, KEYS, f"/api/0/projects/{cfg.organization}/{slug}/keys/", paginate=True
        )
        snapshot.keys[slug] = keys
        dsn = _public_dsn(keys.value) if isinstance(keys, Found) else None
        if dsn is None:
            continue
        snapshot.dsn_hosts[slug] = urlsplit(dsn).hostname or ""
        try:
            event_id = send_canary(dsn)
        except (
            RuntimeError,
            ValueError,
        ) as exc:  # the SDK refused (a malformed DSN, dropped): a failed canary, not a crash
            snapshot.sent_errors[slug] = f"sentry-sdk did not send: {type(exc).__name__}"
            continue
        snapshot.results[slug] = confirm_canary(
            client, ctx.recorder, slug, event_id, timeout=cfg.canary_timeout
        )
    return snapshot


SOURCE = SENTRY.source(CANARY_SOURCE, scope="organization", description="canary events to named projects")(
    fetch
)


@SOURCE.evidence_type(
    "sentry.canary.delivery",
    title="A canary event sent with sentry-sdk to each named Sentry project's DSN arrives",
    api_calls=(KEYS, EVENT),
    resource_kind="project",
)
def delivery(snapshot: CanarySnapshot) -> list[Row]:
    rows: list[Row] = []
    for slug, keys in sorted(snapshot.keys.items()):
        result = snapshot.results.get(slug)
        fields: dict[str, Any] = {
            "slug": slug,
            "dsn_host": snapshot.dsn_hosts.get(slug),
            "event_id": result.event_id if result else None,
            "arrived": result.arrived if result else None,
            "waited_s": result.waited_s if result else None,
        }
        row: Row = {"resource": slug, "region": None}
        if isinstance(keys, Failed):
            row.update(status="error", reason=failed_reason(keys))
        elif not isinstance(keys, Found):
            row.update(status="fail", reason="no such project")
        elif slug in snapshot.sent_errors:
            row.update(status="fail", reason=snapshot.sent_errors[slug])
            fields["arrived"] = False
        elif result is None:
            row.update(status="fail", reason="no enabled client key (DSN): nothing can report errors")
            fields["arrived"] = False
        elif result.arrived:
            row.update(status="pass", reason=f"event {result.event_id} arrived in {result.waited_s:g} s")
        elif result.detail.startswith(("Forbidden", "Unauthorized")):
            row.update(status="error", reason=f"could not confirm the canary: {result.detail}")
        else:
            row.update(status="fail", reason=f"event {result.event_id} {result.detail}")
        rows.append({**row, **fields})
    return rows

"""The control evaluation DAG: scheduled on the evidence assets (whenever a collection updates one),
it recomputes posture with the core's ``assess`` (the same function as ``evidence posture`` and the
UI), marks stale controls, appends the posture snapshot as evidence, and notifies regressions —
a control newly failing, newly ``error``, newly stale, or an exception expiring soon — once each,
through Airflow notifiers: e-mail (SMTP) and a webhook (HTTP).

Where notifications go: params of the run, else ``EVIDENCE_NOTIFY_EMAIL_TO`` (comma-separated) with
the SMTP connection ``EVIDENCE_NOTIFY_SMTP_CONN_ID`` (default ``smtp_default``) and sender
``EVIDENCE_NOTIFY_EMAIL_FROM``, and the HTTP connection ``EVIDENCE_NOTIFY_WEBHOOK_CONN_ID`` (the
webhook's URL is the connection's host; its endpoint path the param ``webhook_endpoint``).

A retried evaluation compares with the snapshot before its own run, so it computes the same
regressions; a notification is sent again only if the previous attempt failed before sending it.
Evidence text in a notification is escaped (HTML) and never rendered as a template.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pendulum

from evidence import registry

log = logging.getLogger(__name__)


def evaluate(context: dict[str, Any]) -> dict[str, Any]:
    """Task body: posture -> snapshot record -> regressions -> notifications."""
    from evidence.evaluation import (
        exception_expiries,
        latest_snapshot,
        previous_states,
        regressions,
        snapshot_record,
    )
    from evidence.posture import assess
    from evidence.store import open_store
    from plugins.orchestration.context import run_context

    params = context.get("params") or {}
    ctx = run_context(context)
    with open_store() as store:
        posture = assess(store)
        expiries = exception_expiries(posture)
        previous = latest_snapshot(store, before_run=ctx.run_id)
        found = regressions(
            posture,
            previous_states(previous[1] if previous else None),
            previous_at=previous[0].observed_at if previous else None,
            exceptions=expiries,
            expiring_within=timedelta(days=int(params.get("expiring_within_days") or 14)),
        )
        result = store.append(snapshot_record(posture, ctx, exceptions=expiries))
    summary = posture.summary.get("all", {})
    log.info("posture: %s; %d regression(s); snapshot %s", summary, len(found), result.record.id)
    sent = notify(found, summary, params, context) if found else []
    return {
        "snapshot": result.record.id,
        "summary": summary,
        "regressions": [r.to_dict() for r in found],
        "notified": sent,
    }


def _channels(params: Mapping[str, Any]) -> tuple[list[str], str, str | None, str | None, str]:
    to_raw = params.get("email_to") or os.environ.get("EVIDENCE_NOTIFY_EMAIL_TO", "")
    to = [a.strip() for a in (to_raw if isinstance(to_raw, list) else str(to_raw).split(",")) if a.strip()]
    smtp = params.get("smtp_conn_id") or os.environ.get("EVIDENCE_NOTIFY_SMTP_CONN_ID", "smtp_default")
    sender = params.get("email_from") or os.environ.get("EVIDENCE_NOTIFY_EMAIL_FROM")
    webhook = params.get("webhook_conn_id") or os.environ.get("EVIDENCE_NOTIFY_WEBHOOK_CONN_ID")
    endpoint = params.get("webhook_endpoint") or os.environ.get("EVIDENCE_NOTIFY_WEBHOOK_ENDPOINT", "")
    return to, str(smtp), sender, webhook, str(endpoint)


def render_html(found: list[Any], summary: Mapping[str, int]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(r.control_id)}</td><td>{html.escape(r.kind)}</td>"
        f"<td>{html.escape(r.title)}</td><td>{html.escape(r.detail)}</td></tr>"
        for r in found
    )
    counts = ", ".join(f"{html.escape(str(n))} {html.escape(k)}" for k, n in summary.items() if n)
    return (
        f"<p>{len(found)} control regression(s). Posture now: {counts}.</p>"
        "<table><tr><th>control</th><th>regression</th><th>title</th><th>why</th></tr>"
        f"{rows}</table>"
    )


def notify(
    found: list[Any], summary: Mapping[str, int], params: Mapping[str, Any], context: Any
) -> list[str]:
    """Send one e-mail and one webhook call listing the regressions; returns the channels used."""
    to, smtp_conn, sender, webhook_conn, endpoint = _channels(params)
    sent = []
    subject = f"[evidence] {len(found)} control regression(s): " + ", ".join(
        sorted({r.control_id for r in found})[:5]
    )
    if to:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        # notify() directly: __call__ would render the content as a Jinja template, and evidence text
        # (resource names, reasons) is data, never a template.
        SmtpNotifier(
            to=to,
            from_email=sender or "evidence@localhost",
            subject=subject,
            html_content=render_html(found, summary),
            smtp_conn_id=smtp_conn,
        ).notify(context)
        sent.append("email")
    if webhook_conn:
        from airflow.providers.http.notifications.http import HttpNotifier

        HttpNotifier(
            http_conn_id=webhook_conn,
            endpoint=endpoint,
            json={"summary": dict(summary), "regressions": [r.to_dict() for r in found]},
            headers={"Content-Type": "application/json"},
        ).notify(context)
        sent.append("webhook")
    if not sent:
        log.warning("%d regression(s) and no notification channel configured", len(found))
    return sent


def evidence_assets() -> list[Any]:
    from plugins.orchestration.family_dags import evidence_asset

    return [evidence_asset(t.id) for t in registry.all_types() if registry.is_collected(t)]


def evaluation_dag() -> Any:
    """The DAG ``control_evaluation``, scheduled on every collected evidence type's asset."""
    from airflow.sdk import AssetAny, Param, dag, task

    @dag(
        dag_id="control_evaluation",
        schedule=AssetAny(*evidence_assets()),
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        tags=["evidence", "posture", "soc2", "gdpr", "dr"],
        default_args={"owner": "compliance", "retries": 2, "retry_delay": pendulum.duration(seconds=30)},
        params={
            "expiring_within_days": Param(
                14,
                type="integer",
                minimum=1,
                maximum=365,
                description="Warn of exceptions expiring this soon.",
            ),
            "email_to": Param(
                None,
                type=["null", "string"],
                description="Comma-separated recipients (default EVIDENCE_NOTIFY_EMAIL_TO).",
            ),
            "email_from": Param(
                None, type=["null", "string"], description="Sender (default EVIDENCE_NOTIFY_EMAIL_FROM)."
            ),
            "smtp_conn_id": Param(
                None, type=["null", "string"], description="SMTP connection (default smtp_default)."
            ),
            "webhook_conn_id": Param(
                None,
                type=["null", "string"],
                description="HTTP connection of the webhook (default EVIDENCE_NOTIFY_WEBHOOK_CONN_ID).",
            ),
            "webhook_endpoint": Param(
                None, type=["null", "string"], description="Path on the webhook's host."
            ),
        },
        doc_md=__doc__,
    )
    def control_evaluation() -> None:
        @task(task_id="evaluate")
        def run(**context: Any) -> dict[str, Any]:
            return evaluate(context)

        run()

    return control_evaluation()

"""``evidence sentry canary``: send a canary event to a project's DSN and record whether it arrived.

Mounted by the core CLI through the family contract (``SentryFamily.commands``); the core never
imports this module by name. The connection comes from the ``EVIDENCE_SENTRY_*`` environment, with
options overriding it; the record (type ``sentry.canary.delivery``) is appended to the store.
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Annotated, Any

import typer


def sentry_app() -> typer.Typer:
    app = typer.Typer(
        help="Sentry: the canary (an event sent through sentry-sdk, confirmed through the API)."
    )

    @app.callback()
    def _group() -> None:
        """Sentry commands."""

    @app.command("canary")
    def canary(
        project: Annotated[list[str], typer.Option("--project", "-p", help="project slug (repeat)")],
        url: Annotated[str | None, typer.Option(help="Sentry base URL [env EVIDENCE_SENTRY_URL]")] = None,
        organization: Annotated[
            str | None, typer.Option(help="organization slug [env EVIDENCE_SENTRY_ORG]")
        ] = None,
        timeout: Annotated[float, typer.Option(help="seconds to wait for the event to arrive")] = 30.0,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")] = False,
    ) -> None:
        """Send one test event to each project's DSN, confirm it arrived, append the evidence record
        (exit 1 when an event did not arrive)."""
        from dataclasses import replace

        from ulid import ULID

        from collectors.sentry.family import CANARY_SOURCE, SENTRY
        from evidence.cli import CheckFailed, state
        from evidence.records import RunContext
        from evidence.store import open_store

        options: dict[str, Any] = {"url": url, "organization": organization, "canary_projects": project}
        settings = SENTRY.connection.resolve({k: v for k, v in options.items() if v is not None})
        config = replace(SENTRY.configure(settings), canary_timeout=timeout)
        prepared = []
        # Libraries the pipeline loads (GX) may print: stdout carries only this command's answer.
        with contextlib.redirect_stdout(sys.stderr):
            for batch in SENTRY.collect(
                config, RunContext.from_env(f"sentry-canary-{ULID()}"), sources=[CANARY_SOURCE]
            ):
                prepared.extend(batch)
        store = open_store(state.store_url, create=True)
        try:
            results = store.append_batch(prepared)
        finally:
            store.close()
        answers: list[dict[str, Any]] = []
        for result, record in zip(results, prepared, strict=True):
            payload = json.loads(record.payload)
            answers.append(
                {
                    "record": result.record.id,
                    "seq": result.record.seq,
                    "status": str(result.record.status),
                    "reason": result.record.reason,
                    "rows": [
                        {k: row.get(k) for k in ("resource", "status", "event_id", "arrived", "waited_s")}
                        for row in payload.get("rows", [])
                    ],
                }
            )
        if as_json:
            sys.stdout.write(json.dumps(answers[0] if len(answers) == 1 else answers, indent=2) + "\n")
        else:
            for answer in answers:
                for row in answer["rows"]:
                    sys.stderr.write(
                        f"  {row['resource']:<20} {row['status']:<6} event {row['event_id'] or '-'}\n"
                    )
                sys.stdout.write(f"{answer['status']} seq={answer['seq']} {answer['reason']}\n")
        failed = [a for a in answers if a["status"] != "pass"]
        if failed or not answers:
            raise CheckFailed(failed[0]["reason"] if failed else "no canary record")

    return app

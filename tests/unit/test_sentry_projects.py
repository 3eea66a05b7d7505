"""Unit tests of the sentry.projects mappings (recorded answers, no server)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from collectors.core import Failed, Found
from collectors.sentry.projects import ProjectsSnapshot, alert_rules, client_keys, grouping
from evidence.records import SourceError
from evidence.validation import schema_errors

NOW = datetime(2026, 6, 1, tzinfo=UTC)
FORBIDDEN = Failed(
    "access_denied",
    SourceError(code="Forbidden", message="no", operation="x", permission="alerts:read"),
)
PROJECTS = [{"id": "1", "slug": "api"}, {"id": "2", "slug": "web"}, {"id": "3", "slug": "quiet"}]


def key(active: bool) -> dict[str, Any]:
    return {"isActive": active, "dsn": {"public": "https://k@o1.ingest.sentry.io/1"}}


def snapshot(**kwargs: Any) -> ProjectsSnapshot:
    return ProjectsSnapshot(target={"organization": "acme"}, observed_at=NOW, projects=PROJECTS, **kwargs)


def valid(type_id: str, rows: list[dict[str, Any]]) -> None:
    assert schema_errors(type_id, {"evidence_type": type_id, "target": {"o": "acme"}, "rows": rows}) == []


def test_client_keys_need_an_active_dsn_and_recent_events() -> None:
    rows = client_keys(
        snapshot(
            keys={"api": Found([key(True)]), "web": Found([key(False)]), "quiet": Found([key(True)])},
            events={"1": 40, "3": 0},
        )
    )
    by = {r["resource"]: r for r in rows}
    assert by["api"]["status"] == "pass" and by["api"]["events_7d"] == 40
    assert by["web"]["status"] == "fail" and "no enabled client key" in by["web"]["reason"]
    assert by["quiet"]["status"] == "fail" and "no events" in by["quiet"]["reason"]
    valid("sentry.projects.client_keys", rows)


def test_alert_rules_need_an_action_and_count_metric_rules() -> None:
    issue = [
        {
            "actions": [
                {"id": "sentry.mail.actions.NotifyEmailAction", "targetType": "Team", "targetIdentifier": 9}
            ]
        }
    ]
    silent = [{"actions": []}]
    metric = [
        {"projects": ["quiet"], "triggers": [{"actions": [{"type": "pagerduty", "targetIdentifier": "svc"}]}]}
    ]
    rows = alert_rules(
        snapshot(rules={"api": Found(issue), "web": Found(silent), "quiet": FORBIDDEN}, metric_rules=metric)
    )
    by = {r["resource"]: r for r in rows}
    assert by["api"]["status"] == "pass" and by["api"]["action_targets"] == "Team:9"
    assert by["web"]["status"] == "fail" and "none with an action" in by["web"]["reason"]
    assert by["quiet"]["status"] == "error" and "alerts:read" in by["quiet"]["reason"]
    valid("sentry.projects.alert_rules", rows)


def test_grouping_fails_legacy_strategies() -> None:
    rows = grouping(
        snapshot(
            details={
                "api": Found(
                    {"groupingConfig": "newstyle:2023-01-11", "fingerprintingRules": "a -> b\n\nc -> d"}
                ),
                "web": Found({"groupingConfig": "legacy:2019-03-12"}),
                "quiet": Found({}),
            }
        )
    )
    by = {r["resource"]: r for r in rows}
    assert by["api"]["status"] == "pass" and by["api"]["fingerprinting_rules"] == 2
    assert by["web"]["status"] == "fail"
    assert by["quiet"]["status"] == "error"
    valid("sentry.projects.grouping", rows)

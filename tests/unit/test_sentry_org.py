"""Unit tests of the sentry.org mappings, the scope model and the Link-header cursor (no server)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from collectors.sentry.family import SentryScopes, next_cursor
from collectors.sentry.org import OrgSnapshot, security, teams
from evidence.validation import schema_errors

NOW = datetime(2026, 6, 1, tzinfo=UTC)
SETTINGS = {
    "slug": "acme",
    "require2FA": True,
    "dataScrubber": True,
    "dataScrubberDefaults": True,
    "scrubIPAddresses": True,
    "sensitiveFields": ["iban"],
}


def snap(**kwargs: object) -> OrgSnapshot:
    return OrgSnapshot(target={"organization": "acme"}, observed_at=NOW, **kwargs)  # type: ignore[arg-type]


def test_security_names_each_missing_setting() -> None:
    good = security(snap(organization=SETTINGS))
    assert good[0]["status"] == "pass" and good[0]["sensitive_fields"] == 1
    bad = security(snap(organization={**SETTINGS, "require2FA": False, "scrubIPAddresses": False}))
    assert bad[0]["status"] == "fail"
    assert "2FA not required" in bad[0]["reason"] and "IP addresses kept" in bad[0]["reason"]
    partial = security(snap(organization={"slug": "acme"}))  # a member token sees no settings
    assert partial[0]["status"] == "error"
    for rows in (good, bad, partial):
        payload = {"evidence_type": "sentry.org.security", "target": {"organization": "acme"}, "rows": rows}
        assert schema_errors("sentry.org.security", payload) == []


def test_teams_without_members_fail() -> None:
    rows = teams(
        snap(
            teams=[
                {"slug": "backend", "memberCount": 2, "projects": [{"slug": "api"}]},
                {"slug": "ghost", "memberCount": 0, "projects": []},
            ]
        )
    )
    assert [(r["resource"], r["status"]) for r in rows] == [("backend", "pass"), ("ghost", "fail")]
    payload = {"evidence_type": "sentry.org.teams", "target": {"organization": "acme"}, "rows": rows}
    assert schema_errors("sentry.org.teams", payload) == []


def test_next_cursor_follows_only_a_next_link_with_results() -> None:
    link = (
        '<https://sentry.io/api/0/x/?cursor=0:0:1>; rel="previous"; results="false"; cursor="0:0:1", '
        '<https://sentry.io/api/0/x/?cursor=0:100:0>; rel="next"; results="true"; cursor="0:100:0"'
    )
    assert next_cursor(link) == "0:100:0"
    assert next_cursor(link.replace('results="true"', 'results="false"')) is None
    assert next_cursor(None) is None


def test_scope_model() -> None:
    model = SentryScopes()
    assert model.check("project:read") is None
    assert model.check("project:write") is not None and model.check("org:admin") is not None
    assert json.loads(model.render(["team:read", "org:read", "org:read"]))["token_scopes"] == [
        "org:read",
        "team:read",
    ]

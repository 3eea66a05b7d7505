"""sentry.org: the organization's security and privacy settings, and its teams with their members.

The organization's details come from ``connect`` (the same answer is not fetched twice); teams are
listed with cursor pagination.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collectors.core import Failed, Found, Snapshot
from collectors.core.family import FetchContext
from collectors.sentry.family import ORG, SENTRY, SentryConnection
from evidence.registry import ApiPermission, Row

COLLECTOR = "sentry.org"

TEAMS = ApiPermission("teams", "GET /api/0/organizations/{org}/teams/", "team:read")


@dataclass
class OrgSnapshot(Snapshot):
    organization: dict[str, Any] = field(default_factory=dict)
    teams: list[dict[str, Any]] = field(default_factory=list)


def fetch(ctx: FetchContext[SentryConnection]) -> OrgSnapshot:
    conn = ctx.connection
    snapshot = OrgSnapshot(target=ctx.target, observed_at=ctx.observed_at, organization=conn.organization)
    teams = ctx.recorder.get(
        conn.client, TEAMS, f"/api/0/organizations/{conn.config.organization}/teams/", paginate=True
    )
    if isinstance(teams, Failed):
        snapshot.fail(TEAMS, teams.error)
    elif isinstance(teams, Found):
        snapshot.teams = [t for t in teams.value if isinstance(t, dict)]
    return snapshot


SOURCE = SENTRY.source(COLLECTOR, scope="organization", description="organization settings and teams")(fetch)


@SOURCE.evidence_type(
    "sentry.org.security",
    title="Sentry organization requires 2FA and scrubs sensitive data and IP addresses",
    api_calls=(ORG,),
    resource_kind="organization",
)
def security(snapshot: OrgSnapshot) -> list[Row]:
    org = snapshot.organization
    if not org:
        return []
    fields: dict[str, Any] = {
        "require_2fa": org.get("require2FA"),
        "data_scrubber": org.get("dataScrubber"),
        "data_scrubber_defaults": org.get("dataScrubberDefaults"),
        "scrub_ip_addresses": org.get("scrubIPAddresses"),
        "sensitive_fields": len(org.get("sensitiveFields") or []),
        "compliant": None,
    }
    checks = {
        "2FA not required": fields["require_2fa"],
        "server-side data scrubber off": fields["data_scrubber"],
        "default scrubbers (passwords, tokens, card numbers) off": fields["data_scrubber_defaults"],
        "IP addresses kept": fields["scrub_ip_addresses"],
    }
    unknown = [name for name, value in checks.items() if value is None]
    missing = [name for name, value in checks.items() if value is False]
    if unknown:
        status, reason = (
            "error",
            "settings not in the answer (needs org:read on an owner token): " + "; ".join(unknown),
        )
    else:
        fields["compliant"] = not missing
        status = "pass" if not missing else "fail"
        reason = (
            f"2FA required, data and IP scrubbing on, {fields['sensitive_fields']} extra sensitive fields"
            if not missing
            else "; ".join(missing)
        )
    slug = str(org.get("slug") or snapshot.target.get("organization"))
    return [{"resource": slug, "region": None, "status": status, "reason": reason, **fields}]


@SOURCE.evidence_type(
    "sentry.org.teams",
    title="Every Sentry team has members (someone receives its notifications)",
    api_calls=(TEAMS,),
    resource_kind="team",
)
def teams(snapshot: OrgSnapshot) -> list[Row]:
    rows: list[Row] = []
    for team in sorted(snapshot.teams, key=lambda t: str(t.get("slug"))):
        members = team.get("memberCount")
        projects = team.get("projects")
        staffed = isinstance(members, int) and members > 0
        count = len(projects) if isinstance(projects, list) else None
        rows.append(
            {
                "resource": str(team.get("slug")),
                "region": None,
                "status": "pass" if staffed else "fail",
                "reason": f"{members} member(s), {count} project(s)"
                if staffed
                else f"no members: notifications to #{team.get('slug')} reach nobody",
                "slug": team.get("slug"),
                "members": members if isinstance(members, int) else None,
                "projects": count,
                "staffed": staffed,
            }
        )
    return rows

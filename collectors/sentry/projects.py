"""sentry.projects: every project of the organization, with its client keys, recent event volume,
issue and metric alert rules (and their actions), and grouping configuration.

One listing of the projects (paginated), one organization-wide stats query (events per project in the
window) and one listing of metric alert rules; then per project, bounded fan-out: details (grouping),
client keys and issue alert rules. A per-project call denied for every project (a token without the
scope) makes the evidence types that need it ``error`` records naming the scope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collectors.core import Failed, Found, Outcome, Snapshot, failed_reason, fan_out
from collectors.core.family import FetchContext
from collectors.sentry.family import SENTRY, SentryConnection
from evidence.registry import ApiPermission, Row

COLLECTOR = "sentry.projects"

PROJECTS = ApiPermission("projects", "GET /api/0/organizations/{org}/projects/", "project:read")
DETAILS = ApiPermission("projects", "GET /api/0/projects/{org}/{project}/", "project:read")
KEYS = ApiPermission("projects", "GET /api/0/projects/{org}/{project}/keys/", "project:read")
RULES = ApiPermission("alerts", "GET /api/0/projects/{org}/{project}/rules/", "alerts:read")
METRIC_RULES = ApiPermission("alerts", "GET /api/0/organizations/{org}/alert-rules/", "alerts:read")
STATS = ApiPermission("stats", "GET /api/0/organizations/{org}/stats_v2/", "org:read")

LEGACY_GROUPING = "legacy:"  # Sentry's deprecated grouping strategies


@dataclass
class ProjectsSnapshot(Snapshot):
    projects: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Outcome] = field(default_factory=dict)
    keys: dict[str, Outcome] = field(default_factory=dict)
    rules: dict[str, Outcome] = field(default_factory=dict)
    metric_rules: list[dict[str, Any]] = field(default_factory=list)
    events: dict[str, int] = field(default_factory=dict)  # project id -> events in the window
    event_window_days: int = 7


def fetch(ctx: FetchContext[SentryConnection]) -> ProjectsSnapshot:
    conn = ctx.connection
    org, client, get = conn.config.organization, conn.client, ctx.recorder.get
    snapshot = ProjectsSnapshot(
        target=ctx.target, observed_at=ctx.observed_at, event_window_days=conn.config.event_window_days
    )
    listing = get(client, PROJECTS, f"/api/0/organizations/{org}/projects/", paginate=True)
    if isinstance(listing, Failed):
        snapshot.fail(PROJECTS, listing.error)
        return snapshot
    snapshot.projects = [
        p for p in (listing.value if isinstance(listing, Found) else []) if isinstance(p, dict)
    ]
    stats = get(
        client,
        STATS,
        f"/api/0/organizations/{org}/stats_v2/",
        {
            "field": "sum(quantity)",
            "groupBy": "project",
            "category": "error",
            "outcome": "accepted",
            "statsPeriod": f"{conn.config.event_window_days}d",
        },
    )
    if isinstance(stats, Failed):
        snapshot.fail(STATS, stats.error)
    elif isinstance(stats, Found) and isinstance(stats.value, dict):
        for group in stats.value.get("groups") or []:
            project = str((group.get("by") or {}).get("project"))
            snapshot.events[project] = int((group.get("totals") or {}).get("sum(quantity)") or 0)
    metric = get(client, METRIC_RULES, f"/api/0/organizations/{org}/alert-rules/", paginate=True)
    if isinstance(metric, Failed):
        snapshot.fail(METRIC_RULES, metric.error)
    elif isinstance(metric, Found):
        snapshot.metric_rules = [r for r in metric.value if isinstance(r, dict)]
    slugs = [str(p.get("slug")) for p in snapshot.projects]
    for api, path, store in (
        (DETAILS, "/api/0/projects/{org}/{slug}/", snapshot.details),
        (KEYS, "/api/0/projects/{org}/{slug}/keys/", snapshot.keys),
        (RULES, "/api/0/projects/{org}/{slug}/rules/", snapshot.rules),
    ):
        paged = api is not DETAILS

        def read(slug: str, api: ApiPermission = api, path: str = path, paged: bool = paged) -> Outcome:
            outcome: Outcome = get(client, api, path.format(org=org, slug=slug), paginate=paged)
            return outcome

        answers = fan_out(read, slugs, ctx.concurrency)
        store.update(zip(slugs, answers, strict=True))
        snapshot.fail_if_uniform(api, answers)
    return snapshot


SOURCE = SENTRY.source(COLLECTOR, scope="organization", description="projects, keys, alerts, grouping")(fetch)


def _project_row(project: dict[str, Any], status: str, reason: str, **fields: Any) -> Row:
    return {
        "resource": str(project.get("slug")),
        "region": None,
        "status": status,
        "reason": reason,
        **fields,
    }


@SOURCE.evidence_type(
    "sentry.projects.client_keys",
    title="Every Sentry project has an enabled client key (DSN) and received events recently",
    api_calls=(PROJECTS, KEYS, STATS),
    resource_kind="project",
)
def client_keys(snapshot: ProjectsSnapshot) -> list[Row]:
    rows: list[Row] = []
    window = snapshot.event_window_days
    for project in sorted(snapshot.projects, key=lambda p: str(p.get("slug"))):
        slug = str(project.get("slug"))
        outcome = snapshot.keys.get(slug)
        events = snapshot.events.get(str(project.get("id")), 0)
        fields: dict[str, Any] = {
            "slug": slug,
            "platform": project.get("platform"),
            "keys": None,
            "active_keys": None,
            "events_7d": events,
            "reporting": None,
        }
        if isinstance(outcome, Failed):
            rows.append(_project_row(project, "error", failed_reason(outcome), **fields))
            continue
        keys = outcome.value if isinstance(outcome, Found) and isinstance(outcome.value, list) else []
        active = [k for k in keys if k.get("isActive") and (k.get("dsn") or {}).get("public")]
        fields.update(keys=len(keys), active_keys=len(active), reporting=bool(active) and events > 0)
        if not active:
            status, reason = "fail", "no enabled client key (DSN): the service cannot report errors"
        elif events == 0:
            status, reason = "fail", f"no events received in {window} days: the SDK is not reporting"
        else:
            status, reason = "pass", f"{len(active)} enabled DSN(s), {events} events in {window} days"
        rows.append(_project_row(project, status, reason, **fields))
    return rows


def _targets(actions: list[dict[str, Any]]) -> list[str]:
    found = []
    for action in actions:
        kind = str(action.get("targetType") or action.get("type") or action.get("id") or "action")
        target = action.get("targetIdentifier") or action.get("channel") or action.get("service")
        found.append(f"{kind.rsplit('.', 1)[-1]}:{target}" if target else kind.rsplit(".", 1)[-1])
    return found


@SOURCE.evidence_type(
    "sentry.projects.alert_rules",
    title="Every Sentry project has alert rules with thresholds and actions that notify someone",
    api_calls=(PROJECTS, RULES, METRIC_RULES),
    resource_kind="project",
)
def alert_rules(snapshot: ProjectsSnapshot) -> list[Row]:
    rows: list[Row] = []
    for project in sorted(snapshot.projects, key=lambda p: str(p.get("slug"))):
        slug = str(project.get("slug"))
        outcome = snapshot.rules.get(slug)
        base: dict[str, Any] = {"slug": slug, "issue_rules": None, "metric_rules": None}
        empty = {"rules_with_actions": None, "action_targets": None, "alerting": None}
        if isinstance(outcome, Failed):
            rows.append(_project_row(project, "error", failed_reason(outcome), **base, **empty))
            continue
        issue = outcome.value if isinstance(outcome, Found) and isinstance(outcome.value, list) else []
        metric = [r for r in snapshot.metric_rules if slug in (r.get("projects") or [])]
        targets: list[str] = []
        acting = 0
        for rule in issue:
            actions = [a for a in rule.get("actions") or [] if isinstance(a, dict)]
            acting += bool(actions)
            targets += _targets(actions)
        for rule in metric:
            actions = [
                a for t in rule.get("triggers") or [] for a in t.get("actions") or [] if isinstance(a, dict)
            ]
            acting += bool(actions)
            targets += _targets(actions)
        alerting = acting > 0
        if not issue and not metric:
            status, reason = "fail", "no alert rules: nobody is told about new or rising errors"
        elif not alerting:
            status, reason = "fail", f"{len(issue) + len(metric)} alert rule(s), none with an action"
        else:
            status = "pass"
            reason = (
                f"{len(issue)} issue and {len(metric)} metric alert rule(s), {acting} notify: "
                + ", ".join(sorted(set(targets)))
            )
        rows.append(
            _project_row(
                project,
                status,
                reason,
                **base | {"issue_rules": len(issue), "metric_rules": len(metric)},
                rules_with_actions=acting,
                action_targets=", ".join(sorted(set(targets))) or None,
                alerting=alerting,
            )
        )
    return rows


@SOURCE.evidence_type(
    "sentry.projects.grouping",
    title="Sentry projects group errors with a current grouping config (custom fingerprint rules shown)",
    api_calls=(PROJECTS, DETAILS),
    resource_kind="project",
)
def grouping(snapshot: ProjectsSnapshot) -> list[Row]:
    rows: list[Row] = []
    for project in sorted(snapshot.projects, key=lambda p: str(p.get("slug"))):
        slug = str(project.get("slug"))
        outcome = snapshot.details.get(slug)
        fields: dict[str, Any] = {
            "slug": slug,
            "grouping_config": None,
            "fingerprinting_rules": None,
            "grouping_enhancements": None,
            "current_config": None,
        }
        if isinstance(outcome, Failed):
            rows.append(_project_row(project, "error", failed_reason(outcome), **fields))
            continue
        details = outcome.value if isinstance(outcome, Found) and isinstance(outcome.value, dict) else {}
        config = details.get("groupingConfig")
        rules = [line for line in str(details.get("fingerprintingRules") or "").splitlines() if line.strip()]
        enhancements = [
            line for line in str(details.get("groupingEnhancements") or "").splitlines() if line.strip()
        ]
        current = isinstance(config, str) and not config.startswith(LEGACY_GROUPING)
        fields.update(
            grouping_config=config,
            fingerprinting_rules=len(rules),
            grouping_enhancements=len(enhancements),
            current_config=current if config else None,
        )
        if not config:
            status, reason = "error", "the project details carry no groupingConfig"
        elif not current:
            status, reason = "fail", f"deprecated grouping strategy {config}: unrelated errors merge or split"
        else:
            status = "pass"
            reason = (
                f"grouping {config}, {len(rules)} fingerprint and {len(enhancements)} stack-trace rule(s)"
            )
        rows.append(_project_row(project, status, reason, **fields))
    return rows

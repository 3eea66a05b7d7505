"""The widget inventory source: list a site's widgets, read each one, judge encryption at rest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collectors.core import Failed, Found, Outcome, Snapshot, failed_reason, fan_out
from collectors.core.family import FetchContext
from evidence.registry import ApiPermission, Row
from tests.support.widget_family.family import WIDGETS, WidgetConfig

LIST = ApiPermission("widgets", "GET /sites/{site}/widgets", "widgets:list")
READ = ApiPermission("widgets", "GET /widgets/{id}", "widgets:read", not_found_codes=("404",))


@dataclass
class InventorySnapshot(Snapshot):
    widgets: dict[str, Outcome] = field(default_factory=dict)


def fetch(ctx: FetchContext[WidgetConfig]) -> InventorySnapshot:
    snapshot = InventorySnapshot(target=ctx.target, observed_at=ctx.observed_at)
    listing = ctx.recorder.get(ctx.connection, LIST, f"/sites/{ctx.target['site']}/widgets")
    if isinstance(listing, Failed):
        snapshot.fail(LIST, listing.error)
        return snapshot
    assert isinstance(listing, Found)
    ids = [str(w["id"]) for w in listing.value["widgets"]]
    outcomes = fan_out(
        lambda i: ctx.recorder.get(ctx.connection, READ, f"/widgets/{i}"), ids, ctx.concurrency
    )
    snapshot.widgets = dict(zip(ids, outcomes, strict=True))
    snapshot.fail_if_uniform(READ, outcomes)
    return snapshot


SOURCE = WIDGETS.source("widgets.inventory", scope="site")(fetch)


@SOURCE.evidence_type(
    "widgets.inventory.encrypted",
    title="Widgets encrypt their data at rest",
    api_calls=(LIST, READ),
    resource_kind="widget",
)
def encrypted(snapshot: InventorySnapshot) -> list[Row]:
    rows: list[Row] = []
    for widget_id, outcome in sorted(snapshot.widgets.items()):
        base: dict[str, Any] = {"resource": widget_id, "region": None}
        if isinstance(outcome, Failed):
            rows.append({**base, "status": "error", "reason": failed_reason(outcome), "encrypted": None})
        elif isinstance(outcome, Found):
            on = bool(outcome.value.get("encrypted"))
            rows.append(
                {
                    **base,
                    "status": "pass" if on else "fail",
                    "reason": "encrypted at rest" if on else "stored in clear",
                    "encrypted": on,
                }
            )
    return rows

"""AWS Budgets: cost budgets exist and alert someone (a notification with subscribers).

``fetch`` lists the account's budgets (the API takes the account id, from the target), each budget's
notifications and each notification's subscribers once (bounded concurrency); the evidence type below
is a pure function of that snapshot. Subscriber addresses are personal data (e-mail addresses) and are
not kept: the evidence records how many subscribers of which kind (EMAIL, SNS).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from collectors.aws.client import AwsCallRecorder
from collectors.aws.family import AWS, AwsTarget
from collectors.core import Absent, Failed, Found, Outcome, Snapshot, failed_reason
from collectors.core.family import FetchContext
from evidence.registry import ApiPermission, Row

COLLECTOR = "aws.budgets"

# budgets:ViewBudget covers all three read calls. NotFoundException on the per-budget calls: the
# budget (or notification) was deleted between the listing and the call.
DESCRIBE_BUDGETS = ApiPermission("budgets", "describe_budgets", "budgets:ViewBudget")
DESCRIBE_NOTIFICATIONS = ApiPermission(
    "budgets", "describe_notifications_for_budget", "budgets:ViewBudget", ("NotFoundException",)
)
DESCRIBE_SUBSCRIBERS = ApiPermission(
    "budgets", "describe_subscribers_for_notification", "budgets:ViewBudget", ("NotFoundException",)
)


@dataclass
class Notification:
    config: dict[str, Any]
    subscribers: Outcome | None = None  # Found(list of subscribers)


@dataclass
class Budget:
    name: str
    config: dict[str, Any]
    notifications: Outcome | None = None  # Found(list of notification configs)
    notification_subscribers: list[Notification] = field(default_factory=list)


@dataclass
class BudgetsSnapshot(Snapshot):
    budgets: list[Budget] = field(default_factory=list)
    listing: Outcome | None = None


def _read_budget(client: Any, recorder: AwsCallRecorder, region: str, account: str, budget: Budget) -> Budget:
    budget.notifications = recorder.paginate(
        client,
        DESCRIBE_NOTIFICATIONS,
        region,
        "Notifications",
        AccountId=account,
        BudgetName=budget.name,
    )
    if isinstance(budget.notifications, Found):
        for config in budget.notifications.value:
            subscribers = recorder.paginate(
                client,
                DESCRIBE_SUBSCRIBERS,
                region,
                "Subscribers",
                AccountId=account,
                BudgetName=budget.name,
                Notification=config,
            )
            budget.notification_subscribers.append(Notification(config, subscribers))
    return budget


def fetch(ctx: FetchContext[AwsTarget]) -> BudgetsSnapshot:
    target = ctx.target
    clients, region = ctx.connection.clients, ctx.connection.region
    recorder: AwsCallRecorder = ctx.recorder
    concurrency = ctx.concurrency
    snapshot = BudgetsSnapshot(target=ctx.target, observed_at=ctx.observed_at)
    client = clients.client("budgets", region)
    account = target["account"]
    snapshot.listing = recorder.paginate(client, DESCRIBE_BUDGETS, region, "Budgets", AccountId=account)
    if isinstance(snapshot.listing, Failed):
        snapshot.fail(DESCRIBE_BUDGETS, snapshot.listing.error)
        return snapshot
    assert isinstance(snapshot.listing, Found)
    budgets = [Budget(name=b["BudgetName"], config=b) for b in snapshot.listing.value]
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        snapshot.budgets = list(
            pool.map(lambda b: _read_budget(client, recorder, region, account, b), budgets)
        )
    for api, outcomes in (
        (DESCRIBE_NOTIFICATIONS, [b.notifications for b in snapshot.budgets]),
        (
            DESCRIBE_SUBSCRIBERS,
            [n.subscribers for b in snapshot.budgets for n in b.notification_subscribers],
        ),
    ):
        snapshot.fail_if_uniform(api, outcomes)
    return snapshot


SERVICE = AWS.source(COLLECTOR, scope="global")(fetch)


# ---------------------------------------------------------------------------------------------------
# Pure mapping: snapshot -> rows.

_NULLS = {
    "budget_type": None,
    "time_unit": None,
    "limit_amount": None,
    "limit_unit": None,
    "notifications": None,
    "notifications_with_subscribers": None,
    "subscribers": None,
    "subscriber_types": None,
}


def _limit(config: dict[str, Any]) -> tuple[float | None, str | None]:
    limit = config.get("BudgetLimit") or {}
    try:
        amount = float(limit["Amount"]) if limit.get("Amount") is not None else None
    except (TypeError, ValueError):
        amount = None
    return amount, limit.get("Unit")


@SERVICE.evidence_type(
    "aws.budgets.alerts",
    title="Cost budgets exist and each one alerts someone (a notification with subscribers)",
    api_calls=(DESCRIBE_BUDGETS, DESCRIBE_NOTIFICATIONS, DESCRIBE_SUBSCRIBERS),
    resource_kind="budget",
)
def alerts(snapshot: BudgetsSnapshot) -> list[Row]:
    if not isinstance(snapshot.listing, Found):
        return []  # the failure is recorded for the whole type (snapshot.failures)
    if not snapshot.budgets:
        return [
            {
                "resource": snapshot.target["account"],
                "region": None,
                "status": "fail",
                "reason": "no budgets in the account: nothing alerts on spend",
                **_NULLS,
            }
        ]
    rows: list[Row] = []
    for budget in snapshot.budgets:
        amount, unit = _limit(budget.config)
        base = {
            **_NULLS,
            "budget_type": budget.config.get("BudgetType"),
            "time_unit": budget.config.get("TimeUnit"),
            "limit_amount": amount,
            "limit_unit": unit,
        }
        if isinstance(budget.notifications, Failed):
            rows.append(
                {
                    "resource": budget.name,
                    "region": None,
                    "status": "error",
                    "reason": failed_reason(budget.notifications),
                    **base,
                }
            )
            continue
        if isinstance(budget.notifications, Absent):
            continue  # deleted while we read it
        # Counted over the notifications whose subscribers could be read (a lower bound when some
        # could not); one notification with a subscriber proves the budget alerts someone.
        read = [
            n.subscribers.value for n in budget.notification_subscribers if isinstance(n.subscribers, Found)
        ]
        unreadable = [
            n.subscribers for n in budget.notification_subscribers if isinstance(n.subscribers, Failed)
        ]
        with_subscribers = [subscribers for subscribers in read if subscribers]
        kinds = sorted({str(s.get("SubscriptionType")) for subscribers in read for s in subscribers})
        fields = {
            **base,
            "notifications": len(budget.notification_subscribers),
            "notifications_with_subscribers": len(with_subscribers),
            "subscribers": sum(len(subscribers) for subscribers in read),
            "subscriber_types": ",".join(kinds),
        }
        if not budget.notification_subscribers:
            status, reason = "fail", "no notification: the budget alerts nobody"
        elif with_subscribers:
            status = "pass"
            reason = f"{len(with_subscribers)} notification(s) with subscribers ({', '.join(kinds)})"
            if unreadable:
                reason += f"; subscribers of {len(unreadable)} notification(s) unreadable"
        elif unreadable:
            status, reason = "error", "subscribers: " + failed_reason(unreadable[0])
        else:
            status, reason = "fail", "notifications have no subscribers: the budget alerts nobody"
        rows.append({"resource": budget.name, "region": None, "status": status, "reason": reason, **fields})
    return rows

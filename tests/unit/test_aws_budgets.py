"""AWS Budgets alerts fed recorded responses."""

from __future__ import annotations

from typing import Any

from collectors.aws import budgets
from collectors.aws.budgets import (
    DESCRIBE_BUDGETS,
    DESCRIBE_NOTIFICATIONS,
    DESCRIBE_SUBSCRIBERS,
    Budget,
    BudgetsSnapshot,
    Notification,
)
from collectors.aws.client import AwsCallRecorder
from collectors.core import Absent, Found, Outcome
from tests.support.recorded_aws import (
    ACCOUNT,
    OBSERVED_AT,
    ReplayClient,
    ReplayClients,
    client_error,
    denied,
    judge,
    run_fetch,
    target,
)

TYPE = "aws.budgets.alerts"
ACTUAL_80 = {
    "NotificationType": "ACTUAL",
    "ComparisonOperator": "GREATER_THAN",
    "Threshold": 80.0,
    "ThresholdType": "PERCENTAGE",
    "NotificationState": "OK",
}
FORECAST_100 = {**ACTUAL_80, "NotificationType": "FORECASTED", "Threshold": 100.0}
EMAIL = {"SubscriptionType": "EMAIL", "Address": "finance@example.com"}
SNS = {"SubscriptionType": "SNS", "Address": f"arn:aws:sns:us-east-1:{ACCOUNT}:budget-alerts"}


def config(name: str) -> dict[str, Any]:
    return {
        "BudgetName": name,
        "BudgetLimit": {"Amount": "1000.0", "Unit": "USD"},
        "TimeUnit": "MONTHLY",
        "BudgetType": "COST",
        "CalculatedSpend": {"ActualSpend": {"Amount": "412.5", "Unit": "USD"}},
    }


def budget(name: str, notifications: Outcome, *subscribers: tuple[dict[str, Any], Outcome]) -> Budget:
    return Budget(name, config(name), notifications, [Notification(n, s) for n, s in subscribers])


def rows_of(*items: Budget, listing: Outcome | None = None) -> dict[str, dict[str, Any]]:
    snap = BudgetsSnapshot(
        target=target(),
        observed_at=OBSERVED_AT,
        budgets=list(items),
        listing=listing or Found([b.config for b in items]),
    )
    return {row["resource"]: row for row in budgets.alerts(snap)}


def test_budget_with_subscribed_notifications_passes_without_keeping_addresses() -> None:
    rows = rows_of(
        budget(
            "monthly",
            Found([ACTUAL_80, FORECAST_100]),
            (ACTUAL_80, Found([EMAIL, SNS])),
            (FORECAST_100, Found([SNS])),
        )
    )
    row = rows["monthly"]
    assert (
        row["status"] == "pass" and row["notifications"] == 2 and row["notifications_with_subscribers"] == 2
    )
    assert row["subscribers"] == 3 and row["subscriber_types"] == "EMAIL,SNS"
    assert row["limit_amount"] == 1000.0 and row["limit_unit"] == "USD" and row["time_unit"] == "MONTHLY"
    assert "finance@example.com" not in str(row)  # personal data stays out of the evidence
    assert judge(TYPE, [row]) == ([], True)


def test_budget_without_notifications_or_subscribers_fails() -> None:
    rows = rows_of(
        budget("silent", Found([])),
        budget("nobody", Found([ACTUAL_80]), (ACTUAL_80, Found([]))),
    )
    assert rows["silent"]["status"] == "fail" and rows["silent"]["notifications"] == 0
    assert rows["nobody"]["status"] == "fail" and "no subscribers" in rows["nobody"]["reason"]
    for row in rows.values():
        assert judge(TYPE, [row]) == ([], False)


def test_no_budgets_is_one_failing_row_for_the_account() -> None:
    (row,) = rows_of().values()
    assert row["resource"] == ACCOUNT and row["status"] == "fail"
    assert row["notifications_with_subscribers"] is None
    assert judge(TYPE, [row]) == ([], False)  # GX does not skip the null


def test_unreadable_notifications_or_subscribers_are_errors_unless_proven() -> None:
    rows = rows_of(
        budget("denied", denied(DESCRIBE_NOTIFICATIONS)),
        budget("subs-denied", Found([ACTUAL_80]), (ACTUAL_80, denied(DESCRIBE_SUBSCRIBERS))),
        budget(
            "one-proves",
            Found([ACTUAL_80, FORECAST_100]),
            (ACTUAL_80, Found([EMAIL])),
            (FORECAST_100, denied(DESCRIBE_SUBSCRIBERS)),
        ),
    )
    assert rows["denied"]["status"] == "error" and "budgets:ViewBudget" in rows["denied"]["reason"]
    assert rows["denied"]["notifications"] is None
    assert rows["subs-denied"]["status"] == "error"
    assert "describe_subscribers_for_notification" in rows["subs-denied"]["reason"]
    proven = rows["one-proves"]
    assert proven["status"] == "pass" and "unreadable" in proven["reason"]
    assert proven["notifications_with_subscribers"] == 1
    assert judge(TYPE, list(rows.values())) == ([], True)


def test_budget_deleted_while_read_is_skipped() -> None:
    assert rows_of(budget("gone", Absent("NotFoundException"))) == {}


def test_unreadable_listing_yields_no_rows() -> None:
    snap = BudgetsSnapshot(target=target(), observed_at=OBSERVED_AT, listing=denied(DESCRIBE_BUDGETS))
    assert budgets.alerts(snap) == []


def test_fetch_uses_the_target_account_and_follows_every_page() -> None:
    def describe_budgets(AccountId: str, NextToken: str | None = None) -> dict[str, Any]:
        assert AccountId == ACCOUNT
        return {"Budgets": [config("b2")]} if NextToken else {"Budgets": [config("b1")], "NextToken": "t2"}

    def notifications(AccountId: str, BudgetName: str, NextToken: str | None = None) -> dict[str, Any]:
        return {"Notifications": [ACTUAL_80] if BudgetName == "b1" else []}

    def subscribers(AccountId: str, BudgetName: str, Notification: dict[str, Any]) -> dict[str, Any]:
        assert Notification == ACTUAL_80
        return {"Subscribers": [SNS]}

    client = ReplayClient(
        {
            "describe_budgets": describe_budgets,
            "describe_notifications_for_budget": notifications,
            "describe_subscribers_for_notification": subscribers,
        }
    )
    snap = run_fetch(
        budgets.fetch,
        ReplayClients({("budgets", "us-east-1"): client}, ("us-east-1",)),
        "us-east-1",
        target(),
        AwsCallRecorder(),
        2,
    )
    assert snap.failures == {}
    assert {r["resource"]: r["status"] for r in budgets.alerts(snap)} == {"b1": "pass", "b2": "fail"}


def test_fetch_sorts_a_subscriber_call_the_service_cannot_answer() -> None:
    # What moto 5.2 does: DescribeSubscribersForNotification is not implemented (HTTP 500).
    client = ReplayClient(
        {
            "describe_budgets": [{"Budgets": [config("b1"), config("b2")]}],
            "describe_notifications_for_budget": lambda **_: {"Notifications": [ACTUAL_80]},
            "describe_subscribers_for_notification": lambda **_: client_error(
                "DescribeSubscribersForNotification", "500", 500, "Internal Server Error"
            ),
        }
    )
    snap = run_fetch(
        budgets.fetch,
        ReplayClients({("budgets", "us-east-1"): client}, ("us-east-1",)),
        "us-east-1",
        target(),
        AwsCallRecorder(),
        2,
    )
    # Failed identically for every notification: recorded per resource (each budget gets an error
    # row; the record names it as a whole when no budget can be judged).
    assert snap.per_resource_failures[DESCRIBE_SUBSCRIBERS.key].code == "500"
    assert DESCRIBE_NOTIFICATIONS.key not in snap.per_resource_failures and not snap.failures

"""Sample Budgets estate: a budget that alerts nobody.

The emulator (moto 5.2) does not implement DescribeSubscribersForNotification, so a budget with a
notification cannot be read there: the compliant case (a notification with subscribers) is covered by
the unit tests only.
"""

from __future__ import annotations

from typing import Any

from collectors.aws.demo import Expectations, Expected

ACCOUNT = "123456789012"  # moto's default account


def seed(session: Any, regions: tuple[str, ...]) -> Expectations:
    budgets = session.client("budgets", regions[0])
    name = "demo-monthly-no-alerts"
    budgets.create_budget(
        AccountId=ACCOUNT,
        Budget={
            "BudgetName": name,
            "BudgetLimit": {"Amount": "500", "Unit": "USD"},
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
        },
    )
    return {"aws.budgets.alerts": Expected(passing=set(), failing={name})}

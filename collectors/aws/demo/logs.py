"""Sample CloudWatch Logs estate: log groups kept long enough, too briefly, and forever."""

from __future__ import annotations

from typing import Any

from collectors.aws.demo import Expectations, Expected

ACCOUNT = "123456789012"  # moto's default account


def seed(session: Any, regions: tuple[str, ...]) -> Expectations:
    home = regions[0]
    # (region, log group, retention in days or None for "never expire", passes?)
    plan: list[tuple[str, str, int | None, bool]] = [
        (home, "/demo/app", 400, True),
        (home, "/demo/audit", 3653, True),
        (home, "/demo/debug", 7, False),  # too short for the audit trail
        (home, "/demo/kept-forever", None, False),  # storage limitation
    ]
    if len(regions) > 1:
        plan += [
            (regions[1], "/demo/eu/app", 365, True),  # exactly the floor
            (regions[1], "/demo/eu/access", 90, False),
        ]
    expected = Expected()
    for region, name, days, passes in plan:
        logs = session.client("logs", region)
        logs.create_log_group(logGroupName=name)
        if days is not None:
            logs.put_retention_policy(logGroupName=name, retentionInDays=days)
        arn = f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{name}"
        (expected.passing if passes else expected.failing).add(arn)
    return {"aws.logs.retention": expected}

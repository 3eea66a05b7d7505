"""Secrets Manager: every secret rotates automatically, and its last rotation is not overdue.

Regional. Metadata only: ``list_secrets`` returns each secret's rotation settings and dates, which is
all the control needs, so the collector needs one permission (``secretsmanager:ListSecrets``) and never
calls ``get_secret_value``, ``describe_secret`` included: a secret's value can never reach a payload,
a row or the call log. (``_scrub`` in core would hide a ``SecretString`` parameter anyway; we never
send one.)

A replica secret (``PrimaryRegion`` set) is judged where it is seen, like any other: rotation happens
on the primary and is replicated, and a region's record must stand on its own even when the primary's
region is not collected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from collectors.aws.client import AwsCallRecorder
from collectors.aws.family import AWS, AwsTarget
from collectors.core import Failed, Found, Snapshot
from collectors.core.family import FetchContext
from collectors.core.timestamps import as_utc, iso
from evidence.registry import ApiPermission, Row

COLLECTOR = "aws.secretsmanager"

LIST_SECRETS = ApiPermission("secretsmanager", "list_secrets", "secretsmanager:ListSecrets")

# Secrets Manager starts a rotation inside its rotation window (up to 24 hours after the scheduled
# time) and retries a failed rotation; a few days of slack keep a slow rotation from flapping between
# pass and fail while a broken one still fails within the week.
ROTATION_GRACE_DAYS = 3

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(day|days|hour|hours)\s*\)$", re.IGNORECASE)


@dataclass
class SecretsSnapshot(Snapshot):
    region: str = ""
    secrets: list[dict[str, Any]] = field(default_factory=list)  # list_secrets entries (metadata only)


def fetch(ctx: FetchContext[AwsTarget]) -> SecretsSnapshot:
    clients, region = ctx.connection.clients, ctx.connection.region
    recorder: AwsCallRecorder = ctx.recorder
    snapshot = SecretsSnapshot(target=ctx.target, observed_at=ctx.observed_at, region=region)
    client = clients.client("secretsmanager", region)
    listing = recorder.paginate(client, LIST_SECRETS, region, "SecretList")
    if isinstance(listing, Failed):
        snapshot.fail(LIST_SECRETS, listing.error)
    elif isinstance(listing, Found):
        snapshot.secrets = list(listing.value)
    return snapshot


SERVICE = AWS.source(COLLECTOR, scope="regional")(fetch)


# ---------------------------------------------------------------------------------------------------
# Pure mapping.


def rotation_interval_days(rules: dict[str, Any]) -> int | None:
    """Days between rotations, from ``AutomaticallyAfterDays`` or a ``rate()`` schedule; None for a
    ``cron()`` schedule (its interval is not one number)."""
    days = rules.get("AutomaticallyAfterDays")
    if isinstance(days, int) and days > 0:
        return days
    match = _RATE.match(str(rules.get("ScheduleExpression") or "").strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2).lower()
        return amount if unit.startswith("day") else max(1, -(-amount // 24))
    return None


def _judge(entry: dict[str, Any], observed_at: datetime) -> tuple[str, str, dict[str, Any]]:
    rules = entry.get("RotationRules") or {}
    enabled = bool(entry.get("RotationEnabled"))  # absent: rotation never configured
    interval = rotation_interval_days(rules)
    last_rotated = as_utc(entry.get("LastRotatedDate"))
    created = as_utc(entry.get("CreatedDate"))
    baseline = last_rotated or created  # never rotated: due one interval after creation
    next_rotation = as_utc(entry.get("NextRotationDate"))
    fields: dict[str, Any] = {
        "name": entry.get("Name"),
        "rotation_enabled": enabled,
        "rotation_interval_days": interval,
        "schedule_expression": rules.get("ScheduleExpression") or None,
        "last_rotated": iso(last_rotated),
        "created": iso(created),
        "days_since_rotation": (observed_at - baseline).days if baseline else None,
        "allowed_days": interval + ROTATION_GRACE_DAYS if enabled and interval else None,
        "next_rotation": iso(next_rotation),
        "primary_region": entry.get("PrimaryRegion"),
        "owning_service": entry.get("OwningService"),
    }
    since = "last rotated" if last_rotated else "never rotated; created"
    if not enabled:
        return "fail", "automatic rotation not enabled", fields
    days, allowed = fields["days_since_rotation"], fields["allowed_days"]
    if days is not None and allowed is not None:
        # Whole days on both sides, the same numbers the GX suite compares.
        if days > allowed:
            return (
                "fail",
                f"rotation overdue: {since} {days} days ago, rotates every {interval} days "
                f"(+{ROTATION_GRACE_DAYS} days grace)",
                fields,
            )
        return "pass", f"rotates every {interval} days; {since} {days} days ago", fields
    if next_rotation is not None:
        # A cron() schedule: judge by the next scheduled rotation instead.
        if observed_at > next_rotation + timedelta(days=ROTATION_GRACE_DAYS):
            return "fail", f"rotation overdue: was due {fields['next_rotation']}", fields
        return (
            "pass",
            f"rotation scheduled ({fields['schedule_expression']}), next {fields['next_rotation']}",
            fields,
        )
    return (
        "error",
        f"cannot tell when rotation is due: schedule {fields['schedule_expression'] or 'missing'}, "
        "no rotation or creation date",
        fields,
    )


@SERVICE.evidence_type(
    "aws.secretsmanager.rotation",
    title="Every Secrets Manager secret rotates automatically and was rotated within its interval",
    api_calls=(LIST_SECRETS,),
    resource_kind="secret",
)
def rotation(snapshot: SecretsSnapshot) -> list[Row]:
    rows = []
    for entry in snapshot.secrets:
        status, reason, fields = _judge(entry, snapshot.observed_at)
        rows.append(
            {
                "resource": entry.get("ARN") or entry.get("Name"),
                "region": snapshot.region,
                "status": status,
                "reason": reason,
                **fields,
            }
        )
    return rows

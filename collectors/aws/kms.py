"""KMS: customer-managed symmetric keys rotate their key material automatically.

Regional. ``fetch`` lists the region's keys and aliases, describes every key and asks for the rotation
status of the keys the control applies to (bounded concurrency); ``key_rotation`` is a pure function
of the snapshot.

Which keys the control applies to: enabled, customer-managed, symmetric encryption keys whose key
material AWS KMS generated. AWS-managed keys are rotated by AWS every year and cannot be changed, so
they are left out (CIS AWS Foundations 3.6 likewise covers customer-managed keys only); asymmetric and
HMAC keys, imported key material and custom key stores do not support automatic rotation; disabled
keys and keys pending deletion encrypt nothing new. Those get a ``not_applicable`` row saying why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collectors.aws.client import AwsCallRecorder, AwsClients
from collectors.aws.family import AWS, AwsTarget
from collectors.core import Absent, Failed, Found, Outcome, Snapshot, failed_reason, fan_out
from collectors.core.family import FetchContext
from collectors.core.timestamps import iso
from evidence.registry import ApiPermission, Row

COLLECTOR = "aws.kms"

LIST_KEYS = ApiPermission("kms", "list_keys", "kms:ListKeys")
LIST_ALIASES = ApiPermission("kms", "list_aliases", "kms:ListAliases")
# A key deleted between the listing and these calls answers NotFoundException: gone, not unreadable.
DESCRIBE_KEY = ApiPermission("kms", "describe_key", "kms:DescribeKey", ("NotFoundException",))
GET_ROTATION = ApiPermission(
    "kms", "get_key_rotation_status", "kms:GetKeyRotationStatus", ("NotFoundException",)
)

# AWS KMS rotates yearly by default and CIS AWS Foundations 3.6 asks for yearly rotation; a custom
# rotation period (90-2560 days) longer than a year weakens the control, so it fails.
MAX_ROTATION_PERIOD_DAYS = 365
ROTATABLE_SPEC = "SYMMETRIC_DEFAULT"
ROTATABLE_ORIGIN = "AWS_KMS"  # imported (EXTERNAL) or custom key store material is rotated by hand

KEY_FIELDS = (
    "key_id",
    "aliases",
    "key_spec",
    "key_usage",
    "key_state",
    "origin",
    "multi_region",
    "rotation_enabled",
    "rotation_period_days",
    "next_rotation",
)


@dataclass
class Key:
    arn: str
    key_id: str
    metadata: Outcome | None = None  # describe_key
    rotation: Outcome | None = None  # get_key_rotation_status, only for keys the control applies to

    @property
    def meta(self) -> dict[str, Any]:
        return self.metadata.value.get("KeyMetadata", {}) if isinstance(self.metadata, Found) else {}


@dataclass
class KmsSnapshot(Snapshot):
    region: str = ""
    keys: list[Key] = field(default_factory=list)
    aliases: Outcome | None = None  # list_aliases (names beside key ids, for people)


def not_applicable_reason(meta: dict[str, Any]) -> str | None:
    """Why the rotation control does not apply to a key (None: it applies). AWS-managed keys are
    filtered out before this."""
    state = meta.get("KeyState")
    if state == "PendingDeletion":
        when = iso(meta.get("DeletionDate"))
        return f"key pending deletion{f' on {when}' if when else ''}"
    if state != "Enabled":
        return f"key is {state or 'in an unknown state'}"
    spec = meta.get("KeySpec") or meta.get("CustomerMasterKeySpec")
    if spec != ROTATABLE_SPEC:
        kind = "HMAC" if str(spec).startswith("HMAC") else "asymmetric"
        return f"{kind} key ({spec}): AWS KMS does not rotate it automatically"
    origin = meta.get("Origin")
    if origin != ROTATABLE_ORIGIN:
        return f"key material from {origin}: automatic rotation is not supported, rotate it by hand"
    return None


def _fetch_key(clients: AwsClients, region: str, recorder: AwsCallRecorder, key: Key) -> Key:
    client = clients.client("kms", region)
    key.metadata = recorder.call(client, DESCRIBE_KEY, region, KeyId=key.arn)
    meta = key.meta
    if meta and meta.get("KeyManager") != "AWS" and not_applicable_reason(meta) is None:
        key.rotation = recorder.call(client, GET_ROTATION, region, KeyId=key.arn)
    return key


def fetch(ctx: FetchContext[AwsTarget]) -> KmsSnapshot:
    clients, region = ctx.connection.clients, ctx.connection.region
    recorder: AwsCallRecorder = ctx.recorder
    concurrency = ctx.concurrency
    snapshot = KmsSnapshot(target=ctx.target, observed_at=ctx.observed_at, region=region)
    client = clients.client("kms", region)
    listing = recorder.paginate(client, LIST_KEYS, region, "Keys", token_in="Marker", token_out="NextMarker")
    if isinstance(listing, Failed):
        snapshot.fail(LIST_KEYS, listing.error)
        return snapshot
    assert isinstance(listing, Found)
    snapshot.aliases = recorder.paginate(
        client, LIST_ALIASES, region, "Aliases", token_in="Marker", token_out="NextMarker"
    )
    if isinstance(snapshot.aliases, Failed):
        snapshot.fail(LIST_ALIASES, snapshot.aliases.error)
    keys = [Key(arn=k.get("KeyArn") or k["KeyId"], key_id=k["KeyId"]) for k in listing.value]
    snapshot.keys = fan_out(lambda k: _fetch_key(clients, region, recorder, k), keys, concurrency)
    for api, outcomes in (
        (DESCRIBE_KEY, [k.metadata for k in snapshot.keys]),
        (GET_ROTATION, [k.rotation for k in snapshot.keys if k.rotation is not None]),
    ):
        snapshot.fail_if_uniform(api, outcomes)
    return snapshot


SERVICE = AWS.source(COLLECTOR, scope="regional")(fetch)


# ---------------------------------------------------------------------------------------------------
# Pure mapping.


def _alias_names(snapshot: KmsSnapshot) -> dict[str, str]:
    if not isinstance(snapshot.aliases, Found):
        return {}
    names: dict[str, list[str]] = {}
    for alias in snapshot.aliases.value:
        if alias.get("TargetKeyId") and alias.get("AliasName"):
            names.setdefault(alias["TargetKeyId"], []).append(alias["AliasName"])
    return {key_id: ",".join(sorted(n)) for key_id, n in names.items()}


def _judge(key: Key, fields: dict[str, Any]) -> tuple[str, str] | None:
    """(status, reason) for one key, filling ``fields``; None for no row: an AWS-managed key, or a key
    deleted while it was being read (it has left the population)."""
    if isinstance(key.metadata, Failed):
        return "error", failed_reason(key.metadata)
    if isinstance(key.metadata, Absent):
        return None  # deleted while being read: no longer part of the population
    if not isinstance(key.metadata, Found):
        return "error", "key was not described"
    meta = key.meta
    if meta.get("KeyManager") == "AWS":
        return None  # AWS-managed: rotated by AWS every year, not ours to configure
    fields.update(
        key_spec=meta.get("KeySpec") or meta.get("CustomerMasterKeySpec"),
        key_usage=meta.get("KeyUsage"),
        key_state=meta.get("KeyState"),
        origin=meta.get("Origin"),
        multi_region=meta.get("MultiRegion"),
    )
    skip = not_applicable_reason(meta)
    if skip is not None:
        return "not_applicable", skip
    if isinstance(key.rotation, Failed):
        return "error", failed_reason(key.rotation)
    if isinstance(key.rotation, Absent):
        return None  # deleted while being read
    if not isinstance(key.rotation, Found):
        return "error", "rotation status was not read"
    status = key.rotation.value
    enabled = status.get("KeyRotationEnabled")
    period = status.get("RotationPeriodInDays")
    fields.update(
        rotation_enabled=None if enabled is None else bool(enabled),
        rotation_period_days=period,
        next_rotation=iso(status.get("NextRotationDate")),
    )
    if enabled is None:
        return "error", "get_key_rotation_status answered without KeyRotationEnabled"
    if not enabled:
        return "fail", "automatic key rotation off"
    if period is not None and period > MAX_ROTATION_PERIOD_DAYS:
        return "fail", f"rotates only every {period} days (more than {MAX_ROTATION_PERIOD_DAYS})"
    every = f"every {period} days" if period is not None else "yearly (the default period)"
    return "pass", f"automatic rotation on, {every}"


@SERVICE.evidence_type(
    "aws.kms.key_rotation",
    title="Customer-managed KMS keys rotate their key material automatically (at least yearly)",
    api_calls=(LIST_KEYS, DESCRIBE_KEY, GET_ROTATION, LIST_ALIASES.optional()),
    resource_kind="KMS key",
)
def key_rotation(snapshot: KmsSnapshot) -> list[Row]:
    aliases = _alias_names(snapshot)
    rows = []
    for key in snapshot.keys:
        fields: dict[str, Any] = dict.fromkeys(KEY_FIELDS)
        fields.update(key_id=key.key_id, aliases=aliases.get(key.key_id))
        verdict = _judge(key, fields)
        if verdict is None:
            continue
        status, reason = verdict
        rows.append(
            {"resource": key.arn, "region": snapshot.region, "status": status, "reason": reason, **fields}
        )
    return rows

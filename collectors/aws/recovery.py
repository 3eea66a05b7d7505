"""aws.recovery: what a restore would start from, per region: AWS Backup's recovery points in every
vault, and the manual RDS snapshots (instance and cluster) with who may restore them.

Kept apart from ``aws.backup`` (plans, vaults, jobs) and ``aws.rds`` (databases and their snapshot
freshness): those judge whether backups are *configured*; this source judges the restore points that
*exist*. ``fetch`` lists the vaults and each vault's recovery points, and the manual snapshots with
their restore attributes (bounded concurrency for the per-vault and per-snapshot calls); each
evidence type below is a pure function of the snapshot, fed recorded responses in the unit tests.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from collectors.aws.client import AwsCallRecorder
from collectors.aws.family import AWS, AwsTarget
from collectors.core import Absent, Failed, Found, Outcome, Snapshot, failed_reason, fan_out
from collectors.core.family import FetchContext
from collectors.core.timestamps import as_utc, iso
from evidence.registry import ApiPermission, Row

COLLECTOR = "aws.recovery"

LIST_VAULTS = ApiPermission("backup", "list_backup_vaults", "backup:ListBackupVaults")
LIST_POINTS = ApiPermission(
    "backup", "list_recovery_points_by_backup_vault", "backup:ListRecoveryPointsByBackupVault"
)
DESCRIBE_SNAPSHOTS = ApiPermission("rds", "describe_db_snapshots", "rds:DescribeDBSnapshots")
DESCRIBE_CLUSTER_SNAPSHOTS = ApiPermission(
    "rds", "describe_db_cluster_snapshots", "rds:DescribeDBClusterSnapshots"
)
SNAPSHOT_ATTRIBUTES = ApiPermission(
    "rds", "describe_db_snapshot_attributes", "rds:DescribeDBSnapshotAttributes", ("DBSnapshotNotFound",)
)
CLUSTER_SNAPSHOT_ATTRIBUTES = ApiPermission(
    "rds",
    "describe_db_cluster_snapshot_attributes",
    "rds:DescribeDBClusterSnapshotAttributes",
    ("DBClusterSnapshotNotFoundFault",),
)

# Backups run at least daily: a protected resource whose newest usable recovery point is older than
# this has missed a backup (the same window as aws.backup.recent_jobs and aws.rds.snapshots).
MAX_POINT_AGE = timedelta(hours=24)
# Recovery point states a restore can start from (AWS Backup reports COMPLETED, newer APIs AVAILABLE).
USABLE = frozenset({"COMPLETED", "AVAILABLE"})
# States of a point that was meant to exist and does not (fully).
BROKEN = frozenset({"PARTIAL", "EXPIRED", "STOPPED"})
MAX_NAMED = 5


@dataclass
class ManualSnapshot:
    kind: str  # "instance" | "cluster"
    raw: dict[str, Any]
    attributes: Outcome | None = None  # Found(DBSnapshotAttributesResult) | Failed

    @property
    def identifier(self) -> str:
        key = "DBSnapshotIdentifier" if self.kind == "instance" else "DBClusterSnapshotIdentifier"
        return str(self.raw.get(key) or "")

    @property
    def arn(self) -> str:
        key = "DBSnapshotArn" if self.kind == "instance" else "DBClusterSnapshotArn"
        return str(self.raw.get(key) or self.identifier)


@dataclass
class RecoverySnapshot(Snapshot):
    vaults: list[str] = field(default_factory=list)
    points: list[dict[str, Any]] = field(default_factory=list)  # every vault's, with "BackupVaultName"
    manual_snapshots: list[ManualSnapshot] = field(default_factory=list)


def _vault_points(client: Any, recorder: AwsCallRecorder, region: str, vault: str) -> Outcome:
    return recorder.paginate(client, LIST_POINTS, region, "RecoveryPoints", BackupVaultName=vault)


def _attributes(clients: Any, recorder: AwsCallRecorder, region: str, item: ManualSnapshot) -> Outcome:
    client = clients.client("rds", region)
    if item.kind == "instance":
        return recorder.call(client, SNAPSHOT_ATTRIBUTES, region, DBSnapshotIdentifier=item.identifier)
    return recorder.call(
        client, CLUSTER_SNAPSHOT_ATTRIBUTES, region, DBClusterSnapshotIdentifier=item.identifier
    )


def fetch(ctx: FetchContext[AwsTarget]) -> RecoverySnapshot:
    clients, region = ctx.connection.clients, ctx.connection.region
    recorder: AwsCallRecorder = ctx.recorder
    snapshot = RecoverySnapshot(target=ctx.target, observed_at=ctx.observed_at)

    backup = clients.client("backup", region)
    vaults = recorder.paginate(backup, LIST_VAULTS, region, "BackupVaultList")
    if isinstance(vaults, Failed):
        snapshot.fail(LIST_VAULTS, vaults.error)
    elif isinstance(vaults, Found):
        snapshot.vaults = sorted(str(v.get("BackupVaultName")) for v in vaults.value)
        outcomes = fan_out(
            lambda v: _vault_points(backup, recorder, region, v), snapshot.vaults, ctx.concurrency
        )
        snapshot.fail_if_uniform(LIST_POINTS, outcomes)
        for vault, outcome in zip(snapshot.vaults, outcomes, strict=True):
            if isinstance(outcome, Found):
                snapshot.points += [{**p, "BackupVaultName": vault} for p in outcome.value]
            elif isinstance(outcome, Failed) and LIST_POINTS.key not in snapshot.failures:
                # One vault unreadable among readable ones: its resources cannot be judged, and a
                # resource seen only there would silently vanish: fail the type, naming the vault.
                snapshot.fail(LIST_POINTS, outcome.error)

    rds = clients.client("rds", region)
    for kind, api, key in (
        ("instance", DESCRIBE_SNAPSHOTS, "DBSnapshots"),
        ("cluster", DESCRIBE_CLUSTER_SNAPSHOTS, "DBClusterSnapshots"),
    ):
        listing = recorder.paginate(
            rds, api, region, key, token_in="Marker", SnapshotType="manual", MaxRecords=100
        )
        if isinstance(listing, Failed):
            snapshot.fail(api, listing.error)
        elif isinstance(listing, Found):
            snapshot.manual_snapshots += [ManualSnapshot(kind, item) for item in listing.value]
    attributes = fan_out(
        lambda s: _attributes(clients, recorder, region, s), snapshot.manual_snapshots, ctx.concurrency
    )
    for item, outcome in zip(snapshot.manual_snapshots, attributes, strict=True):
        item.attributes = outcome
    for kind, api in (("instance", SNAPSHOT_ATTRIBUTES), ("cluster", CLUSTER_SNAPSHOT_ATTRIBUTES)):
        snapshot.fail_if_uniform(api, [s.attributes for s in snapshot.manual_snapshots if s.kind == kind])
    return snapshot


SOURCE = AWS.source(COLLECTOR, scope="regional")(fetch)


def _named(items: list[str]) -> str | None:
    if not items:
        return None
    text = ",".join(sorted(items)[:MAX_NAMED])
    return text + (f",+{len(items) - MAX_NAMED} more" if len(items) > MAX_NAMED else "")


def _point_time(point: dict[str, Any]) -> datetime | None:
    return as_utc(point.get("CompletionDate")) or as_utc(point.get("CreationDate"))


@SOURCE.evidence_type(
    "aws.recovery.recovery_points",
    title="Every resource AWS Backup protects has a completed, encrypted recovery point from the last day",
    api_calls=(LIST_VAULTS, LIST_POINTS),
    resource_kind="protected resource",
)
def recovery_points(snapshot: RecoverySnapshot) -> list[Row]:
    """One row per protected resource (over every vault of the region): its newest usable recovery
    point must be at most a day old, and none of its points may be unencrypted. Broken points
    (partial, expired, stopped) are counted and named in the reason."""
    by_resource: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for point in snapshot.points:
        by_resource[str(point.get("ResourceArn") or "(no resource)")].append(point)
    rows: list[Row] = []
    for resource, points in sorted(by_resource.items()):
        usable = [(t, p) for p in points if p.get("Status") in USABLE and (t := _point_time(p)) is not None]
        newest_time, newest = max(usable, key=lambda pair: pair[0]) if usable else (None, None)
        age = max(timedelta(0), snapshot.observed_at - newest_time) if newest_time else None
        unencrypted = [str(p.get("RecoveryPointArn")) for p in points if p.get("IsEncrypted") is not True]
        broken = [p for p in points if p.get("Status") in BROKEN]
        fields = {
            "vault": ",".join(sorted({str(p["BackupVaultName"]) for p in points})),
            "resource_type": points[0].get("ResourceType"),
            "recovery_points": len(points),
            "newest_recovery_point": newest.get("RecoveryPointArn") if newest else None,
            "newest_completion_time": iso(newest_time),
            "newest_age_hours": round(age.total_seconds() / 3600, 2) if age is not None else None,
            "unencrypted_points": len(unencrypted),
            "failed_points": len(broken),
        }
        problems = []
        if newest_time is None:
            problems.append(f"none of {len(points)} recovery points is usable")
        elif age is not None and age > MAX_POINT_AGE:
            problems.append(
                f"newest usable recovery point is {fields['newest_age_hours']} h old "
                f"(> {int(MAX_POINT_AGE.total_seconds() // 3600)})"
            )
        if unencrypted:
            problems.append(f"{len(unencrypted)} unencrypted recovery point(s): {_named(unencrypted)}")
        note = f"; {len(broken)} partial/expired/stopped point(s)" if broken else ""
        base = {"resource": resource, "region": snapshot.target.get("region"), **fields}
        if problems:
            reason = "; ".join(problems) + note
            rows.append({**base, "status": "fail", "reason": reason, "recent_and_encrypted": False})
        else:
            reason = (
                f"newest recovery point {fields['newest_age_hours']} h old, all {len(points)} encrypted{note}"
            )
            rows.append({**base, "status": "pass", "reason": reason, "recent_and_encrypted": True})
    return rows


@SOURCE.evidence_type(
    "aws.recovery.rds_snapshot_exposure",
    title="No manual RDS snapshot is public, and each is encrypted (accounts it is shared with are named)",
    api_calls=(
        DESCRIBE_SNAPSHOTS,
        DESCRIBE_CLUSTER_SNAPSHOTS,
        SNAPSHOT_ATTRIBUTES,
        CLUSTER_SNAPSHOT_ATTRIBUTES,
    ),
    resource_kind="DB snapshot",
)
def rds_snapshot_exposure(snapshot: RecoverySnapshot) -> list[Row]:
    """A manual snapshot whose ``restore`` attribute holds ``all`` can be restored by any AWS account:
    the whole database, public (Prowler's rds_snapshots_public_access). Unencrypted snapshots fail too.
    Sharing with named accounts (a DR account) is legitimate and is listed for the reviewer."""
    rows: list[Row] = []
    for item in sorted(snapshot.manual_snapshots, key=lambda s: s.arn):
        db = (
            item.raw.get("DBInstanceIdentifier")
            if item.kind == "instance"
            else item.raw.get("DBClusterIdentifier")
        )
        encrypted_key = "Encrypted" if item.kind == "instance" else "StorageEncrypted"
        base = {
            "resource": item.arn,
            "region": snapshot.target.get("region"),
            "snapshot_kind": item.kind,
            "db_identifier": db,
            "encrypted": item.raw.get(encrypted_key) is True,
        }
        if isinstance(item.attributes, Absent):
            continue  # deleted between the listing and the attribute call: nothing left to expose
        if isinstance(item.attributes, Failed):
            rows.append(
                {
                    **base,
                    "status": "error",
                    "reason": failed_reason(item.attributes),
                    "public": None,
                    "shared_with": None,
                    "exposed": None,
                }
            )
            continue
        result: dict[str, Any] = {}
        if isinstance(item.attributes, Found):
            answer = item.attributes.value
            result = (
                answer.get("DBSnapshotAttributesResult")
                or answer.get("DBClusterSnapshotAttributesResult")
                or {}
            )
        restore: list[str] = []
        for attribute in (
            result.get("DBSnapshotAttributes") or result.get("DBClusterSnapshotAttributes") or []
        ):
            if attribute.get("AttributeName") == "restore":
                restore += [str(v) for v in attribute.get("AttributeValues") or []]
        public = "all" in restore
        accounts = sorted(a for a in restore if a != "all")
        fields = {**base, "public": public, "shared_with": ",".join(accounts) or None}
        problems = []
        if public:
            problems.append("public: any AWS account can restore it")
        if not base["encrypted"]:
            problems.append("not encrypted")
        shared = f"; shared with {', '.join(accounts)}" if accounts else ""
        if problems:
            rows.append({**fields, "status": "fail", "reason": "; ".join(problems) + shared, "exposed": True})
        else:
            rows.append(
                {**fields, "status": "pass", "reason": "private and encrypted" + shared, "exposed": False}
            )
    return rows

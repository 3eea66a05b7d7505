"""aws.recovery mappings fed recorded (boto3-shaped) answers, and ``fetch`` against replaying clients
(the collector's own pagination and error sorting run for real), no server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from collectors.aws import recovery
from collectors.aws.client import AwsCallRecorder
from collectors.aws.recovery import ManualSnapshot, RecoverySnapshot, rds_snapshot_exposure, recovery_points
from collectors.core import Found
from evidence import registry
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

REGION = "eu-west-1"
DB = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:orders"
VOLUME = f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/vol-0abc"


def point(
    resource: str, hours_ago: float, *, status: str = "COMPLETED", encrypted: bool = True, n: int = 1
) -> dict[str, Any]:
    name = resource.rsplit(":", 1)[-1]
    return {
        "RecoveryPointArn": f"arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:{name}-{n}",
        "ResourceArn": resource,
        "ResourceType": "RDS" if ":db:" in resource else "EBS",
        "Status": status,
        "IsEncrypted": encrypted,
        "CreationDate": OBSERVED_AT - timedelta(hours=hours_ago + 0.5),
        "CompletionDate": OBSERVED_AT - timedelta(hours=hours_ago),
        "BackupVaultName": "main",
    }


def points_snapshot(points: list[dict[str, Any]]) -> RecoverySnapshot:
    return RecoverySnapshot(target=target(REGION), observed_at=OBSERVED_AT, vaults=["main"], points=points)


def by_resource(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["resource"]: r for r in rows}


def test_recovery_points_recent_encrypted_pass_stale_or_unencrypted_fail() -> None:
    snap = points_snapshot(
        [
            point(DB, 3, n=1),
            point(DB, 27, n=2),
            point(DB, 1, status="PARTIAL", n=3),
            point(VOLUME, 30, n=1),
            point(VOLUME, 50, encrypted=False, n=2),
        ]
    )
    rows = recovery_points(snap)
    got = by_resource(rows)
    assert (
        got[DB]["status"] == "pass" and got[DB]["newest_age_hours"] == 3.0 and got[DB]["failed_points"] == 1
    )
    assert "1 partial/expired/stopped" in got[DB]["reason"]
    assert got[VOLUME]["status"] == "fail" and got[VOLUME]["unencrypted_points"] == 1
    assert "30.0 h old (> 24)" in got[VOLUME]["reason"] and "unencrypted" in got[VOLUME]["reason"]
    problems, gx_ok = judge("aws.recovery.recovery_points", rows)
    assert problems == [] and gx_ok is False


def test_a_resource_with_only_broken_points_fails() -> None:
    rows = recovery_points(points_snapshot([point(DB, 1, status="EXPIRED")]))
    assert rows[0]["status"] == "fail" and "none of 1 recovery points is usable" in rows[0]["reason"]
    assert rows[0]["newest_age_hours"] is None


def test_all_good_points_satisfy_the_suite() -> None:
    rows = recovery_points(points_snapshot([point(DB, 2), point(VOLUME, 20)]))
    problems, gx_ok = judge("aws.recovery.recovery_points", rows)
    assert problems == [] and gx_ok is True


def manual(
    name: str, *, encrypted: bool = True, restore: list[str] | None = None, kind: str = "instance"
) -> ManualSnapshot:
    if kind == "instance":
        raw = {
            "DBSnapshotIdentifier": name,
            "DBSnapshotArn": f"arn:aws:rds:{REGION}:{ACCOUNT}:snapshot:{name}",
            "DBInstanceIdentifier": "orders",
            "Encrypted": encrypted,
        }
        answer = {
            "DBSnapshotAttributesResult": {
                "DBSnapshotAttributes": [{"AttributeName": "restore", "AttributeValues": restore or []}]
            }
        }
    else:
        raw = {
            "DBClusterSnapshotIdentifier": name,
            "DBClusterSnapshotArn": f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster-snapshot:{name}",
            "DBClusterIdentifier": "ledger",
            "StorageEncrypted": encrypted,
        }
        answer = {
            "DBClusterSnapshotAttributesResult": {
                "DBClusterSnapshotAttributes": [
                    {"AttributeName": "restore", "AttributeValues": restore or []}
                ]
            }
        }
    return ManualSnapshot(kind, raw, Found(answer))


def test_snapshot_exposure() -> None:
    snap = RecoverySnapshot(
        target=target(REGION),
        observed_at=OBSERVED_AT,
        manual_snapshots=[
            manual("private"),
            manual("dr-copy", restore=["210987654321"]),
            manual("public", restore=["all"]),
            manual("plain", encrypted=False),
            manual("ledger-public", restore=["all", "210987654321"], kind="cluster"),
            ManualSnapshot(
                "instance",
                {"DBSnapshotIdentifier": "unread", "Encrypted": True},
                denied(recovery.SNAPSHOT_ATTRIBUTES),
            ),
        ],
    )
    rows = rds_snapshot_exposure(snap)
    got = {r["resource"].rsplit(":", 1)[-1]: r for r in rows}
    assert got["private"]["status"] == "pass"
    assert got["dr-copy"]["status"] == "pass" and got["dr-copy"]["shared_with"] == "210987654321"
    assert got["public"]["status"] == "fail" and got["public"]["public"] is True
    assert got["plain"]["status"] == "fail" and "not encrypted" in got["plain"]["reason"]
    assert got["ledger-public"]["status"] == "fail" and got["ledger-public"]["snapshot_kind"] == "cluster"
    assert "shared with 210987654321" in got["ledger-public"]["reason"]
    assert (
        got["unread"]["status"] == "error" and "rds:DescribeDBSnapshotAttributes" in got["unread"]["reason"]
    )
    problems, gx_ok = judge("aws.recovery.rds_snapshot_exposure", rows)
    assert problems == [] and gx_ok is False


def _clients(backup: dict[str, Any], rds: dict[str, Any]) -> ReplayClients:
    return ReplayClients(
        {("backup", REGION): ReplayClient(backup), ("rds", REGION): ReplayClient(rds)}, (REGION,)
    )


def test_fetch_reads_every_vault_and_snapshot() -> None:
    clients = _clients(
        {
            "list_backup_vaults": [
                {"BackupVaultList": [{"BackupVaultName": "main"}, {"BackupVaultName": "dr"}]}
            ],
            "list_recovery_points_by_backup_vault": lambda **p: {
                "RecoveryPoints": [point(DB, 2)] if p["BackupVaultName"] == "main" else [point(VOLUME, 5)]
            },
        },
        {
            "describe_db_snapshots": [{"DBSnapshots": [manual("private").raw]}],
            "describe_db_cluster_snapshots": [{"DBClusterSnapshots": []}],
            "describe_db_snapshot_attributes": [manual("private").attributes.value],  # type: ignore[union-attr]
        },
    )
    snap = run_fetch(recovery.fetch, clients, REGION, target(REGION), AwsCallRecorder(), 2, OBSERVED_AT)
    assert snap.failures == {}
    assert {p["BackupVaultName"] for p in snap.points} == {"main", "dr"}
    assert [r["status"] for r in recovery_points(snap)] == ["pass", "pass"]
    assert [r["status"] for r in rds_snapshot_exposure(snap)] == ["pass"]


def test_fetch_denied_listing_points_fails_the_type_naming_the_permission() -> None:
    clients = _clients(
        {
            "list_backup_vaults": [{"BackupVaultList": [{"BackupVaultName": "main"}]}],
            "list_recovery_points_by_backup_vault": [
                client_error("ListRecoveryPointsByBackupVault", "AccessDeniedException", 403)
            ],
        },
        {
            "describe_db_snapshots": [client_error("DescribeDBSnapshots", "AccessDenied", 403)],
            "describe_db_cluster_snapshots": [{"DBClusterSnapshots": []}],
        },
    )
    snap = run_fetch(recovery.fetch, clients, REGION, target(REGION), AwsCallRecorder(), 2, OBSERVED_AT)
    types = {t.id: t for t in registry.declared(family="aws")}
    failure = snap.failure_for(types["aws.recovery.recovery_points"])
    assert failure is not None and failure.permission == "backup:ListRecoveryPointsByBackupVault"
    failure = snap.failure_for(types["aws.recovery.rds_snapshot_exposure"])
    assert failure is not None and failure.permission == "rds:DescribeDBSnapshots"

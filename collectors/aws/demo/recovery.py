"""Sample restore points: manual RDS snapshots that are private and encrypted, shared with a DR
account, public, or unencrypted; and a backup vault in every region.

moto 5.2 implements backup vaults but not ``ListRecoveryPointsByBackupVault`` (nor backup jobs, so no
recovery point can be made): every aws.recovery.recovery_points record must be an ``error`` naming
that call, never a pass. Its pass and fail cases are covered by the unit tests with recorded answers.
"""

from __future__ import annotations

from typing import Any

from collectors.aws.demo import Expectations, Expected

ACCOUNT = "123456789012"  # moto's default account
DR_ACCOUNT = "210987654321"
PASSWORD = "demo-only-not-a-secret"  # the emulator requires one; it never leaves the emulator


def seed(session: Any, regions: tuple[str, ...]) -> Expectations:
    home = regions[0]
    rds = session.client("rds", home)
    common = {
        "DBInstanceClass": "db.t3.micro",
        "MasterUsername": "demo",
        "AllocatedStorage": 20,
        "Engine": "postgres",
        "EngineVersion": "16.3",
        "MasterUserPassword": PASSWORD,
        "BackupRetentionPeriod": 7,
    }
    rds.create_db_instance(DBInstanceIdentifier="demo-recovery-db", StorageEncrypted=True, **common)
    rds.create_db_instance(DBInstanceIdentifier="demo-recovery-db-plain", **common)

    def snapshot_arn(name: str) -> str:
        return f"arn:aws:rds:{home}:{ACCOUNT}:snapshot:{name}"

    def take(name: str, db: str) -> str:
        rds.create_db_snapshot(DBSnapshotIdentifier=name, DBInstanceIdentifier=db)
        return snapshot_arn(name)

    private = take("demo-snap-private", "demo-recovery-db")
    shared = take("demo-snap-shared-dr", "demo-recovery-db")
    rds.modify_db_snapshot_attribute(
        DBSnapshotIdentifier="demo-snap-shared-dr", AttributeName="restore", ValuesToAdd=[DR_ACCOUNT]
    )
    public = take("demo-snap-public", "demo-recovery-db-plain")
    rds.modify_db_snapshot_attribute(
        DBSnapshotIdentifier="demo-snap-public", AttributeName="restore", ValuesToAdd=["all"]
    )
    plain = take("demo-snap-unencrypted", "demo-recovery-db-plain")
    # The databases are gone, their manual snapshots stay (as after a decommissioning): the other
    # services' records do not see them.
    for db in ("demo-recovery-db", "demo-recovery-db-plain"):
        rds.delete_db_instance(DBInstanceIdentifier=db, SkipFinalSnapshot=True, DeleteAutomatedBackups=True)

    # A vault in every region that has none, so each region's recovery-point listing is attempted.
    for region in regions:
        backup = session.client("backup", region)
        if not backup.list_backup_vaults()["BackupVaultList"]:
            backup.create_backup_vault(BackupVaultName="demo-recovery-vault")

    return {
        "aws.recovery.rds_snapshot_exposure": Expected({private, shared}, {public, plain}),
        "aws.recovery.recovery_points": Expected(
            unsupported_call="backup:list_recovery_points_by_backup_vault"
        ),
    }

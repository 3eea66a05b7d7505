"""Sample AWS Backup estate, as far as the emulator goes.

moto 5.2.5 implements backup plans and vaults but not backup selections or jobs
(ListBackupSelections answers 500, ListProtectedResources and ListBackupJobs 404). So:
- plans: only "no plan in a region that holds RDS databases" can be seeded (creating a plan would make
  the collector read its selections, which the emulator cannot serve); plans with and without
  schedules, retention and selections are covered by the unit tests;
- recent jobs: the collector must report "could not collect" (an error record naming the call), which
  the estate test checks; job outcomes are covered by the unit tests;
- vaults: one with a customer-managed key and a vault lock (passes) and one the emulator created
  without any key (fails; real AWS always reports a key, so this stands in for "unknown key").
"""

from __future__ import annotations

from typing import Any

from collectors.aws.demo import Expectations, Expected

ACCOUNT = "123456789012"  # moto's default account


def seed(session: Any, regions: tuple[str, ...]) -> Expectations:
    home = regions[0]
    backup = session.client("backup", home)
    kms = session.client("kms", home)
    rds = session.client("rds", home)

    key = kms.create_key(Description="demo backup vault key")["KeyMetadata"]["Arn"]
    locked, keyless = "demo-vault-cmk-locked", "demo-vault-no-key"
    backup.create_backup_vault(BackupVaultName=locked, EncryptionKeyArn=key)
    backup.put_backup_vault_lock_configuration(BackupVaultName=locked, MinRetentionDays=35)
    backup.create_backup_vault(BackupVaultName=keyless)

    # The plans check fails a region without any backup plan that holds RDS databases. The RDS estate
    # puts databases in the home region; make sure there is one even if only this estate is seeded.
    listing = rds.describe_db_instances()["DBInstances"] + rds.describe_db_clusters()["DBClusters"]
    if not listing:
        rds.create_db_instance(
            DBInstanceIdentifier="demo-db-without-backup-plan",
            Engine="postgres",
            EngineVersion="16.3",
            DBInstanceClass="db.t3.micro",
            MasterUsername="demo",
            MasterUserPassword="demo-only-not-a-secret",
            AllocatedStorage=20,
        )

    def vault_arn(name: str) -> str:
        return f"arn:aws:backup:{home}:{ACCOUNT}:backup-vault:{name}"

    return {
        "aws.backup.plans": Expected(set(), {f"{ACCOUNT}/{home}"}),
        "aws.backup.vault_encryption": Expected({vault_arn(locked)}, {vault_arn(keyless)}),
        "aws.backup.recent_jobs": Expected(unsupported_call="backup:list_protected_resources"),
    }

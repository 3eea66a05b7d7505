"""Sample RDS estate: databases that pass every check and databases that each miss some.

The emulator reports LatestRestorableTime and snapshot times as "now", so a stale point-in-time
recovery or an old newest snapshot cannot be seeded: those cases are covered by the unit tests.
"""

from __future__ import annotations

from typing import Any

from collectors.aws.demo import Expectations, Expected

ACCOUNT = "123456789012"  # moto's default account
PASSWORD = "demo-only-not-a-secret"  # the emulator requires one; it never leaves the emulator


def seed(session: Any, regions: tuple[str, ...]) -> Expectations:
    home = regions[0]
    rds = session.client("rds", home)
    kms = session.client("kms", home)
    key = kms.create_key(Description="demo RDS storage key")["KeyMetadata"]["Arn"]

    def db_arn(name: str) -> str:
        return f"arn:aws:rds:{home}:{ACCOUNT}:db:{name}"

    def cluster_arn(name: str) -> str:
        return f"arn:aws:rds:{home}:{ACCOUNT}:cluster:{name}"

    # Parameter groups: one forces TLS, one sets the parameter to OFF.
    rds.create_db_parameter_group(
        DBParameterGroupName="demo-pg-force-ssl", DBParameterGroupFamily="postgres16", Description="TLS only"
    )
    rds.modify_db_parameter_group(
        DBParameterGroupName="demo-pg-force-ssl",
        Parameters=[{"ParameterName": "rds.force_ssl", "ParameterValue": "1", "ApplyMethod": "immediate"}],
    )
    rds.create_db_parameter_group(
        DBParameterGroupName="demo-mysql-plaintext", DBParameterGroupFamily="mysql8.0", Description="TLS off"
    )
    rds.modify_db_parameter_group(
        DBParameterGroupName="demo-mysql-plaintext",
        Parameters=[
            {"ParameterName": "require_secure_transport", "ParameterValue": "OFF", "ApplyMethod": "immediate"}
        ],
    )
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName="demo-aurora-pg-force-ssl",
        DBParameterGroupFamily="aurora-postgresql16",
        Description="TLS only",
    )
    rds.modify_db_cluster_parameter_group(
        DBClusterParameterGroupName="demo-aurora-pg-force-ssl",
        Parameters=[{"ParameterName": "rds.force_ssl", "ParameterValue": "1", "ApplyMethod": "immediate"}],
    )
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName="demo-aurora-mysql-defaults",
        DBParameterGroupFamily="aurora-mysql8.0",
        Description="nothing changed",
    )

    common = {"DBInstanceClass": "db.t3.micro", "MasterUsername": "demo", "AllocatedStorage": 20}
    # A well-run PostgreSQL instance: every check passes.
    good = "demo-db-good"
    rds.create_db_instance(
        DBInstanceIdentifier=good,
        Engine="postgres",
        EngineVersion="16.3",
        MasterUserPassword=PASSWORD,
        StorageEncrypted=True,
        KmsKeyId=key,
        MultiAZ=True,
        BackupRetentionPeriod=14,
        DeletionProtection=True,
        DBParameterGroupName="demo-pg-force-ssl",
        **common,
    )
    # Nothing configured: unencrypted, single-AZ, no backups, unprotected, default parameter group.
    plain = "demo-db-plain"
    rds.create_db_instance(
        DBInstanceIdentifier=plain,
        Engine="mysql",
        EngineVersion="8.0.35",
        MasterUserPassword=PASSWORD,
        BackupRetentionPeriod=0,
        **common,
    )
    # Encrypted and protected, made redundant by a read replica, but backups kept only 3 days, its
    # snapshots gone, and TLS explicitly off.
    short = "demo-db-short-retention"
    replica = "demo-db-short-retention-replica"
    rds.create_db_instance(
        DBInstanceIdentifier=short,
        Engine="mysql",
        EngineVersion="8.0.35",
        MasterUserPassword=PASSWORD,
        StorageEncrypted=True,
        KmsKeyId=key,
        BackupRetentionPeriod=3,
        DeletionProtection=True,
        DBParameterGroupName="demo-mysql-plaintext",
        **common,
    )
    rds.create_db_instance_read_replica(
        DBInstanceIdentifier=replica, SourceDBInstanceIdentifier=short, DBInstanceClass="db.t3.micro"
    )
    # A replica's deletion protection is its own setting (the emulator copies the source's): off.
    rds.modify_db_instance(DBInstanceIdentifier=replica, DeletionProtection=False, ApplyImmediately=True)
    for item in rds.describe_db_snapshots(DBInstanceIdentifier=short)["DBSnapshots"]:
        rds.delete_db_snapshot(DBSnapshotIdentifier=item["DBSnapshotIdentifier"])
    # Oracle forces TLS through an option group, which the TLS check does not read: not_applicable.
    oracle = "demo-db-oracle"
    rds.create_db_instance(
        DBInstanceIdentifier=oracle,
        Engine="oracle-ee",
        EngineVersion="19.0.0.0.ru-2024-01.rur-2024-01.r1",
        MasterUserPassword=PASSWORD,
        StorageEncrypted=True,
        KmsKeyId=key,
        MultiAZ=True,
        BackupRetentionPeriod=7,
        DeletionProtection=True,
        **common,
    )

    # Aurora PostgreSQL: encrypted, a week of backups, protected, TLS forced, two members in two zones.
    aurora_good = "demo-aurora-good"
    rds.create_db_cluster(
        DBClusterIdentifier=aurora_good,
        Engine="aurora-postgresql",
        EngineVersion="16.1",
        MasterUsername="demo",
        MasterUserPassword=PASSWORD,
        StorageEncrypted=True,
        KmsKeyId=key,
        BackupRetentionPeriod=7,
        DeletionProtection=True,
        DBClusterParameterGroupName="demo-aurora-pg-force-ssl",
    )
    for n, zone in enumerate((f"{home}a", f"{home}b")):
        rds.create_db_instance(
            DBInstanceIdentifier=f"{aurora_good}-{n}",
            DBClusterIdentifier=aurora_good,
            Engine="aurora-postgresql",
            DBInstanceClass="db.r6g.large",
            AvailabilityZone=zone,
        )
    # Aurora MySQL with one member, unencrypted, a day of backups, unprotected, TLS not forced.
    aurora_single = "demo-aurora-single"
    rds.create_db_cluster(
        DBClusterIdentifier=aurora_single,
        Engine="aurora-mysql",
        EngineVersion="8.0.mysql_aurora.3.05.2",
        MasterUsername="demo",
        MasterUserPassword=PASSWORD,
        BackupRetentionPeriod=1,
        DBClusterParameterGroupName="demo-aurora-mysql-defaults",
    )
    rds.create_db_instance(
        DBInstanceIdentifier=f"{aurora_single}-0",
        DBClusterIdentifier=aurora_single,
        Engine="aurora-mysql",
        DBInstanceClass="db.r6g.large",
    )

    g, p, s, r, o = (db_arn(n) for n in (good, plain, short, replica, oracle))
    ag, asg = cluster_arn(aurora_good), cluster_arn(aurora_single)
    return {
        "aws.rds.storage_encryption": Expected({g, s, r, o, ag}, {p, asg}),
        "aws.rds.backup_retention": Expected({g, o, ag}, {p, s, asg}),
        "aws.rds.high_availability": Expected({g, s, o, ag}, {p, asg}),
        "aws.rds.deletion_protection": Expected({g, s, o, ag}, {p, r, asg}),
        "aws.rds.snapshots": Expected({g, o, ag}, {p, s, asg}),
        "aws.rds.force_ssl": Expected({g, ag}, {p, s, r, asg}),
    }

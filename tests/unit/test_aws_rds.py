"""RDS mappings fed recorded (hand-written, boto3-shaped) responses; ``fetch`` against botocore's
Stubber (AWS's own recorded-response tool), no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from collectors.aws import rds
from collectors.aws.client import AwsCallRecorder, AwsClients, AwsConfig
from collectors.core import Failed, Found
from collectors.core.runner import map_type
from evidence import registry
from evidence.canonical import utc_iso
from evidence.records import SourceError
from evidence.validation import run_suite, schema_errors
from tests.support.recorded_aws import run_fetch

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REGION = "eu-west-1"
ACCOUNT = "111122223333"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
DENIED = Failed(
    "access_denied",
    SourceError(
        code="AccessDenied",
        message="not authorized",
        operation="rds:describe_db_parameters",
        permission="rds:DescribeDBParameters",
    ),
)


def instance(name: str, **over: Any) -> dict[str, Any]:
    item = {
        "DBInstanceIdentifier": name,
        "DBInstanceArn": f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{name}",
        "Engine": "postgres",
        "EngineVersion": "16.3",
        "DBInstanceStatus": "available",
        "AvailabilityZone": f"{REGION}a",
        "MultiAZ": True,
        "StorageEncrypted": True,
        "KmsKeyId": KEY,
        "BackupRetentionPeriod": 14,
        "LatestRestorableTime": NOW - timedelta(minutes=4),
        "DeletionProtection": True,
        "ReadReplicaDBInstanceIdentifiers": [],
        "DBParameterGroups": [{"DBParameterGroupName": "pg-tls", "ParameterApplyStatus": "in-sync"}],
    }
    item.update(over)
    return {k: v for k, v in item.items() if v is not None}


def cluster(name: str, members: list[str], **over: Any) -> dict[str, Any]:
    item = {
        "DBClusterIdentifier": name,
        "DBClusterArn": f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:{name}",
        "Engine": "aurora-postgresql",
        "MultiAZ": True,
        "StorageEncrypted": True,
        "KmsKeyId": KEY,
        "BackupRetentionPeriod": 7,
        "LatestRestorableTime": NOW - timedelta(minutes=2),
        "DeletionProtection": True,
        "DBClusterParameterGroup": "apg-tls",
        "ReadReplicaIdentifiers": [],
        "DBClusterMembers": [
            {"DBInstanceIdentifier": m, "IsClusterWriter": i == 0} for i, m in enumerate(members)
        ],
    }
    item.update(over)
    return {k: v for k, v in item.items() if v is not None}


def member(name: str, cluster_id: str, zone: str) -> dict[str, Any]:
    return instance(
        name,
        DBClusterIdentifier=cluster_id,
        Engine="aurora-postgresql",
        AvailabilityZone=zone,
        DBParameterGroups=[{"DBParameterGroupName": "default.aurora-postgresql16"}],
    )


def db_snapshot(db: str, name: str, age: timedelta, *, encrypted: bool = True, **over: Any) -> dict[str, Any]:
    item = {
        "DBSnapshotIdentifier": name,
        "DBInstanceIdentifier": db,
        "SnapshotType": "automated",
        "Status": "available",
        "SnapshotCreateTime": NOW - age,
        "OriginalSnapshotCreateTime": NOW - age,
        "Encrypted": encrypted,
    }
    item.update(over)
    return item


def make(
    instances: list[dict[str, Any]],
    clusters: list[dict[str, Any]] = (),  # type: ignore[assignment]
    snapshots: list[dict[str, Any]] = (),  # type: ignore[assignment]
    cluster_snapshots: list[dict[str, Any]] = (),  # type: ignore[assignment]
    parameters: dict[tuple[str, str], Any] | None = None,
) -> rds.RdsSnapshot:
    snap = rds.RdsSnapshot(target={"account": ACCOUNT, "region": REGION}, observed_at=NOW)
    snap.databases = rds._group_databases(list(instances), list(clusters))
    by_db: dict[str, list[dict[str, Any]]] = {}
    for item in snapshots:
        by_db.setdefault(rds._key("instance", item["DBInstanceIdentifier"]), []).append(item)
    for item in cluster_snapshots:
        by_db.setdefault(rds._key("cluster", item["DBClusterIdentifier"]), []).append(item)
    snap.db_snapshots = by_db
    snap.parameters = parameters or {}
    return snap


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["db_identifier"]: row for row in rows}


def test_cluster_members_are_judged_through_their_cluster() -> None:
    snap = make(
        [instance("solo"), member("aur-0", "aur", "eu-west-1a"), member("aur-1", "aur", "eu-west-1b")],
        [cluster("aur", ["aur-0", "aur-1"])],
    )
    rows = rds.storage_encryption(snap)
    assert [(r["db_identifier"], r["db_kind"]) for r in rows] == [("solo", "instance"), ("aur", "cluster")]
    assert rows[1]["resource"] == f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:aur"


# -- storage encryption ------------------------------------------------------------------------------


def test_storage_encryption_pass_fail_and_missing() -> None:
    snap = make(
        [
            instance("enc"),
            # Emulators report a placeholder key on unencrypted databases: it must not be recorded.
            instance("plain", StorageEncrypted=False, KmsKeyId="default_kms_key_id"),
            instance("unknown", StorageEncrypted=None),
        ]
    )
    rows = by_name(rds.storage_encryption(snap))
    assert rows["enc"]["status"] == "pass" and rows["enc"]["kms_key_id"] == KEY
    assert rows["plain"]["status"] == "fail" and rows["plain"]["kms_key_id"] is None
    assert rows["plain"]["storage_encrypted"] is False
    assert rows["unknown"]["status"] == "fail" and rows["unknown"]["storage_encrypted"] is None
    assert "not reported" in rows["unknown"]["reason"]


# -- backup retention and PITR -----------------------------------------------------------------------


def test_backup_retention_pass() -> None:
    row = rds.backup_retention(make([instance("db")]))[0]
    assert row["status"] == "pass"
    assert row["backup_retention_days"] == 14 and row["restore_lag_minutes"] == 4.0
    assert row["latest_restorable_time"] == utc_iso(NOW - timedelta(minutes=4))


def test_backup_retention_failures_are_all_named() -> None:
    snap = make(
        [
            # Backups off: AWS then reports no LatestRestorableTime at all.
            instance("off", BackupRetentionPeriod=0, LatestRestorableTime=None),
            instance("short", BackupRetentionPeriod=3),
            instance("stale", LatestRestorableTime=NOW - timedelta(hours=2)),
            instance("unreported", BackupRetentionPeriod=None),
        ]
    )
    rows = by_name(rds.backup_retention(snap))
    assert all(r["status"] == "fail" for r in rows.values())
    assert (
        "disabled" in rows["off"]["reason"] and "point-in-time recovery unavailable" in rows["off"]["reason"]
    )
    assert rows["off"]["restore_lag_minutes"] is None
    assert "3 day(s) < 7" in rows["short"]["reason"]
    assert rows["stale"]["restore_lag_minutes"] == 120.0 and "120.0 min old" in rows["stale"]["reason"]
    assert rows["unreported"]["backup_retention_days"] is None


def test_backup_retention_boundaries_and_time_formats() -> None:
    snap = make(
        [
            instance("week", BackupRetentionPeriod=7, LatestRestorableTime=NOW - timedelta(minutes=60)),
            # Read a moment after observed_at: not in the future, lag 0.
            instance("later", LatestRestorableTime=NOW + timedelta(seconds=3)),
            # Recorded responses may carry ISO strings or naive datetimes (UTC).
            instance("iso", LatestRestorableTime="2026-03-01T11:50:00Z"),
            instance("naive", LatestRestorableTime=datetime(2026, 3, 1, 11, 30)),
        ]
    )
    rows = by_name(rds.backup_retention(snap))
    assert rows["week"]["status"] == "pass" and rows["week"]["restore_lag_minutes"] == 60.0
    assert rows["later"]["restore_lag_minutes"] == 0.0
    assert rows["iso"]["restore_lag_minutes"] == 10.0
    assert rows["naive"]["restore_lag_minutes"] == 30.0


def test_read_replicas_are_not_applicable_for_backups() -> None:
    snap = make(
        [
            instance("src", ReadReplicaDBInstanceIdentifiers=["rep"]),
            instance(
                "rep",
                ReadReplicaSourceDBInstanceIdentifier="src",
                BackupRetentionPeriod=0,
                LatestRestorableTime=None,
            ),
        ]
    )
    rows = by_name(rds.backup_retention(snap))
    assert rows["rep"]["status"] == "not_applicable" and "read replica of src" in rows["rep"]["reason"]
    assert rows["src"]["status"] == "pass"


# -- high availability -------------------------------------------------------------------------------


def test_high_availability_instances() -> None:
    snap = make(
        [
            instance("maz"),
            instance("replicated", MultiAZ=False, ReadReplicaDBInstanceIdentifiers=["replica"]),
            instance("replica", MultiAZ=False, ReadReplicaSourceDBInstanceIdentifier="replicated"),
            instance("single", MultiAZ=False),
            instance("unknown", MultiAZ=None),
        ]
    )
    rows = by_name(rds.high_availability(snap))
    assert rows["maz"]["status"] == "pass" and rows["maz"]["redundant"] is True
    assert rows["replicated"]["status"] == "pass" and rows["replicated"]["read_replicas"] == 1
    assert rows["replica"]["status"] == "not_applicable" and rows["replica"]["redundant"] is None
    assert rows["single"]["status"] == "fail" and rows["single"]["redundant"] is False
    assert rows["unknown"]["status"] == "fail" and rows["unknown"]["multi_az"] is None


def test_high_availability_clusters() -> None:
    snap = make(
        [
            member("a-0", "spread", "eu-west-1a"),
            member("a-1", "spread", "eu-west-1b"),
            member("b-0", "one-zone", "eu-west-1a"),
            member("b-1", "one-zone", "eu-west-1a"),
            member("c-0", "single", "eu-west-1a"),
        ],
        [
            cluster("spread", ["a-0", "a-1"], MultiAZ=False),
            cluster("one-zone", ["b-0", "b-1"], MultiAZ=False),
            cluster("single", ["c-0"], MultiAZ=False),
        ],
    )
    rows = by_name(rds.high_availability(snap))
    assert rows["spread"]["status"] == "pass"
    assert rows["spread"]["cluster_members"] == 2 and rows["spread"]["member_zones"] == 2
    assert rows["one-zone"]["status"] == "fail" and "one availability zone" in rows["one-zone"]["reason"]
    assert rows["single"]["status"] == "fail" and rows["single"]["cluster_members"] == 1


# -- deletion protection -----------------------------------------------------------------------------


def test_deletion_protection() -> None:
    snap = make(
        [
            instance("on"),
            instance("off", DeletionProtection=False),
            instance("unknown", DeletionProtection=None),
        ],
        [cluster("aur", [], DeletionProtection=False)],
    )
    rows = by_name(rds.deletion_protection(snap))
    assert rows["on"]["status"] == "pass"
    assert rows["off"]["status"] == "fail" and rows["off"]["deletion_protection"] is False
    assert rows["unknown"]["status"] == "fail" and rows["unknown"]["deletion_protection"] is None
    assert rows["aur"]["status"] == "fail" and rows["aur"]["db_kind"] == "cluster"


# -- snapshots ---------------------------------------------------------------------------------------


def test_snapshots_fresh_and_encrypted_pass() -> None:
    snap = make(
        [instance("db")],
        snapshots=[
            db_snapshot("db", "rds:db-1", timedelta(hours=30)),
            db_snapshot("db", "manual-1", timedelta(hours=5), SnapshotType="manual"),
        ],
    )
    row = rds.snapshots(snap)[0]
    assert row["status"] == "pass"
    assert row["newest_snapshot"] == "manual-1" and row["newest_snapshot_age_hours"] == 5.0
    assert (
        row["snapshots"] == 2
        and row["unencrypted_snapshots"] == 0
        and row["unencrypted_snapshot_ids"] is None
    )


def test_snapshots_stale_missing_unavailable_and_unencrypted() -> None:
    snap = make(
        [instance("stale"), instance("none"), instance("creating"), instance("mixed")],
        snapshots=[
            db_snapshot("stale", "rds:stale-1", timedelta(hours=25)),
            db_snapshot(
                "creating", "rds:creating-1", timedelta(0), Status="creating", SnapshotCreateTime=None
            ),
            *[db_snapshot("mixed", f"old-{n:02}", timedelta(days=n), encrypted=False) for n in range(1, 13)],
            db_snapshot("mixed", "rds:mixed-new", timedelta(hours=1)),
        ],
    )
    rows = by_name(rds.snapshots(snap))
    assert rows["stale"]["status"] == "fail" and "25.0 h old" in rows["stale"]["reason"]
    assert rows["none"]["status"] == "fail" and rows["none"]["reason"] == "no snapshot"
    assert rows["none"]["snapshots"] == 0 and rows["none"]["newest_snapshot_age_hours"] is None
    assert (
        rows["creating"]["status"] == "fail"
        and "none of 1 snapshots is available" in rows["creating"]["reason"]
    )
    mixed = rows["mixed"]
    assert mixed["status"] == "fail" and mixed["unencrypted_snapshots"] == 12
    assert mixed["newest_snapshot"] == "rds:mixed-new"
    # At most ten are named, the count stays complete.
    assert mixed["unencrypted_snapshot_ids"].startswith("old-01,old-02")
    assert mixed["unencrypted_snapshot_ids"].endswith(",+2 more")
    assert "12 unencrypted snapshot(s)" in mixed["reason"]


def test_a_copied_snapshot_is_as_old_as_its_original() -> None:
    copy = db_snapshot(
        "db",
        "copy-in-dr-region",
        timedelta(minutes=10),
        SnapshotType="manual",
        OriginalSnapshotCreateTime=NOW - timedelta(days=3),
    )
    row = rds.snapshots(make([instance("db")], snapshots=[copy]))[0]
    assert row["status"] == "fail" and row["newest_snapshot_age_hours"] == 72.0


def test_cluster_snapshots_and_replicas() -> None:
    snap = make(
        [
            member("aur-0", "aur", "eu-west-1a"),
            instance("src", ReadReplicaDBInstanceIdentifiers=["rep"]),
            instance("rep", ReadReplicaSourceDBInstanceIdentifier="src"),
        ],
        [cluster("aur", ["aur-0"])],
        snapshots=[
            db_snapshot("src", "rds:src-1", timedelta(hours=2)),
            # Member instances' own snapshots (emulators make them) do not stand for the cluster.
            db_snapshot("aur-0", "rds:aur-0-1", timedelta(hours=2)),
        ],
        cluster_snapshots=[
            {
                "DBClusterSnapshotIdentifier": "rds:aur-1",
                "DBClusterIdentifier": "aur",
                "Status": "available",
                "SnapshotCreateTime": NOW - timedelta(hours=3),
                "StorageEncrypted": False,
            }
        ],
    )
    rows = by_name(rds.snapshots(snap))
    assert rows["aur"]["status"] == "fail" and rows["aur"]["unencrypted_snapshot_ids"] == "rds:aur-1"
    assert rows["aur"]["newest_snapshot_age_hours"] == 3.0
    assert rows["src"]["status"] == "pass"
    assert rows["rep"]["status"] == "not_applicable"


# -- TLS enforced by the parameter group -------------------------------------------------------------


def params(**values: str | None) -> Found:
    return Found(
        [
            {"ParameterName": name, "Source": "user", **({"ParameterValue": v} if v is not None else {})}
            for name, v in values.items()
        ]
        + [{"ParameterName": "max_connections", "ParameterValue": "100", "Source": "system"}]
    )


def test_force_ssl_per_engine() -> None:
    mysql_group = [{"DBParameterGroupName": "mysql-tls"}]
    snap = make(
        [
            instance("pg"),
            instance("my-on", Engine="mysql", DBParameterGroups=mysql_group),
            instance("my-one", Engine="mariadb", DBParameterGroups=[{"DBParameterGroupName": "maria"}]),
            instance("my-off", Engine="mysql", DBParameterGroups=[{"DBParameterGroupName": "mysql-off"}]),
            instance(
                "default", Engine="mysql", DBParameterGroups=[{"DBParameterGroupName": "default.mysql8.0"}]
            ),
            instance("mssql", Engine="sqlserver-se", DBParameterGroups=[{"DBParameterGroupName": "mssql"}]),
            instance(
                "ora", Engine="oracle-ee", DBParameterGroups=[{"DBParameterGroupName": "default.oracle"}]
            ),
            instance("nogroup", DBParameterGroups=[]),
            member("aur-0", "aur", "eu-west-1a"),
        ],
        [cluster("aur", ["aur-0"])],
        parameters={
            ("instance", "pg-tls"): params(**{"rds.force_ssl": "1"}),
            ("instance", "mysql-tls"): params(require_secure_transport="ON"),
            ("instance", "maria"): params(require_secure_transport="1"),
            ("instance", "mysql-off"): params(require_secure_transport="OFF"),
            # Listed without a value: the engine default (off) applies.
            ("instance", "default.mysql8.0"): params(require_secure_transport=None),
            ("instance", "mssql"): params(**{"rds.force_ssl": "0"}),
            ("cluster", "apg-tls"): params(**{"rds.force_ssl": "1"}),
        },
    )
    rows = by_name(rds.force_ssl(snap))
    assert {n for n, r in rows.items() if r["status"] == "pass"} == {"pg", "my-on", "my-one", "aur"}
    assert rows["aur"]["parameter_group"] == "apg-tls" and "cluster parameter group" in rows["aur"]["reason"]
    assert rows["my-off"]["status"] == "fail" and rows["my-off"]["ssl_parameter_value"] == "OFF"
    assert rows["default"]["status"] == "fail" and "not set" in rows["default"]["reason"]
    assert rows["default"]["ssl_enforced"] is False and rows["default"]["ssl_parameter_value"] is None
    assert rows["mssql"]["status"] == "fail" and rows["mssql"]["ssl_parameter"] == "rds.force_ssl"
    assert rows["ora"]["status"] == "not_applicable" and rows["ora"]["ssl_enforced"] is None
    assert rows["nogroup"]["status"] == "fail" and rows["nogroup"]["parameter_group"] is None


def test_force_ssl_unreadable_group_is_an_error_naming_the_permission() -> None:
    snap = make([instance("pg")], parameters={("instance", "pg-tls"): DENIED})
    row = rds.force_ssl(snap)[0]
    assert row["status"] == "error"
    assert row["reason"] == (
        "could not read: AccessDenied on rds:describe_db_parameters (needs rds:DescribeDBParameters)"
    )
    assert row["ssl_enforced"] is None


def test_force_ssl_an_unreadable_cluster_does_not_hide_a_readable_instance() -> None:
    """Issue 13: one Aurora cluster whose parameter group could not be read made the whole record an
    error, and the readable instance in the same account got no row."""
    denied = Failed(
        "access_denied",
        SourceError(
            code="AccessDenied",
            message="not authorized",
            operation="rds:describe_db_cluster_parameters",
            permission="rds:DescribeDBClusterParameters",
        ),
    )
    snap = make(
        [instance("pg"), member("aur-0", "aur", "eu-west-1a")],
        [cluster("aur", ["aur-0"])],
        parameters={("instance", "pg-tls"): params(**{"rds.force_ssl": "1"}), ("cluster", "apg-tls"): denied},
    )
    snap.fail_if_uniform(rds.DESCRIBE_CLUSTER_PARAMETERS, [denied])  # what fetch records
    rows, error = map_type(snap, registry.get("aws.rds.force_ssl"))
    assert error is None
    assert {r["db_identifier"]: r["status"] for r in rows} == {"pg": "pass", "aur": "error"}
    assert "rds:DescribeDBClusterParameters" in by_name(rows)["aur"]["reason"]


def test_snapshots_an_unreadable_instance_listing_leaves_clusters_judged() -> None:
    snap = make(
        [instance("pg"), member("aur-0", "aur", "eu-west-1a")],
        [cluster("aur", ["aur-0"])],
        snapshots=[],
    )
    snap.snapshot_listing_failures["instance"] = DENIED
    snap.fail_per_resource(rds.DESCRIBE_SNAPSHOTS, DENIED.error)
    rows, error = map_type(snap, registry.get("aws.rds.snapshots"))
    assert error is None
    status = {r["db_identifier"]: r["status"] for r in rows}
    assert status == {"pg": "error", "aur": "fail"}, rows


# -- schemas and suites agree with the rows ----------------------------------------------------------


def mixed_estate() -> rds.RdsSnapshot:
    return make(
        [
            instance("good"),
            instance(
                "bad",
                Engine="mysql",
                MultiAZ=False,
                StorageEncrypted=False,
                BackupRetentionPeriod=0,
                LatestRestorableTime=None,
                DeletionProtection=False,
                DBParameterGroups=[{"DBParameterGroupName": "default.mysql8.0"}],
            ),
            instance("rep", ReadReplicaSourceDBInstanceIdentifier="good", Engine="oracle-ee"),
        ],
        snapshots=[
            db_snapshot("good", "rds:good-1", timedelta(hours=2)),
            db_snapshot("bad", "rds:bad-1", timedelta(hours=2), encrypted=False),
        ],
        parameters={
            ("instance", "pg-tls"): params(**{"rds.force_ssl": "1"}),
            ("instance", "default.mysql8.0"): params(require_secure_transport=None),
        },
    )


MAPPERS = {
    "aws.rds.storage_encryption": rds.storage_encryption,
    "aws.rds.backup_retention": rds.backup_retention,
    "aws.rds.high_availability": rds.high_availability,
    "aws.rds.deletion_protection": rds.deletion_protection,
    "aws.rds.snapshots": rds.snapshots,
    "aws.rds.force_ssl": rds.force_ssl,
}


@pytest.mark.parametrize("type_id", sorted(MAPPERS))
def test_rows_fit_the_schema_and_the_suite_agrees(type_id: str) -> None:
    rows = MAPPERS[type_id](mixed_estate())
    assert not schema_errors(type_id, {"evidence_type": type_id, "target": {"region": REGION}, "rows": rows})
    failing = [r for r in rows if r["status"] == "fail"]
    assert [r["db_identifier"] for r in failing] == ["bad"], rows
    summary, _ = run_suite(type_id, rows)
    assert not summary.success, f"{type_id}: GX passed a failing collection"
    # Without the failing database (and with not_applicable rows kept), the suite passes.
    passing = [r for r in rows if r["status"] != "fail"]
    summary, _ = run_suite(type_id, passing)
    assert summary.success, summary.failed_expectations


# -- fetch: every page, each parameter group once, uniform denial recorded for the whole type ----------


def test_fetch_follows_pages_and_records_a_uniform_denial() -> None:
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name=REGION)
    clients = AwsClients(AwsConfig(regions=(REGION,), max_retries=1), session=session)
    client = clients.client("rds", REGION)
    stub = Stubber(client)
    page = {"MaxRecords": 100}
    stub.add_response("describe_db_instances", {"DBInstances": [instance("a")], "Marker": "m1"}, page)
    stub.add_response(
        "describe_db_instances",
        {"DBInstances": [instance("b", DBParameterGroups=[{"DBParameterGroupName": "other"}])]},
        {**page, "Marker": "m1"},
    )
    stub.add_response("describe_db_clusters", {"DBClusters": []}, page)
    stub.add_response(
        "describe_db_snapshots", {"DBSnapshots": [db_snapshot("a", "s1", timedelta(hours=1))]}, page
    )
    stub.add_response("describe_db_snapshots", {"DBSnapshots": []}, {**page, "SnapshotType": "awsbackup"})
    stub.add_response("describe_db_cluster_snapshots", {"DBClusterSnapshots": []}, page)
    for _ in range(2):  # two distinct groups, both denied
        stub.add_client_error("describe_db_parameters", "AccessDenied", "not authorized", 403)
    with stub:
        snap = run_fetch(
            rds.fetch, clients, REGION, {"account": ACCOUNT, "region": REGION}, AwsCallRecorder(), 1
        )
    stub.assert_no_pending_responses()
    assert [db.identifier for db in snap.databases] == ["a", "b"]
    assert [s["DBSnapshotIdentifier"] for s in snap.db_snapshots["instance:a"]] == ["s1"]
    # Denied everywhere: recorded per resource (the record names it when no row can be judged).
    assert rds.DESCRIBE_PARAMETERS.key not in snap.failures
    failure = snap.per_resource_failures[rds.DESCRIBE_PARAMETERS.key]
    assert failure.code == "AccessDenied" and failure.permission == "rds:DescribeDBParameters"
    assert rds.DESCRIBE_CLUSTER_PARAMETERS.key not in snap.per_resource_failures  # no cluster group was read
    rows, error = map_type(snap, registry.get("aws.rds.force_ssl"))
    assert [r["status"] for r in rows] == ["error", "error"] and error == failure


def test_fetch_stops_when_a_listing_is_denied() -> None:
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name=REGION)
    clients = AwsClients(AwsConfig(regions=(REGION,), max_retries=1), session=session)
    stub = Stubber(clients.client("rds", REGION))
    stub.add_client_error("describe_db_instances", "AccessDenied", "no", 403)
    stub.add_response("describe_db_clusters", {"DBClusters": []}, {"MaxRecords": 100})
    with stub:
        snap = run_fetch(
            rds.fetch, clients, REGION, {"account": ACCOUNT, "region": REGION}, AwsCallRecorder(), 1
        )
    stub.assert_no_pending_responses()
    assert snap.databases == []
    assert snap.failures[rds.DESCRIBE_INSTANCES.key].permission == "rds:DescribeDBInstances"

"""RDS: storage encryption, automated backups and point-in-time recovery, high availability, deletion
protection, snapshot freshness and encryption, and TLS enforced by the parameter group.

One row per *database*: a DB instance that is not part of a cluster, or a DB cluster (Aurora, Multi-AZ
DB clusters; also Neptune and DocumentDB clusters, which the RDS API lists too). An instance that is a
member of a cluster is represented by its cluster, because encryption, backups, deletion protection,
snapshots and the TLS parameter live on the cluster there. The resource id is the instance's or the
cluster's ARN (identifiers are unique per region only).

``fetch`` reads every listing once (all pages) and each distinct parameter group once (bounded
concurrency); each evidence type below is a pure function of the snapshot, fed recorded responses in
the unit tests.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from collectors.aws.client import AwsCallRecorder, AwsClients
from collectors.aws.family import AWS, AwsTarget
from collectors.core import Failed, Found, Outcome, Snapshot, failed_reason, fan_out
from collectors.core.family import FetchContext
from collectors.core.timestamps import as_utc, iso
from evidence.registry import ApiPermission, Row

COLLECTOR = "aws.rds"

DESCRIBE_INSTANCES = ApiPermission("rds", "describe_db_instances", "rds:DescribeDBInstances")
DESCRIBE_CLUSTERS = ApiPermission("rds", "describe_db_clusters", "rds:DescribeDBClusters")
DESCRIBE_SNAPSHOTS = ApiPermission("rds", "describe_db_snapshots", "rds:DescribeDBSnapshots")
DESCRIBE_CLUSTER_SNAPSHOTS = ApiPermission(
    "rds", "describe_db_cluster_snapshots", "rds:DescribeDBClusterSnapshots"
)
DESCRIBE_PARAMETERS = ApiPermission("rds", "describe_db_parameters", "rds:DescribeDBParameters")
DESCRIBE_CLUSTER_PARAMETERS = ApiPermission(
    "rds", "describe_db_cluster_parameters", "rds:DescribeDBClusterParameters"
)
LISTINGS = (DESCRIBE_INSTANCES, DESCRIBE_CLUSTERS)

# SOC 2 availability and our DR runbook expect at least a week of point-in-time recovery: long enough to
# notice a bad deploy or a silent corruption over a weekend and still restore to before it (AWS's
# default of 1 day is not). RDS allows 0-35 days.
MIN_BACKUP_RETENTION_DAYS = 7
# RDS ships transaction logs to S3 every 5 minutes, so LatestRestorableTime normally trails "now" by
# about 5 minutes. An hour of lag means log shipping is broken and point-in-time recovery would lose
# data beyond the recovery point objective.
MAX_RESTORE_LAG = timedelta(hours=1)
# Automated snapshots are daily; a newest snapshot older than a day means the backup window was missed.
MAX_SNAPSHOT_AGE = timedelta(days=1)
# How many offending snapshot ids a row names (the count is always complete).
MAX_NAMED_SNAPSHOTS = 10

# The parameter that makes an engine refuse unencrypted connections, and the values that mean "forced".
# Engines not listed (Oracle: TLS is the SSL option of an option group; Neptune: TLS is always on in
# current engine versions; RDS Custom) are not_applicable here and say why.
_POSTGRES_SSL = ("rds.force_ssl", frozenset({"1"}))
_MYSQL_SSL = ("require_secure_transport", frozenset({"1", "on"}))
SSL_PARAMETERS: dict[str, tuple[str, frozenset[str]]] = {
    "postgres": _POSTGRES_SSL,
    "aurora-postgresql": _POSTGRES_SSL,
    "mysql": _MYSQL_SSL,
    "mariadb": _MYSQL_SSL,
    "aurora-mysql": _MYSQL_SSL,
    "aurora": _MYSQL_SSL,  # Aurora MySQL 1 (5.6) has no such parameter: it cannot force TLS -> fail
    "sqlserver": ("rds.force_ssl", frozenset({"1"})),
    "docdb": ("tls", frozenset({"enabled", "fips-140-3", "tls1.2+", "tls1.3+"})),
    "db2": ("db2comm", frozenset({"ssl"})),  # "TCPIP,SSL" still accepts plain TCP
}
# Job states of a DB snapshot that is a usable restore point.
AVAILABLE = "available"


@dataclass
class Database:
    """A standalone DB instance or a DB cluster, as the describe call returned it."""

    kind: Literal["instance", "cluster"]
    raw: dict[str, Any]
    # For clusters: the availability zones of the member instances (from the instance listing).
    member_zones: list[str | None] = field(default_factory=list)

    @property
    def identifier(self) -> str:
        key = "DBInstanceIdentifier" if self.kind == "instance" else "DBClusterIdentifier"
        return str(self.raw.get(key) or "")

    @property
    def arn(self) -> str:
        key = "DBInstanceArn" if self.kind == "instance" else "DBClusterArn"
        return str(self.raw.get(key) or self.identifier)

    @property
    def engine(self) -> str | None:
        return self.raw.get("Engine")

    @property
    def replica_of(self) -> str | None:
        """The source of a read replica instance (it is backed up and made redundant through it)."""
        if self.kind != "instance":
            return None
        return self.raw.get("ReadReplicaSourceDBInstanceIdentifier") or self.raw.get(
            "ReadReplicaSourceDBClusterIdentifier"
        )

    @property
    def parameter_group(self) -> tuple[str, str] | None:
        """("instance" | "cluster", group name): where the TLS parameter lives for this database."""
        if self.kind == "cluster":
            name = self.raw.get("DBClusterParameterGroup")
            return ("cluster", name) if name else None
        groups = self.raw.get("DBParameterGroups") or []
        name = groups[0].get("DBParameterGroupName") if groups else None
        return ("instance", name) if name else None


@dataclass
class RdsSnapshot(Snapshot):
    databases: list[Database] = field(default_factory=list)
    # Snapshots per database key ("instance:<id>" / "cluster:<id>"), both automated and manual.
    db_snapshots: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Parameter group ("instance" | "cluster", name) -> Found(list of parameters) | Failed.
    parameters: dict[tuple[str, str], Outcome] = field(default_factory=dict)
    # "instance" | "cluster" -> the snapshot listing that failed: those databases get error rows.
    snapshot_listing_failures: dict[str, Failed] = field(default_factory=dict)


def _key(kind: str, identifier: str | None) -> str:
    return f"{kind}:{(identifier or '').lower()}"


def _group_databases(instances: list[dict[str, Any]], clusters: list[dict[str, Any]]) -> list[Database]:
    zones = {i.get("DBInstanceIdentifier"): i.get("AvailabilityZone") for i in instances}
    databases = [Database("instance", i) for i in instances if not i.get("DBClusterIdentifier")]
    for cluster in clusters:
        members = [m.get("DBInstanceIdentifier") for m in cluster.get("DBClusterMembers") or []]
        databases.append(Database("cluster", cluster, member_zones=[zones.get(m) for m in members]))
    return databases


def _read_parameters(
    clients: AwsClients, region: str, recorder: AwsCallRecorder, group: tuple[str, str]
) -> Outcome:
    client = clients.client("rds", region)
    kind, name = group
    # Every parameter, not only Source="user": engine defaults count (PostgreSQL 15+ default groups set
    # rds.force_ssl=1 themselves), and a user filter would report those as "not set".
    if kind == "cluster":
        return recorder.paginate(
            client,
            DESCRIBE_CLUSTER_PARAMETERS,
            region,
            "Parameters",
            token_in="Marker",
            DBClusterParameterGroupName=name,
            MaxRecords=100,
        )
    return recorder.paginate(
        client,
        DESCRIBE_PARAMETERS,
        region,
        "Parameters",
        token_in="Marker",
        DBParameterGroupName=name,
        MaxRecords=100,
    )


def fetch(ctx: FetchContext[AwsTarget]) -> RdsSnapshot:
    clients, region = ctx.connection.clients, ctx.connection.region
    recorder: AwsCallRecorder = ctx.recorder
    concurrency = ctx.concurrency
    snapshot = RdsSnapshot(target=ctx.target, observed_at=ctx.observed_at)
    client = clients.client("rds", region)
    listings = {
        api: recorder.paginate(client, api, region, key, token_in="Marker", MaxRecords=100)
        for api, key in ((DESCRIBE_INSTANCES, "DBInstances"), (DESCRIBE_CLUSTERS, "DBClusters"))
    }
    for api, outcome in listings.items():
        if isinstance(outcome, Failed):
            snapshot.fail(api, outcome.error)
    if snapshot.failures:
        # Without both listings the set of databases is unknown: every type is an error record.
        return snapshot
    instances, clusters = (o.value for o in listings.values() if isinstance(o, Found))
    snapshot.databases = _group_databases(instances, clusters)

    # Snapshots: the default listing holds automated and manual ones; those AWS Backup made for RDS
    # instances ("awsbackup", which does not apply to Aurora) only come when asked for by type.
    by_db: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for params in ({}, {"SnapshotType": "awsbackup"}):
        listing = recorder.paginate(
            client, DESCRIBE_SNAPSHOTS, region, "DBSnapshots", token_in="Marker", MaxRecords=100, **params
        )
        if isinstance(listing, Failed):
            # The instances' snapshots are unknown; the clusters' are still judged.
            snapshot.fail_per_resource(DESCRIBE_SNAPSHOTS, listing.error)
            snapshot.snapshot_listing_failures["instance"] = listing
            break
        assert isinstance(listing, Found)
        for item in listing.value:
            by_db[_key("instance", item.get("DBInstanceIdentifier"))].append(item)
    cluster_listing = recorder.paginate(
        client, DESCRIBE_CLUSTER_SNAPSHOTS, region, "DBClusterSnapshots", token_in="Marker", MaxRecords=100
    )
    if isinstance(cluster_listing, Failed):
        snapshot.fail_per_resource(DESCRIBE_CLUSTER_SNAPSHOTS, cluster_listing.error)
        snapshot.snapshot_listing_failures["cluster"] = cluster_listing
    else:
        assert isinstance(cluster_listing, Found)
        for item in cluster_listing.value:
            by_db[_key("cluster", item.get("DBClusterIdentifier"))].append(item)
    snapshot.db_snapshots = dict(by_db)

    groups = sorted({g for db in snapshot.databases if (g := db.parameter_group) is not None})
    outcomes = fan_out(lambda g: _read_parameters(clients, region, recorder, g), groups, concurrency)
    snapshot.parameters = dict(zip(groups, outcomes, strict=True))
    for kind, api in (("instance", DESCRIBE_PARAMETERS), ("cluster", DESCRIBE_CLUSTER_PARAMETERS)):
        snapshot.fail_if_uniform(api, [o for g, o in snapshot.parameters.items() if g[0] == kind])
    return snapshot


SERVICE = AWS.source(COLLECTOR, scope="regional")(fetch)


# ---------------------------------------------------------------------------------------------------
# Pure mappings: snapshot -> rows. A row names its database and says pass / fail / error /
# not_applicable, and why.


def _row(snapshot: RdsSnapshot, db: Database, status: str, reason: str, **fields: Any) -> Row:
    return {
        "resource": db.arn,
        "region": snapshot.target.get("region"),
        "status": status,
        "reason": reason,
        "db_identifier": db.identifier,
        "db_kind": db.kind,
        "engine": db.engine,
        **fields,
    }


def _age(snapshot: RdsSnapshot, when: datetime) -> timedelta:
    # A time read after observed_at (the listing ran a moment later) is "now", not the future.
    return max(timedelta(0), snapshot.observed_at - when)


def _replica_row(snapshot: RdsSnapshot, db: Database, why: str, **nulls: Any) -> Row:
    return _row(snapshot, db, "not_applicable", f"read replica of {db.replica_of}: {why}", **nulls)


@SERVICE.evidence_type(
    "aws.rds.storage_encryption",
    title="RDS databases encrypt storage at rest (KMS)",
    api_calls=LISTINGS,
    resource_kind="database",
)
def storage_encryption(snapshot: RdsSnapshot) -> list[Row]:
    rows = []
    for db in snapshot.databases:
        encrypted = db.raw.get("StorageEncrypted")
        # A key id on an unencrypted database means nothing (emulators even report a placeholder).
        fields = {
            "storage_encrypted": encrypted if isinstance(encrypted, bool) else None,
            "kms_key_id": db.raw.get("KmsKeyId") if encrypted is True else None,
        }
        if encrypted is True:
            rows.append(
                _row(snapshot, db, "pass", f"storage encrypted with {fields['kms_key_id']}", **fields)
            )
        elif encrypted is None:
            rows.append(_row(snapshot, db, "fail", "StorageEncrypted not reported: not proven", **fields))
        else:
            rows.append(_row(snapshot, db, "fail", "storage not encrypted", **fields))
    return rows


@SERVICE.evidence_type(
    "aws.rds.backup_retention",
    title=f"RDS automated backups keep at least {MIN_BACKUP_RETENTION_DAYS} days and point-in-time "
    "recovery is current",
    api_calls=LISTINGS,
    resource_kind="database",
)
def backup_retention(snapshot: RdsSnapshot) -> list[Row]:
    rows = []
    for db in snapshot.databases:
        if db.replica_of:
            rows.append(
                _replica_row(
                    snapshot,
                    db,
                    "backed up through its source",
                    backup_retention_days=db.raw.get("BackupRetentionPeriod"),
                    latest_restorable_time=None,
                    restore_lag_minutes=None,
                )
            )
            continue
        retention = db.raw.get("BackupRetentionPeriod")
        latest = as_utc(db.raw.get("LatestRestorableTime"))
        lag = _age(snapshot, latest) if latest else None
        fields = {
            "backup_retention_days": retention if isinstance(retention, int) else None,
            "latest_restorable_time": iso(latest),
            "restore_lag_minutes": round(lag.total_seconds() / 60, 1) if lag is not None else None,
        }
        problems = []
        if not isinstance(retention, int):
            problems.append("backup retention not reported")
        elif retention == 0:
            problems.append("automated backups disabled (retention 0 days)")
        elif retention < MIN_BACKUP_RETENTION_DAYS:
            problems.append(f"backup retention {retention} day(s) < {MIN_BACKUP_RETENTION_DAYS}")
        if latest is None:
            problems.append("no latest restorable time: point-in-time recovery unavailable")
        elif lag is not None and lag > MAX_RESTORE_LAG:
            problems.append(
                f"latest restorable time {fields['latest_restorable_time']} is "
                f"{fields['restore_lag_minutes']} min old (> {int(MAX_RESTORE_LAG.total_seconds() // 60)})"
            )
        if problems:
            rows.append(_row(snapshot, db, "fail", "; ".join(problems), **fields))
        else:
            rows.append(
                _row(
                    snapshot,
                    db,
                    "pass",
                    f"{retention} days of backups; restorable to {fields['restore_lag_minutes']} min ago",
                    **fields,
                )
            )
    return rows


@SERVICE.evidence_type(
    "aws.rds.high_availability",
    title="RDS databases survive the loss of an instance or zone (Multi-AZ, replicas, cluster members)",
    api_calls=LISTINGS,
    resource_kind="database",
)
def high_availability(snapshot: RdsSnapshot) -> list[Row]:
    rows = []
    for db in snapshot.databases:
        multi_az = db.raw.get("MultiAZ")
        multi_az = multi_az if isinstance(multi_az, bool) else None
        if db.kind == "instance":
            replicas = len(db.raw.get("ReadReplicaDBInstanceIdentifiers") or []) + len(
                db.raw.get("ReadReplicaDBClusterIdentifiers") or []
            )
            members, zones = None, None
        else:
            replicas = len(db.raw.get("ReadReplicaIdentifiers") or [])
            members = len(db.member_zones)
            known = {z for z in db.member_zones if z}
            zones = len(known) if known else None
        fields = {
            "multi_az": multi_az,
            "read_replicas": replicas,
            "cluster_members": members,
            "member_zones": zones,
        }
        if db.replica_of:
            rows.append(
                _replica_row(snapshot, db, "it is the redundancy of its source", **fields, redundant=None)
            )
            continue
        if multi_az:
            rows.append(_row(snapshot, db, "pass", "Multi-AZ", **fields, redundant=True))
        elif members is not None and members > 1 and zones == 1:
            rows.append(
                _row(
                    snapshot,
                    db,
                    "fail",
                    f"all {members} cluster members in one availability zone",
                    **fields,
                    redundant=False,
                )
            )
        elif members is not None and members > 1:
            rows.append(_row(snapshot, db, "pass", f"{members} cluster members", **fields, redundant=True))
        elif replicas:
            rows.append(
                _row(snapshot, db, "pass", f"{replicas} read replica(s) to promote", **fields, redundant=True)
            )
        else:
            what = "single-member cluster" if db.kind == "cluster" else "single-AZ instance without replicas"
            rows.append(_row(snapshot, db, "fail", what, **fields, redundant=False))
    return rows


@SERVICE.evidence_type(
    "aws.rds.deletion_protection",
    title="RDS databases cannot be deleted by mistake (deletion protection)",
    api_calls=LISTINGS,
    resource_kind="database",
)
def deletion_protection(snapshot: RdsSnapshot) -> list[Row]:
    rows = []
    for db in snapshot.databases:
        value = db.raw.get("DeletionProtection")
        protected = value if isinstance(value, bool) else None
        if protected:
            rows.append(_row(snapshot, db, "pass", "deletion protection on", deletion_protection=True))
        elif protected is None:
            rows.append(
                _row(snapshot, db, "fail", "DeletionProtection not reported", deletion_protection=None)
            )
        else:
            rows.append(_row(snapshot, db, "fail", "deletion protection off", deletion_protection=False))
    return rows


_SNAPSHOT_FIELDS = (
    "snapshots",
    "newest_snapshot",
    "newest_snapshot_time",
    "newest_snapshot_age_hours",
    "unencrypted_snapshots",
    "unencrypted_snapshot_ids",
)


def _snapshot_fields(snapshot: RdsSnapshot, db: Database) -> tuple[dict[str, Any], list[str]]:
    items = snapshot.db_snapshots.get(_key(db.kind, db.identifier), [])
    id_key = "DBSnapshotIdentifier" if db.kind == "instance" else "DBClusterSnapshotIdentifier"
    enc_key = "Encrypted" if db.kind == "instance" else "StorageEncrypted"
    unencrypted = sorted(str(s.get(id_key)) for s in items if s.get(enc_key) is not True)

    def taken(item: dict[str, Any]) -> datetime | None:
        # A copy's data is as old as the snapshot it was copied from.
        return as_utc(item.get("OriginalSnapshotCreateTime")) or as_utc(item.get("SnapshotCreateTime"))

    usable = [(t, s) for s in items if s.get("Status") == AVAILABLE and (t := taken(s)) is not None]
    newest_time, newest = max(usable, key=lambda p: p[0]) if usable else (None, None)
    age = _age(snapshot, newest_time) if newest_time else None
    named = ",".join(unencrypted[:MAX_NAMED_SNAPSHOTS])
    if len(unencrypted) > MAX_NAMED_SNAPSHOTS:
        named += f",+{len(unencrypted) - MAX_NAMED_SNAPSHOTS} more"
    fields = {
        "snapshots": len(items),
        "newest_snapshot": newest.get(id_key) if newest else None,
        "newest_snapshot_time": iso(newest_time),
        "newest_snapshot_age_hours": round(age.total_seconds() / 3600, 2) if age is not None else None,
        "unencrypted_snapshots": len(unencrypted),
        "unencrypted_snapshot_ids": named or None,
    }
    problems = []
    if not items:
        problems.append("no snapshot")
    elif newest_time is None:
        problems.append(f"none of {len(items)} snapshots is available")
    elif age is not None and age > MAX_SNAPSHOT_AGE:
        problems.append(
            f"newest snapshot {fields['newest_snapshot']} is {fields['newest_snapshot_age_hours']} h old "
            f"(> {int(MAX_SNAPSHOT_AGE.total_seconds() // 3600)})"
        )
    if unencrypted:
        problems.append(f"{len(unencrypted)} unencrypted snapshot(s): {named}")
    return fields, problems


@SERVICE.evidence_type(
    "aws.rds.snapshots",
    title="Every RDS database has a snapshot from the last day, and every snapshot is encrypted",
    api_calls=(*LISTINGS, DESCRIBE_SNAPSHOTS, DESCRIBE_CLUSTER_SNAPSHOTS),
    resource_kind="database",
)
def snapshots(snapshot: RdsSnapshot) -> list[Row]:
    """One row per database (not per snapshot): an auditor asks "is this database backed up?", and the
    row answers it with the newest snapshot and names every unencrypted one."""
    rows = []
    for db in snapshot.databases:
        unread = snapshot.snapshot_listing_failures.get(db.kind)
        if unread is not None:
            rows.append(_row(snapshot, db, "error", failed_reason(unread), **dict.fromkeys(_SNAPSHOT_FIELDS)))
            continue
        fields, problems = _snapshot_fields(snapshot, db)
        if db.replica_of and not fields["snapshots"]:
            rows.append(_replica_row(snapshot, db, "snapshots are taken of its source", **fields))
        elif problems:
            rows.append(_row(snapshot, db, "fail", "; ".join(problems), **fields))
        else:
            rows.append(
                _row(
                    snapshot,
                    db,
                    "pass",
                    f"newest snapshot {fields['newest_snapshot']} is {fields['newest_snapshot_age_hours']} h "
                    f"old; all {fields['snapshots']} encrypted",
                    **fields,
                )
            )
    return rows


def _ssl_parameter(engine: str | None) -> tuple[str, frozenset[str]] | None:
    if not engine:
        return None
    if engine in SSL_PARAMETERS:
        return SSL_PARAMETERS[engine]
    family = engine.split("-", 1)[0]  # sqlserver-ee, db2-se ...
    return SSL_PARAMETERS.get(family) if family in ("sqlserver", "db2") else None


@SERVICE.evidence_type(
    "aws.rds.force_ssl",
    title="RDS databases refuse unencrypted connections (rds.force_ssl / require_secure_transport)",
    api_calls=(*LISTINGS, DESCRIBE_PARAMETERS, DESCRIBE_CLUSTER_PARAMETERS),
    resource_kind="database",
)
def force_ssl(snapshot: RdsSnapshot) -> list[Row]:
    rows = []
    for db in snapshot.databases:
        group = db.parameter_group
        wanted = _ssl_parameter(db.engine)
        nulls = {
            "parameter_group": group[1] if group else None,
            "ssl_parameter": wanted[0] if wanted else None,
            "ssl_parameter_value": None,
            "ssl_enforced": None,
        }
        if wanted is None:
            rows.append(
                _row(
                    snapshot,
                    db,
                    "not_applicable",
                    f"engine {db.engine} has no parameter that forces TLS (Oracle: SSL option of an "
                    "option group; not read by this check)",
                    **nulls,
                )
            )
            continue
        if group is None:
            rows.append(_row(snapshot, db, "fail", "no parameter group reported", **nulls))
            continue
        outcome = snapshot.parameters.get(group)
        if isinstance(outcome, Failed):
            rows.append(_row(snapshot, db, "error", failed_reason(outcome), **nulls))
            continue
        if not isinstance(outcome, Found):
            rows.append(_row(snapshot, db, "error", f"parameter group {group[1]} was not read", **nulls))
            continue
        name, accepted = wanted
        parameter = next((p for p in outcome.value if p.get("ParameterName") == name), None)
        value = parameter.get("ParameterValue") if parameter else None
        enforced = value is not None and str(value).strip().lower() in accepted
        fields = {**nulls, "ssl_parameter_value": value, "ssl_enforced": enforced}
        where = f"{'cluster ' if group[0] == 'cluster' else ''}parameter group {group[1]}"
        if enforced:
            rows.append(_row(snapshot, db, "pass", f"{name}={value} in {where}", **fields))
        elif value is None:
            rows.append(_row(snapshot, db, "fail", f"{name} not set in {where}: TLS not enforced", **fields))
        else:
            rows.append(_row(snapshot, db, "fail", f"{name}={value} in {where}: TLS not enforced", **fields))
    return rows

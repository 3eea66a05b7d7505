"""AWS Backup: backup plans (schedule, retention, assigned resources), vault encryption and lock, and
whether every protected resource had a successful backup job in the last day.

``fetch`` reads the plans with their rules and selections, the vaults, the protected resources and
the recent backup jobs once per region (bounded concurrency for the per-plan calls); each evidence
type below is a pure function of the snapshot, fed recorded responses in the unit tests.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from collectors.aws.client import AwsCallRecorder, AwsClients
from collectors.aws.family import AWS, AwsTarget
from collectors.core import Absent, Failed, Found, Outcome, Snapshot, failed_reason, fan_out, uniform_failure
from collectors.core.family import FetchContext
from collectors.core.timestamps import as_utc, iso
from evidence.registry import ApiPermission, Row

COLLECTOR = "aws.backup"

LIST_PLANS = ApiPermission("backup", "list_backup_plans", "backup:ListBackupPlans")
GET_PLAN = ApiPermission("backup", "get_backup_plan", "backup:GetBackupPlan")
LIST_SELECTIONS = ApiPermission("backup", "list_backup_selections", "backup:ListBackupSelections")
GET_SELECTION = ApiPermission("backup", "get_backup_selection", "backup:GetBackupSelection")
LIST_VAULTS = ApiPermission("backup", "list_backup_vaults", "backup:ListBackupVaults")
DESCRIBE_KEY = ApiPermission("kms", "describe_key", "kms:DescribeKey", ("NotFoundException",))
LIST_PROTECTED = ApiPermission("backup", "list_protected_resources", "backup:ListProtectedResources")
LIST_JOBS = ApiPermission("backup", "list_backup_jobs", "backup:ListBackupJobs")
# Only read when a region has no backup plan: does it hold databases that should have one?
DESCRIBE_DB_INSTANCES = ApiPermission("rds", "describe_db_instances", "rds:DescribeDBInstances")
DESCRIBE_DB_CLUSTERS = ApiPermission("rds", "describe_db_clusters", "rds:DescribeDBClusters")

# Recovery points must outlive a monthly review cycle: 35 days keeps every daily restore point of the
# last month plus the days it takes to notice a problem at month end (and matches RDS's 35-day maximum
# for point-in-time recovery). A rule without DeleteAfterDays keeps its recovery points indefinitely
# (AWS Backup's documented default: "If you do not specify a lifecycle, recovery points are retained
# indefinitely"), so it meets this minimum; the row still counts such rules (rules_without_expiry) for
# a storage-limitation review, which is a separate, attested control.
MIN_DELETE_AFTER_DAYS = 35
# Backups are scheduled at least daily; a protected resource without a successful job in the last day
# has missed its backup.
JOB_WINDOW = timedelta(hours=24)
# States of a backup job that has not finished yet: the latest *finished* job decides.
UNFINISHED_STATES = frozenset({"CREATED", "PENDING", "RUNNING", "ABORTING"})
# AWS Backup's names for how a vault's key is managed (ListBackupVaults' EncryptionKeyType); KMS's
# KeyManager is mapped onto them when the listing does not say.
KEY_MANAGERS = {"CUSTOMER": "CUSTOMER_MANAGED_KMS_KEY", "AWS": "AWS_MANAGED_KMS_KEY"}


@dataclass
class Plan:
    summary: dict[str, Any]  # ListBackupPlans' entry
    plan: Outcome | None = None  # GetBackupPlan
    selections: Outcome | None = None  # Found(list of GetBackupSelection answers) | Failed

    @property
    def plan_id(self) -> str:
        return str(self.summary.get("BackupPlanId") or "")

    @property
    def arn(self) -> str:
        return str(self.summary.get("BackupPlanArn") or self.plan_id)

    @property
    def name(self) -> str | None:
        return self.summary.get("BackupPlanName")


@dataclass
class BackupSnapshot(Snapshot):
    plans: list[Plan] = field(default_factory=list)
    vaults: list[dict[str, Any]] = field(default_factory=list)
    keys: dict[str, Outcome] = field(default_factory=dict)  # EncryptionKeyArn -> kms DescribeKey
    protected_resources: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)  # created within JOB_WINDOW
    # Only when the region has no plan: Found(number of RDS instances + clusters) | Failed.
    databases: Outcome | None = None


def _read_plan(clients: AwsClients, region: str, recorder: AwsCallRecorder, plan: Plan) -> Plan:
    client = clients.client("backup", region)
    plan.plan = recorder.call(client, GET_PLAN, region, BackupPlanId=plan.plan_id)
    listing = recorder.paginate(
        client, LIST_SELECTIONS, region, "BackupSelectionsList", BackupPlanId=plan.plan_id
    )
    if not isinstance(listing, Found):
        plan.selections = listing
        return plan
    selections = []
    for item in listing.value:
        outcome = recorder.call(
            client, GET_SELECTION, region, BackupPlanId=plan.plan_id, SelectionId=item.get("SelectionId")
        )
        if not isinstance(outcome, Found):
            plan.selections = outcome
            return plan
        selections.append(outcome.value)
    plan.selections = Found(selections)
    return plan


def _key_region(key_arn: str, default: str) -> str:
    parts = key_arn.split(":")
    return parts[3] if len(parts) > 5 and parts[0] == "arn" and parts[3] else default


def _count_databases(clients: AwsClients, region: str, recorder: AwsCallRecorder) -> Outcome:
    client = clients.client("rds", region)
    total = 0
    for api, key in ((DESCRIBE_DB_INSTANCES, "DBInstances"), (DESCRIBE_DB_CLUSTERS, "DBClusters")):
        outcome = recorder.paginate(client, api, region, key, token_in="Marker", MaxRecords=100)
        if not isinstance(outcome, Found):
            return outcome
        # Cluster members are counted through their cluster.
        total += sum(
            1 for item in outcome.value if api is DESCRIBE_DB_CLUSTERS or not item.get("DBClusterIdentifier")
        )
    return Found(total)


def fetch(ctx: FetchContext[AwsTarget]) -> BackupSnapshot:
    clients, region = ctx.connection.clients, ctx.connection.region
    recorder: AwsCallRecorder = ctx.recorder
    concurrency = ctx.concurrency
    snapshot = BackupSnapshot(target=ctx.target, observed_at=ctx.observed_at)
    client = clients.client("backup", region)

    listing = recorder.paginate(client, LIST_PLANS, region, "BackupPlansList")
    if isinstance(listing, Failed):
        snapshot.fail(LIST_PLANS, listing.error)
    else:
        assert isinstance(listing, Found)
        plans = [Plan(summary=p) for p in listing.value]
        snapshot.plans = fan_out(lambda p: _read_plan(clients, region, recorder, p), plans, concurrency)
        snapshot.fail_if_uniform(GET_PLAN, [p.plan for p in snapshot.plans])
        # A plan's selections stop at the first failing call (the listing or one selection).
        failure = uniform_failure([p.selections for p in snapshot.plans if p.selections is not None])
        if failure is not None:
            snapshot.fail_per_resource(
                LIST_SELECTIONS if failure.operation == LIST_SELECTIONS.key else GET_SELECTION, failure
            )
        if not snapshot.plans:
            snapshot.databases = _count_databases(clients, region, recorder)
            if isinstance(snapshot.databases, Failed):
                failed_api = (
                    DESCRIBE_DB_INSTANCES
                    if snapshot.databases.error.operation == DESCRIBE_DB_INSTANCES.key
                    else DESCRIBE_DB_CLUSTERS
                )
                snapshot.fail(failed_api, snapshot.databases.error)

    vaults = recorder.paginate(client, LIST_VAULTS, region, "BackupVaultList")
    if isinstance(vaults, Failed):
        snapshot.fail(LIST_VAULTS, vaults.error)
    else:
        assert isinstance(vaults, Found)
        snapshot.vaults = vaults.value
        # The key's manager, where the listing does not give EncryptionKeyType itself.
        keys = sorted(
            {
                v["EncryptionKeyArn"]
                for v in vaults.value
                if v.get("EncryptionKeyArn") and not v.get("EncryptionKeyType")
            }
        )

        def describe(key: str) -> Outcome:
            kms = clients.client("kms", _key_region(key, region))
            return recorder.call(kms, DESCRIBE_KEY, _key_region(key, region), KeyId=key)

        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            snapshot.keys = dict(zip(keys, pool.map(describe, keys), strict=True))
        snapshot.fail_if_uniform(DESCRIBE_KEY, list(snapshot.keys.values()))

    protected = recorder.paginate(client, LIST_PROTECTED, region, "Results")
    if isinstance(protected, Failed):
        snapshot.fail(LIST_PROTECTED, protected.error)
    else:
        assert isinstance(protected, Found)
        snapshot.protected_resources = protected.value
    jobs = recorder.paginate(
        client, LIST_JOBS, region, "BackupJobs", ByCreatedAfter=snapshot.observed_at - JOB_WINDOW
    )
    if isinstance(jobs, Failed):
        snapshot.fail(LIST_JOBS, jobs.error)
    else:
        assert isinstance(jobs, Found)
        snapshot.jobs = jobs.value
    return snapshot


SERVICE = AWS.source(COLLECTOR, scope="regional")(fetch)


# ---------------------------------------------------------------------------------------------------
# Pure mappings: snapshot -> rows.


def _region(snapshot: BackupSnapshot) -> str | None:
    return snapshot.target.get("region")


def _region_resource(snapshot: BackupSnapshot) -> str:
    """The name of "this account's backup plans in this region", for the row that says there are none."""
    return f"{snapshot.target.get('account')}/{snapshot.target.get('region')}"


_PLAN_NULLS: dict[str, Any] = {
    "plan_name": None,
    "rules": None,
    "unscheduled_rules": None,
    "rules_without_expiry": None,
    "min_delete_after_days": None,
    "selections": None,
}


@SERVICE.evidence_type(
    "aws.backup.plans",
    title=f"AWS Backup plans schedule backups, keep them at least {MIN_DELETE_AFTER_DAYS} days and "
    "have resources assigned",
    api_calls=(
        LIST_PLANS,
        GET_PLAN,
        LIST_SELECTIONS,
        GET_SELECTION,
        DESCRIBE_DB_INSTANCES.optional(),
        DESCRIBE_DB_CLUSTERS.optional(),
    ),
    resource_kind="backup plan",
)
def plans(snapshot: BackupSnapshot) -> list[Row]:
    """One row per backup plan. A region with no plan at all is one failing row when it holds RDS
    databases (they are not backed up by AWS Backup) and no row otherwise (not_applicable): the simple
    rule that catches "we forgot AWS Backup here" without guessing which other resources need it."""
    region = _region(snapshot)
    if not snapshot.plans:
        databases = snapshot.databases
        base = {"resource": _region_resource(snapshot), "region": region, **_PLAN_NULLS}
        if isinstance(databases, Failed):
            return [{**base, "status": "error", "reason": "no backup plan; " + failed_reason(databases)}]
        if isinstance(databases, Found) and databases.value:
            return [
                {
                    **base,
                    "status": "fail",
                    "reason": f"no backup plan in {region} while {databases.value} RDS database(s) exist",
                    "rules": 0,
                    "unscheduled_rules": 0,
                    "rules_without_expiry": 0,
                    "selections": 0,
                }
            ]
        return []
    rows = []
    for plan in snapshot.plans:
        base = {"resource": plan.arn, "region": region, **_PLAN_NULLS, "plan_name": plan.name}
        failed = next((o for o in (plan.plan, plan.selections) if isinstance(o, Failed)), None)
        if failed is not None or not isinstance(plan.plan, Found) or not isinstance(plan.selections, Found):
            reason = failed_reason(failed) if failed else "plan was not read"
            rows.append({**base, "status": "error", "reason": reason})
            continue
        rules = plan.plan.value.get("BackupPlan", {}).get("Rules") or []
        unscheduled = [r.get("RuleName") for r in rules if not r.get("ScheduleExpression")]
        expiries = [(r.get("Lifecycle") or {}).get("DeleteAfterDays") for r in rules]
        unbounded = [r.get("RuleName") for r, days in zip(rules, expiries, strict=True) if not days]
        bounded = [d for d in expiries if d]
        fields = {
            "plan_name": plan.name,
            "rules": len(rules),
            "unscheduled_rules": len(unscheduled),
            "rules_without_expiry": len(unbounded),
            "min_delete_after_days": min(bounded) if bounded else None,
            "selections": len(plan.selections.value),
        }
        problems = []
        if not rules:
            problems.append("no rules")
        if unscheduled:
            problems.append(f"rules without a schedule: {', '.join(map(str, unscheduled))}")
        short = [d for d in bounded if d < MIN_DELETE_AFTER_DAYS]
        if short:
            problems.append(f"recovery points deleted after {min(short)} days (< {MIN_DELETE_AFTER_DAYS})")
        if not fields["selections"]:
            problems.append("no resources assigned (no selection)")
        if problems:
            rows.append({**base, **fields, "status": "fail", "reason": "; ".join(problems)})
        else:
            rows.append(
                {
                    **base,
                    **fields,
                    "status": "pass",
                    "reason": f"{len(rules)} scheduled rule(s) keeping recovery points "
                    + (
                        f"{fields['min_delete_after_days']}+ days"
                        if bounded
                        else "indefinitely (no DeleteAfterDays)"
                    )
                    + (f", {len(unbounded)} of them indefinitely" if bounded and unbounded else "")
                    + f"; {fields['selections']} selection(s)",
                }
            )
    return rows


@SERVICE.evidence_type(
    "aws.backup.vault_encryption",
    title="AWS Backup vaults encrypt recovery points with a KMS key (customer-managed preferred)",
    api_calls=(LIST_VAULTS, DESCRIBE_KEY.optional()),
    resource_kind="backup vault",
)
def vault_encryption(snapshot: BackupSnapshot) -> list[Row]:
    rows = []
    for vault in snapshot.vaults:
        key_arn = vault.get("EncryptionKeyArn")
        key_type = vault.get("EncryptionKeyType")
        note = ""
        key = snapshot.keys.get(key_arn) if key_arn else None
        if key_type is None and isinstance(key, Found):
            manager = key.value.get("KeyMetadata", {}).get("KeyManager")
            key_type = KEY_MANAGERS.get(manager, manager)
        elif isinstance(key, Failed):
            note = f"; key manager unknown ({failed_reason(key)})"
        locked = vault.get("Locked")
        fields = {
            "vault_name": vault.get("BackupVaultName"),
            "encrypted": bool(key_arn or key_type) and not isinstance(key, Absent),
            "encryption_key_arn": key_arn,
            "key_type": key_type,
            "locked": locked if isinstance(locked, bool) else None,
            "min_retention_days": vault.get("MinRetentionDays"),
            "recovery_points": vault.get("NumberOfRecoveryPoints"),
        }
        row = {
            "resource": vault.get("BackupVaultArn") or vault.get("BackupVaultName"),
            "region": _region(snapshot),
        }
        lock = (
            f"vault lock: at least {fields['min_retention_days']} days"
            if fields["locked"]
            else "no vault lock"
        )
        if isinstance(key, Absent):
            rows.append(
                {**row, **fields, "status": "fail", "reason": f"its KMS key {key_arn} no longer exists"}
            )
        elif key_arn or key_type:
            what = key_arn or key_type
            rows.append(
                {
                    **row,
                    **fields,
                    "status": "pass",
                    "reason": f"encrypted with {what} ({key_type}); {lock}{note}",
                }
            )
        else:
            rows.append({**row, **fields, "status": "fail", "reason": f"no encryption key reported; {lock}"})
    return rows


@SERVICE.evidence_type(
    "aws.backup.recent_jobs",
    title="Every resource AWS Backup protects had a successful backup job in the last day",
    api_calls=(LIST_PROTECTED, LIST_JOBS, LIST_PLANS, LIST_SELECTIONS, GET_SELECTION),
    resource_kind="protected resource",
)
def recent_jobs(snapshot: BackupSnapshot) -> list[Row]:
    """One row per resource that AWS Backup protects: it has a recovery point (ListProtectedResources),
    a plan names it explicitly in a selection, or it had a job in the window. The latest finished job
    in the last day decides; no job at all in the window fails."""
    region = _region(snapshot)
    since = snapshot.observed_at - JOB_WINDOW
    jobs_by_resource: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for job in snapshot.jobs:
        created = as_utc(job.get("CreationDate"))
        if job.get("ResourceArn") and created is not None and created >= since:
            jobs_by_resource[job["ResourceArn"]].append(job)
    kinds: dict[str, str | None] = {}
    last_backup: dict[str, str | None] = {}
    for item in snapshot.protected_resources:
        arn = item.get("ResourceArn")
        if arn:
            kinds[arn] = item.get("ResourceType")
            last_backup[arn] = iso(as_utc(item.get("LastBackupTime")))
    rows: list[Row] = []
    for plan in snapshot.plans:
        if isinstance(plan.selections, Found):
            for selection in plan.selections.value:
                spec = selection.get("BackupSelection", {})
                excluded = set(spec.get("NotResources") or [])
                for arn in spec.get("Resources") or []:
                    if "*" not in arn and arn not in excluded:
                        kinds.setdefault(arn, None)
        elif isinstance(plan.selections, Failed):
            # The resources this plan assigns are unknown: say so rather than leave them out silently.
            rows.append(
                {
                    "resource": plan.arn,
                    "region": region,
                    "status": "error",
                    "reason": "resources assigned by this plan unknown: " + failed_reason(plan.selections),
                    "resource_type": None,
                    "jobs_in_window": None,
                    "latest_job_id": None,
                    "latest_job_state": None,
                    "latest_job_created": None,
                    "last_backup_time": None,
                }
            )
    for job_arn, jobs in jobs_by_resource.items():
        kinds.setdefault(job_arn, jobs[0].get("ResourceType"))
    for arn in sorted(kinds):
        jobs = sorted(jobs_by_resource.get(arn, []), key=lambda j: as_utc(j.get("CreationDate")) or since)
        finished = [j for j in jobs if j.get("State") not in UNFINISHED_STATES]
        latest = finished[-1] if finished else None
        fields = {
            "resource_type": kinds[arn] or (jobs[0].get("ResourceType") if jobs else None),
            "jobs_in_window": len(jobs),
            "latest_job_id": latest.get("BackupJobId") if latest else None,
            "latest_job_state": latest.get("State") if latest else None,
            "latest_job_created": iso(as_utc(latest.get("CreationDate"))) if latest else None,
            "last_backup_time": last_backup.get(arn),
        }
        row = {"resource": arn, "region": region, **fields}
        if latest is not None and latest.get("State") == "COMPLETED":
            row.update(status="pass", reason=f"latest backup job {fields['latest_job_id']} COMPLETED")
        elif latest is not None:
            message = latest.get("StatusMessage")
            row.update(
                status="fail",
                reason=f"latest backup job {fields['latest_job_id']} {latest.get('State')}"
                + (f": {message}" if message else ""),
            )
        elif jobs:
            running = ", ".join(f"{j.get('BackupJobId')} {j.get('State')}" for j in jobs)
            row.update(status="fail", reason=f"no finished backup job in the last 24 h ({running})")
        else:
            since_text = f"; last backup {fields['last_backup_time']}" if fields["last_backup_time"] else ""
            row.update(status="fail", reason=f"no backup job in the last 24 h{since_text}")
        rows.append(row)
    return rows

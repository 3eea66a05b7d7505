"""AWS Backup mappings fed recorded (hand-written, boto3-shaped) responses; ``fetch`` against
botocore's Stubber (AWS's own recorded-response tool), no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from collectors.aws import backup
from collectors.aws.client import AwsCallRecorder, AwsClients, AwsConfig
from collectors.core import Absent, Failed, Found
from evidence.records import SourceError
from evidence.validation import run_suite, schema_errors
from tests.support.recorded_aws import run_fetch

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REGION = "eu-west-1"
ACCOUNT = "111122223333"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
DB = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:orders"
VOLUME = f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/vol-0abc"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/events"


def denied(operation: str, permission: str) -> Failed:
    return Failed(
        "access_denied",
        SourceError(code="AccessDenied", message="no", operation=operation, permission=permission),
    )


def rule(name: str = "daily", **over: Any) -> dict[str, Any]:
    item = {
        "RuleName": name,
        "TargetBackupVaultName": "main",
        "ScheduleExpression": "cron(0 5 ? * * *)",
        "Lifecycle": {"DeleteAfterDays": 35},
    }
    item.update(over)
    return {k: v for k, v in item.items() if v is not None}


def plan(
    name: str, rules: list[dict[str, Any]] | None, selections: list[dict[str, Any]] | None
) -> backup.Plan:
    plan_id = f"id-{name}"
    summary = {
        "BackupPlanId": plan_id,
        "BackupPlanArn": f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-plan:{plan_id}",
        "BackupPlanName": name,
    }
    result = backup.Plan(summary=summary)
    if rules is not None:
        result.plan = Found({"BackupPlan": {"BackupPlanName": name, "Rules": rules}, "BackupPlanId": plan_id})
    if selections is not None:
        result.selections = Found(
            [{"BackupSelection": s, "SelectionId": f"sel-{n}"} for n, s in enumerate(selections)]
        )
    return result


def selection(*resources: str, not_resources: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "SelectionName": "assigned",
        "IamRoleArn": f"arn:aws:iam::{ACCOUNT}:role/backup",
        "Resources": list(resources),
        "NotResources": list(not_resources),
    }


def make(**fields: Any) -> backup.BackupSnapshot:
    return backup.BackupSnapshot(target={"account": ACCOUNT, "region": REGION}, observed_at=NOW, **fields)


def rows_by(rows: list[dict[str, Any]], key: str = "resource") -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in rows}


# -- plans -------------------------------------------------------------------------------------------


def test_a_complete_plan_passes() -> None:
    snap = make(
        plans=[plan("gold", [rule(), rule("monthly", Lifecycle={"DeleteAfterDays": 365})], [selection(DB)])]
    )
    row = backup.plans(snap)[0]
    assert row["status"] == "pass", row
    assert row["resource"].endswith(":backup-plan:id-gold") and row["plan_name"] == "gold"
    assert (row["rules"], row["unscheduled_rules"], row["rules_without_expiry"]) == (2, 0, 0)
    assert row["min_delete_after_days"] == 35 and row["selections"] == 1


def test_incomplete_plans_fail_with_every_problem_named() -> None:
    snap = make(
        plans=[
            plan("empty", [], []),
            plan("manual-only", [rule(ScheduleExpression=None)], [selection(DB)]),
            plan("short", [rule(Lifecycle={"DeleteAfterDays": 14}), rule("long")], [selection(DB)]),
            plan("unassigned", [rule()], []),
        ]
    )
    rows = rows_by(backup.plans(snap), "plan_name")
    assert all(r["status"] == "fail" for r in rows.values())
    assert rows["empty"]["reason"] == "no rules; no resources assigned (no selection)"
    assert rows["empty"]["min_delete_after_days"] is None
    assert "rules without a schedule: daily" in rows["manual-only"]["reason"]
    assert rows["manual-only"]["unscheduled_rules"] == 1
    assert "deleted after 14 days (< 35)" in rows["short"]["reason"]
    assert rows["short"]["min_delete_after_days"] == 14
    assert rows["unassigned"]["selections"] == 0 and "no selection" in rows["unassigned"]["reason"]


def test_a_rule_without_delete_after_days_keeps_recovery_points_indefinitely() -> None:
    # AWS Backup: "If you do not specify a lifecycle, recovery points are retained indefinitely"
    # (Lifecycle, AWS Backup API reference). Indefinitely meets any minimum retention.
    snap = make(
        plans=[
            plan("forever", [rule(Lifecycle=None)], [selection(DB)]),
            plan("mixed", [rule(), rule("archive", Lifecycle=None)], [selection(DB)]),
            plan(
                "mixed-short",
                [rule(Lifecycle={"DeleteAfterDays": 7}), rule("x", Lifecycle=None)],
                [selection(DB)],
            ),
        ]
    )
    rows = rows_by(backup.plans(snap), "plan_name")
    assert rows["forever"]["status"] == "pass", rows["forever"]
    assert "indefinitely" in rows["forever"]["reason"]
    assert rows["forever"]["rules_without_expiry"] == 1 and rows["forever"]["min_delete_after_days"] is None
    assert rows["mixed"]["status"] == "pass" and rows["mixed"]["min_delete_after_days"] == 35
    assert "1 of them indefinitely" in rows["mixed"]["reason"]
    assert rows["mixed-short"]["status"] == "fail" and "after 7 days" in rows["mixed-short"]["reason"]
    passing = [r for r in rows.values() if r["status"] == "pass"]
    payload = {"evidence_type": "aws.backup.plans", "target": {"region": REGION}, "rows": passing}
    assert not schema_errors("aws.backup.plans", payload)
    summary, _ = run_suite("aws.backup.plans", passing)
    assert summary.success, summary


def test_an_unreadable_plan_is_an_error_row() -> None:
    broken = plan("broken", None, [selection(DB)])
    broken.plan = denied("backup:get_backup_plan", "backup:GetBackupPlan")
    hidden = plan("hidden", [rule()], None)
    hidden.selections = denied("backup:list_backup_selections", "backup:ListBackupSelections")
    rows = rows_by(backup.plans(make(plans=[broken, hidden])), "plan_name")
    assert rows["broken"]["status"] == "error" and "backup:GetBackupPlan" in rows["broken"]["reason"]
    assert rows["hidden"]["status"] == "error" and "backup:ListBackupSelections" in rows["hidden"]["reason"]
    assert rows["hidden"]["rules"] is None


def test_no_plan_fails_only_where_databases_exist() -> None:
    row = backup.plans(make(databases=Found(3)))[0]
    assert row["resource"] == f"{ACCOUNT}/{REGION}" and row["status"] == "fail"
    assert row["reason"] == f"no backup plan in {REGION} while 3 RDS database(s) exist"
    assert backup.plans(make(databases=Found(0))) == []
    unreadable = backup.plans(make(databases=denied("rds:describe_db_instances", "rds:DescribeDBInstances")))[
        0
    ]
    assert unreadable["status"] == "error" and "rds:DescribeDBInstances" in unreadable["reason"]


# -- vault encryption --------------------------------------------------------------------------------


def vault(name: str, **over: Any) -> dict[str, Any]:
    item = {
        "BackupVaultName": name,
        "BackupVaultArn": f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:{name}",
        "EncryptionKeyArn": KEY,
        "NumberOfRecoveryPoints": 12,
        "Locked": False,
    }
    item.update(over)
    return {k: v for k, v in item.items() if v is not None}


def test_vault_encryption() -> None:
    aws_key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/aws-backup"
    gone = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/deleted"
    secret = f"arn:aws:kms:{REGION}:999999999999:key/other-account"
    snap = make(
        vaults=[
            vault("cmk", Locked=True, MinRetentionDays=35, MaxRetentionDays=3650),
            vault("aws-managed", EncryptionKeyArn=aws_key),
            vault("typed", EncryptionKeyType="CUSTOMER_MANAGED_KMS_KEY"),
            # Logically air-gapped vaults may report only the key type.
            vault("airgap", EncryptionKeyArn=None, EncryptionKeyType="AWS_OWNED_KMS_KEY"),
            vault("keyless", EncryptionKeyArn=None),
            vault("deleted-key", EncryptionKeyArn=gone),
            vault("cross-account", EncryptionKeyArn=secret),
        ],
        keys={
            KEY: Found({"KeyMetadata": {"KeyManager": "CUSTOMER", "Arn": KEY}}),
            aws_key: Found({"KeyMetadata": {"KeyManager": "AWS", "Arn": aws_key}}),
            gone: Absent("NotFoundException"),
            secret: denied("kms:describe_key", "kms:DescribeKey"),
        },
    )
    rows = rows_by(backup.vault_encryption(snap), "vault_name")
    cmk = rows["cmk"]
    assert cmk["status"] == "pass" and cmk["key_type"] == "CUSTOMER_MANAGED_KMS_KEY"
    assert cmk["locked"] is True and cmk["min_retention_days"] == 35 and "vault lock" in cmk["reason"]
    assert (
        rows["aws-managed"]["status"] == "pass" and rows["aws-managed"]["key_type"] == "AWS_MANAGED_KMS_KEY"
    )
    assert rows["aws-managed"]["locked"] is False and "no vault lock" in rows["aws-managed"]["reason"]
    assert rows["typed"]["key_type"] == "CUSTOMER_MANAGED_KMS_KEY"
    assert rows["airgap"]["status"] == "pass" and rows["airgap"]["encryption_key_arn"] is None
    assert rows["keyless"]["status"] == "fail" and rows["keyless"]["encrypted"] is False
    assert rows["deleted-key"]["status"] == "fail" and "no longer exists" in rows["deleted-key"]["reason"]
    # The key's manager could not be read: still encrypted, and the row says what is unknown.
    assert rows["cross-account"]["status"] == "pass" and rows["cross-account"]["key_type"] is None
    assert "kms:DescribeKey" in rows["cross-account"]["reason"]


# -- recent jobs -------------------------------------------------------------------------------------


def job(resource: str, job_id: str, state: str, age: timedelta, **over: Any) -> dict[str, Any]:
    item = {
        "BackupJobId": job_id,
        "ResourceArn": resource,
        "ResourceType": resource.split(":")[2].upper(),
        "State": state,
        "CreationDate": NOW - age,
        "BackupVaultName": "main",
    }
    item.update(over)
    return item


def test_latest_finished_job_decides() -> None:
    snap = make(
        protected_resources=[
            {"ResourceArn": DB, "ResourceType": "RDS", "LastBackupTime": NOW - timedelta(hours=3)},
            {"ResourceArn": VOLUME, "ResourceType": "EBS", "LastBackupTime": NOW - timedelta(days=2)},
            {"ResourceArn": TABLE, "ResourceType": "DynamoDB", "LastBackupTime": NOW - timedelta(hours=20)},
        ],
        jobs=[
            job(DB, "j-old-failed", "FAILED", timedelta(hours=20)),
            job(DB, "j-ok", "COMPLETED", timedelta(hours=3)),
            job(DB, "j-running", "RUNNING", timedelta(minutes=5)),
            job(TABLE, "j-table-ok", "COMPLETED", timedelta(hours=20)),
            job(TABLE, "j-table-bad", "FAILED", timedelta(hours=2), StatusMessage="Insufficient privileges"),
            # Outside the window: ignored, so the volume has no job in the last day.
            job(VOLUME, "j-volume", "COMPLETED", timedelta(hours=30)),
        ],
    )
    rows = rows_by(backup.recent_jobs(snap))
    assert rows[DB]["status"] == "pass" and rows[DB]["latest_job_id"] == "j-ok"
    assert rows[DB]["jobs_in_window"] == 3 and rows[DB]["resource_type"] == "RDS"
    assert rows[TABLE]["status"] == "fail" and rows[TABLE]["latest_job_state"] == "FAILED"
    assert rows[TABLE]["reason"] == "latest backup job j-table-bad FAILED: Insufficient privileges"
    assert rows[VOLUME]["status"] == "fail" and rows[VOLUME]["jobs_in_window"] == 0
    assert rows[VOLUME]["latest_job_state"] is None
    assert rows[VOLUME]["reason"].startswith("no backup job in the last 24 h; last backup 2026-02-27")


@pytest.mark.parametrize("state", ["ABORTED", "EXPIRED", "PARTIAL"])
def test_other_unsuccessful_final_states_fail(state: str) -> None:
    row = backup.recent_jobs(make(jobs=[job(DB, "j-1", state, timedelta(hours=1))]))[0]
    assert row["status"] == "fail" and f"j-1 {state}" in row["reason"]


def test_only_unfinished_jobs_fail() -> None:
    row = backup.recent_jobs(make(jobs=[job(DB, "j-1", "RUNNING", timedelta(hours=1))]))[0]
    assert row["status"] == "fail" and row["latest_job_state"] is None
    assert row["reason"] == "no finished backup job in the last 24 h (j-1 RUNNING)"


def test_resources_assigned_by_plans_count_even_without_a_recovery_point() -> None:
    never = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:never-backed-up"
    excluded = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:scratch"
    snap = make(
        plans=[
            plan(
                "gold",
                [rule()],
                [
                    selection(
                        never, excluded, f"arn:aws:rds:{REGION}:{ACCOUNT}:db:*", not_resources=(excluded,)
                    )
                ],
            )
        ],
    )
    rows = backup.recent_jobs(snap)
    assert [r["resource"] for r in rows] == [never]
    assert rows[0]["status"] == "fail" and rows[0]["resource_type"] is None


def test_a_plan_whose_selections_are_unreadable_is_an_error_row() -> None:
    hidden = plan("gold", [rule()], None)
    hidden.selections = denied("backup:list_backup_selections", "backup:ListBackupSelections")
    rows = backup.recent_jobs(make(plans=[hidden], jobs=[job(DB, "j-ok", "COMPLETED", timedelta(hours=1))]))
    statuses = {r["resource"]: r["status"] for r in rows}
    assert statuses == {hidden.arn: "error", DB: "pass"}


# -- schemas and suites agree with the rows ----------------------------------------------------------


def mixed() -> backup.BackupSnapshot:
    return make(
        plans=[plan("good", [rule()], [selection(DB)]), plan("bad", [rule(Lifecycle=None)], [])],
        vaults=[vault("good", Locked=True, MinRetentionDays=35), vault("bad", EncryptionKeyArn=None)],
        keys={KEY: Found({"KeyMetadata": {"KeyManager": "CUSTOMER"}})},
        protected_resources=[{"ResourceArn": VOLUME, "ResourceType": "EBS"}],
        jobs=[job(DB, "j-ok", "COMPLETED", timedelta(hours=1))],
    )


MAPPERS = {
    "aws.backup.plans": backup.plans,
    "aws.backup.vault_encryption": backup.vault_encryption,
    "aws.backup.recent_jobs": backup.recent_jobs,
}


@pytest.mark.parametrize("type_id", sorted(MAPPERS))
def test_rows_fit_the_schema_and_the_suite_agrees(type_id: str) -> None:
    rows = MAPPERS[type_id](mixed())
    assert not schema_errors(type_id, {"evidence_type": type_id, "target": {"region": REGION}, "rows": rows})
    assert sorted(r["status"] for r in rows) == ["fail", "pass"], rows
    summary, _ = run_suite(type_id, rows)
    assert not summary.success, f"{type_id}: GX passed a failing collection"
    summary, _ = run_suite(type_id, [r for r in rows if r["status"] == "pass"])
    assert summary.success, summary.failed_expectations


def test_the_region_row_fails_its_suite_too() -> None:
    rows = backup.plans(make(databases=Found(1)))
    assert not schema_errors(
        "aws.backup.plans", {"evidence_type": "aws.backup.plans", "target": {}, "rows": rows}
    )
    assert not run_suite("aws.backup.plans", rows)[0].success


# -- fetch -------------------------------------------------------------------------------------------


def test_fetch_reads_plans_selections_vaults_and_jobs() -> None:
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name=REGION)
    clients = AwsClients(AwsConfig(regions=(REGION,), max_retries=1), session=session)
    b = Stubber(clients.client("backup", REGION))
    k = Stubber(clients.client("kms", REGION))
    summary = plan("gold", None, None).summary
    b.add_response("list_backup_plans", {"BackupPlansList": [summary], "NextToken": "t1"}, {})
    b.add_response("list_backup_plans", {"BackupPlansList": []}, {"NextToken": "t1"})
    b.add_response(
        "get_backup_plan",
        {"BackupPlan": {"BackupPlanName": "gold", "Rules": [rule()]}, "BackupPlanId": "id-gold"},
        {"BackupPlanId": "id-gold"},
    )
    b.add_response(
        "list_backup_selections",
        {"BackupSelectionsList": [{"SelectionId": "sel-1", "BackupPlanId": "id-gold"}]},
        {"BackupPlanId": "id-gold"},
    )
    b.add_response(
        "get_backup_selection",
        {"BackupSelection": selection(DB), "SelectionId": "sel-1", "BackupPlanId": "id-gold"},
        {"BackupPlanId": "id-gold", "SelectionId": "sel-1"},
    )
    b.add_response("list_backup_vaults", {"BackupVaultList": [vault("main")]}, {})
    k.add_response("describe_key", {"KeyMetadata": {"KeyId": "k", "KeyManager": "CUSTOMER"}}, {"KeyId": KEY})
    b.add_client_error("list_protected_resources", "AccessDeniedException", "no", 403)
    b.add_response(
        "list_backup_jobs",
        {"BackupJobs": [job(DB, "j-ok", "COMPLETED", timedelta(hours=1))]},
        {"ByCreatedAfter": ANY},
    )
    with b, k:
        snap = run_fetch(
            backup.fetch, clients, REGION, {"account": ACCOUNT, "region": REGION}, AwsCallRecorder(), 1
        )
    b.assert_no_pending_responses()
    k.assert_no_pending_responses()
    assert [p.name for p in snap.plans] == ["gold"]
    assert backup.plans(snap)[0]["status"] == "pass"
    assert backup.vault_encryption(snap)[0]["key_type"] == "CUSTOMER_MANAGED_KMS_KEY"
    assert snap.databases is None  # plans exist: the RDS listing is not needed
    # The protected-resource listing was denied: recent_jobs is an error record, naming the permission.
    failure = snap.failures[backup.LIST_PROTECTED.key]
    assert failure.permission == "backup:ListProtectedResources"
    assert [j["BackupJobId"] for j in snap.jobs] == ["j-ok"]

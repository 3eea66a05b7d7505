"""KMS key rotation mapping fed recorded responses (no server), and the fetch against botocore's Stubber."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from collectors.aws import kms
from collectors.aws.kms import (
    DESCRIBE_KEY,
    GET_ROTATION,
    LIST_ALIASES,
    Key,
    KmsSnapshot,
    key_rotation,
)
from collectors.core import Absent, Found, Outcome
from tests.support.aws_stubs import (
    ACCOUNT,
    OBSERVED_AT,
    StubbedClients,
    collect_records,
    denied,
    judge,
    payload_rows,
    target,
)

TYPE = "aws.kms.key_rotation"
REGION = "eu-west-1"


def key_id(n: int) -> str:
    return f"{n:08d}-1111-2222-3333-444455556666"


def key_arn(n: int) -> str:
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id(n)}"


def metadata(n: int, **overrides: Any) -> dict[str, Any]:
    meta = {
        "AWSAccountId": ACCOUNT,
        "KeyId": key_id(n),
        "Arn": key_arn(n),
        "CreationDate": datetime(2024, 3, 1, tzinfo=UTC),
        "Enabled": True,
        "Description": "application data",
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": "Enabled",
        "Origin": "AWS_KMS",
        "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "MultiRegion": False,
    }
    meta.update(overrides)
    return {"KeyMetadata": {k: v for k, v in meta.items() if v is not None}}


def rotation(enabled: bool | None = True, period: int | None = 365) -> dict[str, Any]:
    status: dict[str, Any] = {"KeyId": key_id(0)}
    if enabled is not None:
        status["KeyRotationEnabled"] = enabled
    if enabled and period is not None:
        status["RotationPeriodInDays"] = period
        status["NextRotationDate"] = datetime(2027, 3, 1, tzinfo=UTC)
    return status


def key(n: int, meta: Outcome | None = None, rot: Outcome | None = None) -> Key:
    return Key(arn=key_arn(n), key_id=key_id(n), metadata=meta or Found(metadata(n)), rotation=rot)


def snapshot(*keys: Key, aliases: Outcome | None = None) -> KmsSnapshot:
    return KmsSnapshot(
        target=target(REGION), observed_at=OBSERVED_AT, region=REGION, keys=list(keys), aliases=aliases
    )


def test_rotation_on_passes() -> None:
    rows = key_rotation(snapshot(key(1, rot=Found(rotation()))))
    row = rows[0]
    assert row["status"] == "pass"
    assert row["resource"] == key_arn(1) and row["key_id"] == key_id(1)
    assert row["rotation_enabled"] is True and row["rotation_period_days"] == 365
    assert row["next_rotation"] == "2027-03-01T00:00:00.000000Z"
    assert judge(TYPE, rows) == ([], True)


def test_rotation_on_without_a_reported_period_is_kms_default() -> None:
    rows = key_rotation(snapshot(key(1, rot=Found({"KeyRotationEnabled": True}))))
    assert rows[0]["status"] == "pass"
    assert rows[0]["rotation_period_days"] is None
    assert "yearly" in rows[0]["reason"]
    assert judge(TYPE, rows) == ([], True)


def test_rotation_off_fails_and_gx_agrees() -> None:
    rows = key_rotation(snapshot(key(1, rot=Found(rotation())), key(2, rot=Found(rotation(False)))))
    assert [r["status"] for r in rows] == ["pass", "fail"]
    assert rows[1]["reason"] == "automatic key rotation off"
    assert judge(TYPE, rows) == ([], False)


@pytest.mark.parametrize(("period", "status"), [(90, "pass"), (365, "pass"), (366, "fail"), (2560, "fail")])
def test_rotation_period_longer_than_a_year_fails(period: int, status: str) -> None:
    rows = key_rotation(snapshot(key(1, rot=Found(rotation(period=period)))))
    assert rows[0]["status"] == status
    assert judge(TYPE, rows)[1] is (status == "pass")


def test_aws_managed_keys_are_left_out() -> None:
    rows = key_rotation(snapshot(key(1, meta=Found(metadata(1, KeyManager="AWS")))))
    assert rows == []


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}, "asymmetric key (RSA_2048)"),
        ({"KeySpec": "ECC_NIST_P256", "CustomerMasterKeySpec": None}, "asymmetric key (ECC_NIST_P256)"),
        ({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}, "HMAC key (HMAC_256)"),
        ({"KeyState": "Disabled", "Enabled": False}, "key is Disabled"),
        (
            {"KeyState": "PendingDeletion", "DeletionDate": datetime(2026, 12, 2, tzinfo=UTC)},
            "key pending deletion on 2026-12-02T00:00:00.000000Z",
        ),
        ({"KeyState": "PendingImport", "Origin": "EXTERNAL"}, "key is PendingImport"),
        ({"Origin": "EXTERNAL"}, "key material from EXTERNAL"),
        ({"Origin": "AWS_CLOUDHSM"}, "key material from AWS_CLOUDHSM"),
    ],
)
def test_keys_the_control_does_not_apply_to(overrides: dict[str, Any], reason: str) -> None:
    rows = key_rotation(snapshot(key(1, meta=Found(metadata(1, **overrides))), key(2, rot=Found(rotation()))))
    assert rows[0]["status"] == "not_applicable"
    assert reason in rows[0]["reason"]
    assert rows[0]["rotation_enabled"] is None  # never asked: GX must not count it against the suite
    assert judge(TYPE, rows) == ([], True)


def test_unreadable_key_is_an_error_row() -> None:
    rows = key_rotation(snapshot(key(1, meta=denied(DESCRIBE_KEY)), key(2, rot=denied(GET_ROTATION))))
    assert [r["status"] for r in rows] == ["error", "error"]
    assert rows[0]["reason"] == "could not read: AccessDenied on kms:describe_key (needs kms:DescribeKey)"
    assert rows[1]["reason"].endswith("(needs kms:GetKeyRotationStatus)")
    assert rows[1]["key_spec"] == "SYMMETRIC_DEFAULT"  # what was read is kept
    assert judge(TYPE, rows) == ([], None)


def test_key_deleted_mid_read_leaves_the_population() -> None:
    rows = key_rotation(
        snapshot(
            key(1, meta=Absent("NotFoundException")),
            key(2, rot=Absent("NotFoundException")),
            key(3, rot=Found(rotation())),
        )
    )
    assert [r["resource"] for r in rows] == [key_arn(3)]
    assert judge(TYPE, rows) == ([], True)


def test_rotation_answer_without_the_flag_is_an_error_not_a_pass() -> None:
    rows = key_rotation(snapshot(key(1, rot=Found({"KeyId": key_id(1)}))))
    assert rows[0]["status"] == "error"
    assert rows[0]["rotation_enabled"] is None


def test_aliases_are_named_and_optional() -> None:
    aliases = Found(
        [
            {"AliasName": "alias/app-data", "TargetKeyId": key_id(1)},
            {"AliasName": "alias/app-data-old", "TargetKeyId": key_id(1)},
            {"AliasName": "alias/aws/s3"},  # an AWS alias without a key yet
        ]
    )
    rows = key_rotation(
        snapshot(key(1, rot=Found(rotation())), key(2, rot=Found(rotation())), aliases=aliases)
    )
    assert rows[0]["aliases"] == "alias/app-data,alias/app-data-old"
    assert rows[1]["aliases"] is None
    rows = key_rotation(snapshot(key(1, rot=Found(rotation())), aliases=denied(LIST_ALIASES)))
    assert rows[0]["status"] == "pass" and rows[0]["aliases"] is None


# -- the fetch, against botocore's Stubber ----------------------------------------------------------


def _queue_listing(clients: StubbedClients, count: int) -> Any:
    stub = clients.stub("kms", REGION)
    half = count // 2
    stub.add_response(
        "list_keys",
        {
            "Keys": [{"KeyId": key_id(n), "KeyArn": key_arn(n)} for n in range(half)],
            "Truncated": True,
            "NextMarker": "page-2",
        },
        {},
    )
    stub.add_response(
        "list_keys",
        {
            "Keys": [{"KeyId": key_id(n), "KeyArn": key_arn(n)} for n in range(half, count)],
            "Truncated": False,
        },
        {"Marker": "page-2"},
    )
    stub.add_response("list_aliases", {"Aliases": [], "Truncated": False}, {})
    return stub


def test_fetch_follows_pages_and_asks_rotation_only_where_it_applies() -> None:
    clients = StubbedClients(regions=(REGION,))
    stub = _queue_listing(clients, 4)
    stub.add_response("describe_key", metadata(0), {"KeyId": key_arn(0)})
    stub.add_response("get_key_rotation_status", rotation(), {"KeyId": key_arn(0)})
    stub.add_response("describe_key", metadata(1, KeyManager="AWS"), {"KeyId": key_arn(1)})
    stub.add_response("describe_key", metadata(2, KeySpec="RSA_4096"), {"KeyId": key_arn(2)})
    stub.add_response("describe_key", metadata(3), {"KeyId": key_arn(3)})
    stub.add_response("get_key_rotation_status", rotation(False), {"KeyId": key_arn(3)})
    record = collect_records(clients, kms.SERVICE, REGION)[TYPE]
    clients.assert_all_answered()  # and no rotation call for the AWS-managed or RSA key (unqueued)
    assert {r["resource"]: r["status"] for r in payload_rows(record)} == {
        key_arn(0): "pass",
        key_arn(2): "not_applicable",
        key_arn(3): "fail",
    }
    assert record.draft.status == "fail" and key_arn(3) in record.draft.reason


def test_fetch_with_rotation_status_denied_everywhere_is_an_error_record() -> None:
    clients = StubbedClients(regions=(REGION,))
    stub = _queue_listing(clients, 2)
    for n in range(2):
        stub.add_response("describe_key", metadata(n), {"KeyId": key_arn(n)})
        stub.add_client_error("get_key_rotation_status", "AccessDeniedException", http_status_code=400)
    record = collect_records(clients, kms.SERVICE, REGION)[TYPE]
    assert record.draft.status == "error"
    assert "missing permission kms:GetKeyRotationStatus" in record.draft.reason


def test_fetch_with_aliases_denied_still_judges_rotation() -> None:
    clients = StubbedClients(regions=(REGION,))
    stub = clients.stub("kms", REGION)
    stub.add_response(
        "list_keys", {"Keys": [{"KeyId": key_id(0), "KeyArn": key_arn(0)}], "Truncated": False}, {}
    )
    stub.add_client_error("list_aliases", "AccessDeniedException", http_status_code=400)
    stub.add_response("describe_key", metadata(0), {"KeyId": key_arn(0)})
    stub.add_response("get_key_rotation_status", rotation(), {"KeyId": key_arn(0)})
    record = collect_records(clients, kms.SERVICE, REGION)[TYPE]
    assert record.draft.status == "pass"
    assert payload_rows(record)[0]["aliases"] is None


def test_fetch_with_listing_denied_is_an_error_record() -> None:
    clients = StubbedClients(regions=(REGION,))
    clients.stub("kms", REGION).add_client_error("list_keys", "AccessDeniedException", http_status_code=400)
    record = collect_records(clients, kms.SERVICE, REGION)[TYPE]
    assert record.draft.status == "error"
    assert record.draft.error is not None and record.draft.error.permission == "kms:ListKeys"

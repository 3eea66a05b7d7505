"""IAM mappings fed recorded responses (no server): password policy, MFA, root access keys, access key
age; and the fetch against botocore's Stubber."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from collectors.aws import iam
from collectors.aws.iam import (
    GET_ACCOUNT_SUMMARY,
    GET_KEY_LAST_USED,
    GET_LOGIN_PROFILE,
    GET_PASSWORD_POLICY,
    LIST_ACCESS_KEYS,
    LIST_MFA_DEVICES,
    IamSnapshot,
    User,
    access_key_age,
    password_policy,
    root_access_keys,
    user_mfa,
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

REGION = "us-east-1"
CIS_POLICY = {
    "MinimumPasswordLength": 14,
    "RequireSymbols": True,
    "RequireNumbers": True,
    "RequireUppercaseCharacters": True,
    "RequireLowercaseCharacters": True,
    "AllowUsersToChangePassword": True,
    "ExpirePasswords": True,
    "MaxPasswordAge": 90,
    "PasswordReusePrevention": 24,
    "HardExpiry": False,
}


def summary(mfa: int = 1, keys: int = 0) -> Found:
    return Found({"SummaryMap": {"Users": 3, "AccountMFAEnabled": mfa, "AccountAccessKeysPresent": keys}})


def snapshot(
    *users: User, policy: Outcome | None = None, account_summary: Outcome | None = None
) -> IamSnapshot:
    return IamSnapshot(
        target=target(),
        observed_at=OBSERVED_AT,
        password_policy=policy or Found({"PasswordPolicy": CIS_POLICY}),
        account_summary=account_summary or summary(),
        users=list(users),
    )


def user(
    name: str, login: Outcome | None = None, mfa: Outcome | None = None, keys: Outcome | None = None
) -> User:
    u = User(name=name, arn=f"arn:aws:iam::{ACCOUNT}:user/{name}")
    u.settings[GET_LOGIN_PROFILE.operation] = login or Absent("NoSuchEntity")
    if mfa is not None:
        u.settings[LIST_MFA_DEVICES.operation] = mfa
    u.settings[LIST_ACCESS_KEYS.operation] = keys or Found([])
    return u


def console(name: str) -> Found:
    return Found({"LoginProfile": {"UserName": name, "CreateDate": OBSERVED_AT - timedelta(days=300)}})


def device(name: str) -> dict[str, Any]:
    return {
        "UserName": name,
        "SerialNumber": f"arn:aws:iam::{ACCOUNT}:mfa/{name}",
        "EnableDate": OBSERVED_AT - timedelta(days=200),
    }


def access_key(key_id: str, age: timedelta, status: str = "Active", user_name: str = "ci") -> dict[str, Any]:
    return {"UserName": user_name, "AccessKeyId": key_id, "Status": status, "CreateDate": OBSERVED_AT - age}


# -- password policy --------------------------------------------------------------------------------

P = "aws.iam.password_policy"


def test_cis_policy_passes() -> None:
    rows = password_policy(snapshot())
    assert rows[0]["resource"] == ACCOUNT and rows[0]["status"] == "pass"
    assert rows[0]["minimum_password_length"] == 14 and rows[0]["password_reuse_prevention"] == 24
    assert judge(P, rows) == ([], True)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"MinimumPasswordLength": 8}, "minimum length 8 (< 14)"),
        ({"RequireSymbols": False, "RequireNumbers": False}, "does not require symbols, numbers"),
        ({"RequireUppercaseCharacters": False}, "does not require uppercase letters"),
        ({"RequireLowercaseCharacters": False}, "does not require lowercase letters"),
        ({"MaxPasswordAge": 365}, "passwords expire after 365 days (> 90)"),
        ({"ExpirePasswords": False, "MaxPasswordAge": None}, "passwords never expire"),
        ({"PasswordReusePrevention": 5}, "remembers 5 passwords (< 24)"),
        ({"PasswordReusePrevention": None}, "remembers 0 passwords (< 24)"),
    ],
)
def test_weak_policy_fails_and_gx_agrees(change: dict[str, Any], problem: str) -> None:
    policy = {k: v for k, v in {**CIS_POLICY, **change}.items() if v is not None}
    rows = password_policy(snapshot(policy=Found({"PasswordPolicy": policy})))
    assert rows[0]["status"] == "fail"
    assert problem in rows[0]["reason"]
    assert judge(P, rows) == ([], False)


def test_missing_character_flags_are_not_required() -> None:
    rows = password_policy(snapshot(policy=Found({"PasswordPolicy": {"MinimumPasswordLength": 20}})))
    assert rows[0]["require_symbols"] is False and rows[0]["max_password_age_days"] is None
    assert rows[0]["status"] == "fail"
    assert judge(P, rows) == ([], False)


def test_no_policy_fails() -> None:
    rows = password_policy(snapshot(policy=Absent("NoSuchEntity")))
    assert rows[0]["status"] == "fail" and rows[0]["has_policy"] is False
    assert "no account password policy" in rows[0]["reason"]
    assert rows[0]["minimum_password_length"] is None
    assert judge(P, rows) == ([], False)


def test_unreadable_policy_leaves_the_type_to_the_runner() -> None:
    assert password_policy(snapshot(policy=denied(GET_PASSWORD_POLICY))) == []


# -- MFA --------------------------------------------------------------------------------------------

M = "aws.iam.user_mfa"


def test_console_users_need_mfa_and_root_too() -> None:
    rows = user_mfa(
        snapshot(
            user("alice", console("alice"), Found([device("alice")])),
            user("bob", console("bob"), Found([])),
            user("ci"),
        )
    )
    status = {r["resource"]: r["status"] for r in rows}
    assert status == {"root": "pass", "alice": "pass", "bob": "fail", "ci": "not_applicable"}
    bob = next(r for r in rows if r["resource"] == "bob")
    assert bob["console_access"] is True and bob["mfa_enabled"] is False and bob["mfa_devices"] == 0
    assert bob["reason"] == "console password without MFA"
    assert judge(M, rows) == ([], False)
    rows = [r for r in rows if r["resource"] != "bob"]
    assert judge(M, rows) == ([], True)


def test_root_without_mfa_fails() -> None:
    rows = user_mfa(snapshot(account_summary=summary(mfa=0)))
    assert rows == [
        {
            "resource": "root",
            "region": None,
            "principal": "root",
            "user_arn": f"arn:aws:iam::{ACCOUNT}:root",
            "console_access": True,
            "mfa_enabled": False,
            "mfa_devices": None,
            "status": "fail",
            "reason": "root user has no MFA",
        }
    ]
    assert judge(M, rows) == ([], False)


def test_unreadable_summary_makes_only_the_root_row_an_error() -> None:
    rows = user_mfa(
        snapshot(
            user("alice", console("alice"), Found([device("alice")])),
            account_summary=denied(GET_ACCOUNT_SUMMARY),
        )
    )
    assert rows[0]["resource"] == "root" and rows[0]["status"] == "error"
    assert rows[0]["reason"].endswith("(needs iam:GetAccountSummary)")
    assert rows[1]["status"] == "pass"
    assert judge(M, rows) == ([], True)
    rows = user_mfa(snapshot(account_summary=Found({"SummaryMap": {"Users": 0}})))
    assert rows[0]["status"] == "error" and rows[0]["mfa_enabled"] is None


def test_unreadable_user_is_an_error_row() -> None:
    rows = user_mfa(
        snapshot(
            user("a", denied(GET_LOGIN_PROFILE)),
            user("b", console("b"), denied(LIST_MFA_DEVICES)),
            user("c", console("c"), Absent("NoSuchEntity")),
        )
    )
    status = {r["resource"]: (r["status"], r["console_access"]) for r in rows}
    assert status["a"] == ("error", None)
    assert status["b"] == ("error", True)
    assert "c" not in status  # deleted while being read: gone from the population
    assert judge(M, rows) == ([], True)


# -- root access keys -------------------------------------------------------------------------------

R = "aws.iam.root_access_keys"


def test_root_access_keys() -> None:
    rows = root_access_keys(snapshot())
    assert rows[0]["status"] == "pass" and rows[0]["root_access_keys_present"] is False
    assert judge(R, rows) == ([], True)
    rows = root_access_keys(snapshot(account_summary=summary(keys=1)))
    assert rows[0]["status"] == "fail" and rows[0]["resource"] == "root"
    assert judge(R, rows) == ([], False)


def test_root_access_keys_missing_or_unreadable() -> None:
    rows = root_access_keys(snapshot(account_summary=Found({"SummaryMap": {"Users": 1}})))
    assert rows[0]["status"] == "error" and rows[0]["root_access_keys_present"] is None
    assert root_access_keys(snapshot(account_summary=denied(GET_ACCOUNT_SUMMARY))) == []


# -- access key age ---------------------------------------------------------------------------------

K = "aws.iam.access_key_age"


@pytest.mark.parametrize(
    ("age", "status", "age_days"),
    [
        (timedelta(days=10), "pass", 10),
        (timedelta(days=89, hours=23, minutes=59), "pass", 89),
        (timedelta(days=90), "fail", 90),
        (timedelta(days=400), "fail", 400),
    ],
)
def test_active_key_age_against_observed_at(age: timedelta, status: str, age_days: int) -> None:
    rows = access_key_age(snapshot(user("ci", keys=Found([access_key("AKIAEXAMPLEKEY000001", age)]))))
    assert rows[0]["resource"] == "AKIAEXAMPLEKEY000001"
    assert rows[0]["status"] == status and rows[0]["age_days"] == age_days
    assert rows[0]["user_name"] == "ci"
    assert judge(K, rows) == ([], status == "pass")


def test_inactive_keys_do_not_count() -> None:
    keys = Found(
        [
            access_key("AKIAEXAMPLEKEY000001", timedelta(days=5)),
            access_key("AKIAEXAMPLEKEY000002", timedelta(days=900), status="Inactive"),
        ]
    )
    rows = access_key_age(snapshot(user("ci", keys=keys)))
    assert [r["status"] for r in rows] == ["pass", "not_applicable"]
    assert rows[1]["age_days"] is None and rows[1]["reason"] == "Inactive key of ci"
    assert judge(K, rows) == ([], True)


def test_last_use_is_recorded() -> None:
    ci = user("ci", keys=Found([access_key("AKIAEXAMPLEKEY000001", timedelta(days=5))]))
    ci.key_last_used["AKIAEXAMPLEKEY000001"] = Found(
        {
            "UserName": "ci",
            "AccessKeyLastUsed": {
                "LastUsedDate": datetime(2026, 11, 24, 8, 0),  # naive: taken as UTC
                "ServiceName": "s3",
                "Region": "eu-west-1",
            },
        }
    )
    row = access_key_age(snapshot(ci))[0]
    assert row["last_used"] == "2026-11-24T08:00:00.000000Z" and row["last_used_service"] == "s3"
    ci.key_last_used["AKIAEXAMPLEKEY000001"] = Found(
        {"UserName": "ci", "AccessKeyLastUsed": {"ServiceName": "N/A", "Region": "N/A"}}
    )
    row = access_key_age(snapshot(ci))[0]
    assert row["last_used"] is None and row["last_used_service"] is None
    ci.key_last_used["AKIAEXAMPLEKEY000001"] = denied(GET_KEY_LAST_USED)
    row = access_key_age(snapshot(ci))[0]
    assert row["status"] == "pass" and row["last_used"] is None  # optional: the age is what counts


def test_key_without_create_date_and_unreadable_keys_are_errors() -> None:
    no_date = {"UserName": "ci", "AccessKeyId": "AKIAEXAMPLEKEY000001", "Status": "Active"}
    rows = access_key_age(
        snapshot(user("ci", keys=Found([no_date])), user("ops", keys=denied(LIST_ACCESS_KEYS)))
    )
    assert [(r["resource"], r["status"]) for r in rows] == [
        ("AKIAEXAMPLEKEY000001", "error"),
        ("ops", "error"),
    ]
    assert rows[1]["reason"].endswith("(needs iam:ListAccessKeys)")
    assert judge(K, rows) == ([], None)
    # A user deleted while being read has no keys left.
    assert access_key_age(snapshot(user("gone", keys=Absent("NoSuchEntity")))) == []


# -- the fetch, against botocore's Stubber ----------------------------------------------------------


def _iam_user(name: str) -> dict[str, Any]:
    return {
        "Path": "/",
        "UserName": name,
        "UserId": f"AIDA{name.upper():0<17}",
        "Arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "CreateDate": OBSERVED_AT - timedelta(days=500),
    }


def test_fetch_reads_every_page_and_only_asks_console_users_for_mfa() -> None:
    clients = StubbedClients()
    stub = clients.stub("iam", REGION)
    stub.add_response("get_account_password_policy", {"PasswordPolicy": CIS_POLICY}, {})
    stub.add_response(
        "get_account_summary", {"SummaryMap": {"AccountMFAEnabled": 1, "AccountAccessKeysPresent": 0}}, {}
    )
    stub.add_response("list_users", {"Users": [_iam_user("alice")], "IsTruncated": True, "Marker": "m1"}, {})
    stub.add_response("list_users", {"Users": [_iam_user("ci")], "IsTruncated": False}, {"Marker": "m1"})
    # alice: console password, one MFA device, no keys.
    stub.add_response(
        "get_login_profile",
        {"LoginProfile": {"UserName": "alice", "CreateDate": OBSERVED_AT}},
        {"UserName": "alice"},
    )
    stub.add_response(
        "list_mfa_devices", {"MFADevices": [device("alice")], "IsTruncated": False}, {"UserName": "alice"}
    )
    stub.add_response(
        "list_access_keys", {"AccessKeyMetadata": [], "IsTruncated": False}, {"UserName": "alice"}
    )
    # ci: no console (NoSuchEntity: no MFA call), one active key and one inactive (no last-used call).
    stub.add_client_error("get_login_profile", "NoSuchEntity", http_status_code=404)
    keys = [
        access_key("AKIAEXAMPLEKEY000001", timedelta(days=3)),
        access_key("AKIAEXAMPLEKEY000002", timedelta(days=300), status="Inactive"),
    ]
    stub.add_response(
        "list_access_keys", {"AccessKeyMetadata": keys, "IsTruncated": False}, {"UserName": "ci"}
    )
    stub.add_response(
        "get_access_key_last_used",
        {"UserName": "ci", "AccessKeyLastUsed": {"ServiceName": "N/A", "Region": "N/A"}},
        {"AccessKeyId": "AKIAEXAMPLEKEY000001"},
    )
    records = collect_records(clients, iam.SERVICE, REGION)
    clients.assert_all_answered()
    assert {t: r.draft.status for t, r in records.items()} == {
        "aws.iam.access_key_age": "pass",
        "aws.iam.password_policy": "pass",
        "aws.iam.root_access_keys": "pass",
        "aws.iam.user_mfa": "pass",
    }
    mfa = {r["resource"]: r["status"] for r in payload_rows(records[M])}
    assert mfa == {"root": "pass", "alice": "pass", "ci": "not_applicable"}
    assert records[M].draft.target == {"account": ACCOUNT, "region": "global"}


def test_fetch_with_summary_and_mfa_denied() -> None:
    clients = StubbedClients()
    stub = clients.stub("iam", REGION)
    stub.add_client_error("get_account_password_policy", "NoSuchEntity", http_status_code=404)
    stub.add_client_error("get_account_summary", "AccessDenied", http_status_code=403)
    stub.add_response(
        "list_users", {"Users": [_iam_user("alice"), _iam_user("bob")], "IsTruncated": False}, {}
    )
    for name in ("alice", "bob"):
        stub.add_response(
            "get_login_profile",
            {"LoginProfile": {"UserName": name, "CreateDate": OBSERVED_AT}},
            {"UserName": name},
        )
        stub.add_client_error("list_mfa_devices", "AccessDenied", http_status_code=403)
        stub.add_response(
            "list_access_keys", {"AccessKeyMetadata": [], "IsTruncated": False}, {"UserName": name}
        )
    records = collect_records(clients, iam.SERVICE, REGION)
    # No policy is a finding; the summary denied is an error for the root-keys type and MFA denied for
    # every console user is an error for the MFA type: never a pass or a fail.
    assert records[P].draft.status == "fail"
    assert records[R].draft.status == "error"
    assert "missing permission iam:GetAccountSummary" in records[R].draft.reason
    assert records[M].draft.status == "error"
    assert "missing permission iam:ListMFADevices" in records[M].draft.reason
    assert records["aws.iam.access_key_age"].draft.status == "not_applicable"


def test_fetch_with_user_listing_denied() -> None:
    clients = StubbedClients()
    stub = clients.stub("iam", REGION)
    stub.add_response("get_account_password_policy", {"PasswordPolicy": CIS_POLICY}, {})
    stub.add_response(
        "get_account_summary", {"SummaryMap": {"AccountMFAEnabled": 0, "AccountAccessKeysPresent": 1}}, {}
    )
    stub.add_client_error("list_users", "AccessDenied", http_status_code=403)
    records = collect_records(clients, iam.SERVICE, REGION)
    assert records[P].draft.status == "pass"
    assert records[R].draft.status == "fail"
    for type_id in (M, K):
        assert records[type_id].draft.status == "error"
        assert "missing permission iam:ListUsers" in records[type_id].draft.reason

"""IAM: the account password policy, MFA for console users and the root user, no root access keys, and
access key age.

Global. ``fetch`` reads the password policy and the account summary once, lists every user and, per
user (bounded concurrency), the login profile, the MFA devices (console users only) and the access
keys with when each active key was last used. Nothing secret is read: ``list_access_keys`` returns
key ids and dates, never secret keys.

Why per-user calls and not the IAM credential report: the report is generated asynchronously and AWS
hands back a cached copy up to four hours old, so the state it shows is not the state at
``observed_at`` (an auditor asks when the state was observed); and it reports "mfa_active" without
the login profile it depends on. Per-user calls cost three or four requests per user, which at the
bounded concurrency stays in minutes even for thousands of users. (moto implements the report too,
but without the root account's row.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from collectors.aws.client import AwsCallRecorder, AwsClients
from collectors.aws.family import AWS, AwsTarget
from collectors.core import Absent, Failed, Found, Outcome, Snapshot, failed_reason, fan_out, uniform_failure
from collectors.core.family import FetchContext
from collectors.core.timestamps import as_utc, iso
from evidence.registry import ApiPermission, Row

COLLECTOR = "aws.iam"

GET_PASSWORD_POLICY = ApiPermission(
    "iam", "get_account_password_policy", "iam:GetAccountPasswordPolicy", ("NoSuchEntity",)
)
GET_ACCOUNT_SUMMARY = ApiPermission("iam", "get_account_summary", "iam:GetAccountSummary")
LIST_USERS = ApiPermission("iam", "list_users", "iam:ListUsers")
# NoSuchEntity on a login profile: the user has no console password. On the listings: the user was
# deleted while being read.
GET_LOGIN_PROFILE = ApiPermission("iam", "get_login_profile", "iam:GetLoginProfile", ("NoSuchEntity",))
LIST_MFA_DEVICES = ApiPermission("iam", "list_mfa_devices", "iam:ListMFADevices", ("NoSuchEntity",))
LIST_ACCESS_KEYS = ApiPermission("iam", "list_access_keys", "iam:ListAccessKeys", ("NoSuchEntity",))
GET_KEY_LAST_USED = ApiPermission(
    "iam", "get_access_key_last_used", "iam:GetAccessKeyLastUsed", ("NoSuchEntity",)
)

# CIS Amazon Web Services Foundations Benchmark v1.2.0, 1.5-1.11 (length and reuse kept in v1.4.0+ as
# 1.8 and 1.9): at least 14 characters, one of each character class, expiry within 90 days, and the
# last 24 passwords not reused.
MIN_PASSWORD_LENGTH = 14
MAX_PASSWORD_AGE_DAYS = 90
MIN_PASSWORD_REUSE_PREVENTION = 24
REQUIRED_CHARACTER_CLASSES = {
    "require_symbols": ("RequireSymbols", "symbols"),
    "require_numbers": ("RequireNumbers", "numbers"),
    "require_uppercase": ("RequireUppercaseCharacters", "uppercase letters"),
    "require_lowercase": ("RequireLowercaseCharacters", "lowercase letters"),
}
# CIS AWS Foundations 1.14 (v1.4.0; 1.4 in v1.2.0): access keys are rotated every 90 days or less.
MAX_ACCESS_KEY_AGE_DAYS = 90

ROOT = "root"  # the resource name of the account's root user


@dataclass
class User:
    name: str
    arn: str | None
    settings: dict[str, Outcome] = field(default_factory=dict)  # operation -> outcome
    key_last_used: dict[str, Outcome] = field(default_factory=dict)  # access key id -> outcome


@dataclass
class IamSnapshot(Snapshot):
    password_policy: Outcome | None = None
    account_summary: Outcome | None = None
    users: list[User] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, Any] | None:
        if isinstance(self.account_summary, Found):
            return dict(self.account_summary.value.get("SummaryMap") or {})
        return None


def _fetch_user(clients: AwsClients, region: str, recorder: AwsCallRecorder, user: User) -> User:
    client = clients.client("iam", region)
    login = recorder.call(client, GET_LOGIN_PROFILE, region, UserName=user.name)
    user.settings[GET_LOGIN_PROFILE.operation] = login
    if isinstance(login, Found):  # MFA matters only for users who can sign in to the console
        user.settings[LIST_MFA_DEVICES.operation] = recorder.paginate(
            client, LIST_MFA_DEVICES, region, "MFADevices", token_in="Marker", UserName=user.name
        )
    keys = recorder.paginate(
        client, LIST_ACCESS_KEYS, region, "AccessKeyMetadata", token_in="Marker", UserName=user.name
    )
    user.settings[LIST_ACCESS_KEYS.operation] = keys
    if isinstance(keys, Found):
        for key in keys.value:
            if key.get("Status") == "Active" and key.get("AccessKeyId"):
                user.key_last_used[key["AccessKeyId"]] = recorder.call(
                    client, GET_KEY_LAST_USED, region, AccessKeyId=key["AccessKeyId"]
                )
    return user


def fetch(ctx: FetchContext[AwsTarget]) -> IamSnapshot:
    clients, region = ctx.connection.clients, ctx.connection.region
    recorder: AwsCallRecorder = ctx.recorder
    concurrency = ctx.concurrency
    snapshot = IamSnapshot(target=ctx.target, observed_at=ctx.observed_at)
    client = clients.client("iam", region)
    snapshot.password_policy = recorder.call(client, GET_PASSWORD_POLICY, region)
    if isinstance(snapshot.password_policy, Failed):
        snapshot.fail(GET_PASSWORD_POLICY, snapshot.password_policy.error)
    snapshot.account_summary = recorder.call(client, GET_ACCOUNT_SUMMARY, region)
    if isinstance(snapshot.account_summary, Failed):
        snapshot.fail(GET_ACCOUNT_SUMMARY, snapshot.account_summary.error)
    listing = recorder.paginate(client, LIST_USERS, region, "Users", token_in="Marker")
    if isinstance(listing, Failed):
        snapshot.fail(LIST_USERS, listing.error)
        return snapshot
    assert isinstance(listing, Found)
    users = [User(name=u["UserName"], arn=u.get("Arn")) for u in listing.value]
    snapshot.users = fan_out(lambda u: _fetch_user(clients, region, recorder, u), users, concurrency)
    per_user = (GET_LOGIN_PROFILE, LIST_MFA_DEVICES, LIST_ACCESS_KEYS)
    for api in per_user:
        failure = uniform_failure(
            [u.settings[api.operation] for u in snapshot.users if api.operation in u.settings]
        )
        if failure is not None:
            snapshot.fail_per_resource(api, failure)
    snapshot.fail_if_uniform(GET_KEY_LAST_USED, [o for u in snapshot.users for o in u.key_last_used.values()])
    return snapshot


SERVICE = AWS.source(COLLECTOR, scope="global")(fetch)


# ---------------------------------------------------------------------------------------------------
# Pure mappings.

POLICY_FIELDS = (
    "has_policy",
    "minimum_password_length",
    *REQUIRED_CHARACTER_CLASSES,
    "max_password_age_days",
    "password_reuse_prevention",
    "allow_users_to_change_password",
    "hard_expiry",
)


@SERVICE.evidence_type(
    "aws.iam.password_policy",
    title="The account password policy meets CIS AWS Foundations (length 14, all character classes, "
    "expiry within 90 days, 24 passwords remembered)",
    api_calls=(GET_PASSWORD_POLICY,),
    resource_kind="account",
)
def password_policy(snapshot: IamSnapshot) -> list[Row]:
    outcome = snapshot.password_policy
    if outcome is None or isinstance(outcome, Failed):
        return []  # the failure is recorded for the whole type (snapshot.failures)
    row: Row = {"resource": snapshot.target["account"], "region": None, **dict.fromkeys(POLICY_FIELDS)}
    if isinstance(outcome, Absent):
        # No policy: IAM's defaults apply (8 characters, no character classes, no expiry, no history).
        row.update(
            has_policy=False,
            **dict.fromkeys(REQUIRED_CHARACTER_CLASSES, False),
            status="fail",
            reason="no account password policy: IAM's weak defaults apply",
        )
        return [row]
    assert isinstance(outcome, Found)
    policy = outcome.value.get("PasswordPolicy") or {}
    row.update(
        has_policy=True,
        minimum_password_length=policy.get("MinimumPasswordLength"),
        max_password_age_days=policy.get("MaxPasswordAge") if policy.get("ExpirePasswords", True) else None,
        password_reuse_prevention=policy.get("PasswordReusePrevention"),
        allow_users_to_change_password=policy.get("AllowUsersToChangePassword"),
        hard_expiry=policy.get("HardExpiry"),
        **{name: bool(policy.get(api)) for name, (api, _) in REQUIRED_CHARACTER_CLASSES.items()},
    )
    problems = []
    length = row["minimum_password_length"]
    if length is None or length < MIN_PASSWORD_LENGTH:
        problems.append(f"minimum length {length} (< {MIN_PASSWORD_LENGTH})")
    missing = [label for name, (_, label) in REQUIRED_CHARACTER_CLASSES.items() if not row[name]]
    if missing:
        problems.append(f"does not require {', '.join(missing)}")
    age = row["max_password_age_days"]
    if not age:
        problems.append("passwords never expire")
    elif age > MAX_PASSWORD_AGE_DAYS:
        problems.append(f"passwords expire after {age} days (> {MAX_PASSWORD_AGE_DAYS})")
    reuse = row["password_reuse_prevention"]
    if reuse is None or reuse < MIN_PASSWORD_REUSE_PREVENTION:
        problems.append(f"remembers {reuse or 0} passwords (< {MIN_PASSWORD_REUSE_PREVENTION})")
    row["status"], row["reason"] = (
        ("fail", "; ".join(problems))
        if problems
        else (
            "pass",
            f"length >= {length}, all character classes, expiry {age} days, {reuse} passwords remembered",
        )
    )
    return [row]


def _root_mfa_row(snapshot: IamSnapshot) -> Row:
    row: Row = {
        "resource": ROOT,
        "region": None,
        "principal": "root",
        "user_arn": f"arn:aws:iam::{snapshot.target['account']}:root",
        # The root user can always sign in with its password (unless an organization removed it,
        # which the account summary does not say): MFA is required either way (CIS 1.5 / 1.13).
        "console_access": True,
        "mfa_enabled": None,
        "mfa_devices": None,
    }
    summary = snapshot.summary
    if summary is None:
        assert isinstance(snapshot.account_summary, Failed)
        return {**row, "status": "error", "reason": failed_reason(snapshot.account_summary)}
    if "AccountMFAEnabled" not in summary:
        return {**row, "status": "error", "reason": "account summary without AccountMFAEnabled"}
    enabled = bool(summary["AccountMFAEnabled"])
    row["mfa_enabled"] = enabled
    if enabled:
        return {**row, "status": "pass", "reason": "root user has MFA"}
    return {**row, "status": "fail", "reason": "root user has no MFA"}


@SERVICE.evidence_type(
    "aws.iam.user_mfa",
    title="Every IAM user with a console password, and the root user, has an MFA device",
    api_calls=(LIST_USERS, GET_LOGIN_PROFILE, LIST_MFA_DEVICES, GET_ACCOUNT_SUMMARY.optional()),
    resource_kind="user",
)
def user_mfa(snapshot: IamSnapshot) -> list[Row]:
    rows = [_root_mfa_row(snapshot)]
    for user in snapshot.users:
        row: Row = {
            "resource": user.name,
            "region": None,
            "principal": "user",
            "user_arn": user.arn,
            "console_access": None,
            "mfa_enabled": None,
            "mfa_devices": None,
        }
        login = user.settings.get(GET_LOGIN_PROFILE.operation)
        if isinstance(login, Failed):
            rows.append({**row, "status": "error", "reason": failed_reason(login)})
            continue
        if not isinstance(login, Found):
            row["console_access"] = False
            rows.append({**row, "status": "not_applicable", "reason": "no console password"})
            continue
        row["console_access"] = True
        devices = user.settings.get(LIST_MFA_DEVICES.operation)
        if isinstance(devices, Failed):
            rows.append({**row, "status": "error", "reason": failed_reason(devices)})
            continue
        if not isinstance(devices, Found):
            continue  # the user was deleted while being read: no longer part of the population
        count = len(devices.value)
        row.update(mfa_enabled=count > 0, mfa_devices=count)
        if count:
            rows.append({**row, "status": "pass", "reason": f"console password with {count} MFA device(s)"})
        else:
            rows.append({**row, "status": "fail", "reason": "console password without MFA"})
    return rows


@SERVICE.evidence_type(
    "aws.iam.root_access_keys",
    title="The root user has no access keys",
    api_calls=(GET_ACCOUNT_SUMMARY,),
    resource_kind="root user",
)
def root_access_keys(snapshot: IamSnapshot) -> list[Row]:
    summary = snapshot.summary
    if summary is None:
        return []  # the failure is recorded for the whole type (snapshot.failures)
    row: Row = {"resource": ROOT, "region": None, "root_access_keys_present": None}
    if "AccountAccessKeysPresent" not in summary:
        return [{**row, "status": "error", "reason": "account summary without AccountAccessKeysPresent"}]
    present = bool(summary["AccountAccessKeysPresent"])
    row["root_access_keys_present"] = present
    if present:
        return [{**row, "status": "fail", "reason": "the root user has access keys"}]
    return [{**row, "status": "pass", "reason": "the root user has no access keys"}]


KEY_FIELDS = ("user_name", "key_status", "created", "age_days", "last_used", "last_used_service")


def _judge_key(key: dict[str, Any], user: User, observed_at: datetime) -> tuple[str, str, dict[str, Any]]:
    created = as_utc(key.get("CreateDate"))
    fields: dict[str, Any] = dict.fromkeys(KEY_FIELDS)
    fields.update(user_name=user.name, key_status=key.get("Status"), created=iso(created))
    last_used = user.key_last_used.get(key.get("AccessKeyId") or "")
    if isinstance(last_used, Found):
        info = last_used.value.get("AccessKeyLastUsed") or {}
        service = info.get("ServiceName")
        fields.update(
            last_used=iso(info.get("LastUsedDate")),
            last_used_service=None if service in (None, "N/A") else service,  # "N/A": never used
        )
    if fields["key_status"] != "Active":
        return "not_applicable", f"{fields['key_status'] or 'unknown status'} key of {user.name}", fields
    if created is None:
        return "error", f"list_access_keys gave no CreateDate for a key of {user.name}", fields
    age = observed_at - created
    fields["age_days"] = age.days  # whole days, floored: < 90 days old <=> age_days <= 89
    if age.days >= MAX_ACCESS_KEY_AGE_DAYS:
        return (
            "fail",
            f"active key of {user.name} is {age.days} days old (>= {MAX_ACCESS_KEY_AGE_DAYS})",
            fields,
        )
    return "pass", f"active key of {user.name} is {age.days} days old", fields


@SERVICE.evidence_type(
    "aws.iam.access_key_age",
    title=f"Every active IAM access key is younger than {MAX_ACCESS_KEY_AGE_DAYS} days",
    api_calls=(LIST_USERS, LIST_ACCESS_KEYS, GET_KEY_LAST_USED.optional()),
    resource_kind="access key",
)
def access_key_age(snapshot: IamSnapshot) -> list[Row]:
    rows = []
    for user in snapshot.users:
        keys = user.settings.get(LIST_ACCESS_KEYS.operation)
        if isinstance(keys, Failed):
            # The keys are unknown: the user stands in for them.
            rows.append(
                {
                    "resource": user.name,
                    "region": None,
                    "status": "error",
                    "reason": failed_reason(keys),
                    **dict.fromkeys(KEY_FIELDS),
                    "user_name": user.name,
                }
            )
            continue
        if not isinstance(keys, Found):
            continue  # the user was deleted while being read: no keys left
        for key in keys.value:
            status, reason, fields = _judge_key(key, user, snapshot.observed_at)
            rows.append(
                {
                    "resource": key.get("AccessKeyId"),
                    "region": None,
                    "status": status,
                    "reason": reason,
                    **fields,
                }
            )
    return rows

"""Sample IAM estate: a compliant password policy, a console user with MFA, one without, a service
user without console access holding an active and an inactive access key.

The emulator cannot represent some cases, which the unit tests cover instead: the root user's MFA is
always off and it never has access keys (moto's account summary is fixed), and access keys are always
created "now", so a key older than 90 days cannot be seeded.
"""

from __future__ import annotations

from typing import Any

from collectors.aws.demo import Expectations, Expected

ACCOUNT = "123456789012"  # moto's default account
PASSWORD = "Demo-only-not-a-secret-1!"  # the emulator requires one; it never leaves the emulator


def seed(session: Any, regions: tuple[str, ...]) -> Expectations:
    iam = session.client("iam", regions[0])
    iam.update_account_password_policy(
        MinimumPasswordLength=16,
        RequireSymbols=True,
        RequireNumbers=True,
        RequireUppercaseCharacters=True,
        RequireLowercaseCharacters=True,
        AllowUsersToChangePassword=True,
        MaxPasswordAge=90,
        PasswordReusePrevention=24,
    )

    with_mfa, without_mfa, service = "demo-alice", "demo-bob", "demo-svc-deploy"
    for name in (with_mfa, without_mfa, service):
        iam.create_user(UserName=name)
    for name in (with_mfa, without_mfa):
        iam.create_login_profile(UserName=name, Password=PASSWORD, PasswordResetRequired=False)
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=with_mfa)["VirtualMFADevice"]
    iam.enable_mfa_device(
        UserName=with_mfa,
        SerialNumber=device["SerialNumber"],
        AuthenticationCode1="123456",
        AuthenticationCode2="654321",
    )

    active = iam.create_access_key(UserName=service)["AccessKey"]["AccessKeyId"]
    inactive = iam.create_access_key(UserName=service)["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName=service, AccessKeyId=inactive, Status="Inactive")
    alice_key = iam.create_access_key(UserName=with_mfa)["AccessKey"]["AccessKeyId"]

    return {
        "aws.iam.password_policy": Expected({ACCOUNT}, set()),
        # The root user fails: the emulator reports no root MFA.
        "aws.iam.user_mfa": Expected({with_mfa}, {"root", without_mfa}),
        "aws.iam.root_access_keys": Expected({"root"}, set()),
        # The inactive key is not_applicable, in neither set.
        "aws.iam.access_key_age": Expected({active, alice_key}, set()),
    }

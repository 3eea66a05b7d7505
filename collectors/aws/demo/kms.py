"""Sample KMS estate: rotated and unrotated customer-managed keys in two regions, plus keys the
rotation control does not apply to (asymmetric, HMAC, disabled, pending deletion).

The emulator cannot represent AWS-managed keys (every key it creates is customer-managed) nor a custom
rotation period (it returns no RotationPeriodInDays): the unit tests cover both.
"""

from __future__ import annotations

from typing import Any

from collectors.aws.demo import Expectations, Expected


def seed(session: Any, regions: tuple[str, ...]) -> Expectations:
    home, other = regions[0], (regions[1] if len(regions) > 1 else "eu-west-1")
    passing: set[str] = set()
    failing: set[str] = set()
    for region in (home, other):
        kms = session.client("kms", region)

        def create(description: str, kms: Any = kms, **params: Any) -> dict[str, Any]:
            meta: dict[str, Any] = kms.create_key(Description=description, **params)["KeyMetadata"]
            return meta

        rotated = create("demo data key, rotated yearly")
        kms.enable_key_rotation(KeyId=rotated["KeyId"])
        kms.create_alias(AliasName="alias/demo-data", TargetKeyId=rotated["KeyId"])
        unrotated = create("demo legacy key, never rotated")
        kms.create_alias(AliasName="alias/demo-legacy", TargetKeyId=unrotated["KeyId"])
        passing.add(rotated["Arn"])
        failing.add(unrotated["Arn"])
        if region == home:
            # Not applicable: KMS does not rotate these automatically, or they encrypt nothing new.
            create("demo signing key", KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
            create("demo MAC key", KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
            disabled = create("demo disabled key")
            kms.disable_key(KeyId=disabled["KeyId"])
            retired = create("demo key pending deletion")
            kms.schedule_key_deletion(KeyId=retired["KeyId"], PendingWindowInDays=7)
    return {"aws.kms.key_rotation": Expected(passing, failing)}

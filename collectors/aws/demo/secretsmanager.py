"""Sample Secrets Manager estate: rotated secrets and secrets never set up for rotation, in two
regions.

The emulator stamps a rotation with the current time and cannot backdate it, so an overdue rotation
(enabled but late) cannot be seeded, and it ignores ``ScheduleExpression`` rotation rules (rotation
stays off), and it cannot cancel a rotation without a rotation Lambda (which it would have to run in
Docker): the unit tests cover those. The values below are sentinels: the
tests check that none of them appears in any payload, row, call log or provenance.
"""

from __future__ import annotations

from typing import Any

from collectors.aws.demo import Expectations, Expected

# Sentinels only an emulator ever holds; the collector must never read them.
SECRET_VALUES = (
    "demo-sentinel-db-password-7f3a9c",
    "demo-sentinel-api-token-51be02",
    "demo-sentinel-legacy-credential-c0ffee",
    "demo-sentinel-eu-token-9d8e7f",
    "demo-sentinel-eu-rotated-0a1b2c",
)


def seed(session: Any, regions: tuple[str, ...]) -> Expectations:
    home, other = regions[0], (regions[1] if len(regions) > 1 else "eu-west-1")
    sm = session.client("secretsmanager", home)
    sm_other = session.client("secretsmanager", other)

    rotated = sm.create_secret(Name="demo/db-password", SecretString=SECRET_VALUES[0])["ARN"]
    sm.rotate_secret(SecretId=rotated, RotationRules={"AutomaticallyAfterDays": 30})
    never = sm.create_secret(Name="demo/api-token", SecretString=SECRET_VALUES[1])["ARN"]
    legacy = sm.create_secret(Name="demo/legacy-credential", SecretString=SECRET_VALUES[2])["ARN"]

    eu_never = sm_other.create_secret(Name="demo/eu-token", SecretString=SECRET_VALUES[3])["ARN"]
    eu_rotated = sm_other.create_secret(Name="demo/eu-rotated", SecretString=SECRET_VALUES[4])["ARN"]
    sm_other.rotate_secret(SecretId=eu_rotated, RotationRules={"AutomaticallyAfterDays": 7})

    return {
        "aws.secretsmanager.rotation": Expected({rotated, eu_rotated}, {never, legacy, eu_never}),
    }

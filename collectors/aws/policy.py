"""IAM, the AWS family's permission model: every declared permission is an IAM action, and the
least-privilege policy is exactly their union, read-only, so it changes when a collector does.

``collectors/aws/iam-policy.json`` is the generated file shipped for operators; a test keeps it equal
to what ``evidence policy aws`` renders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

POLICY_FILE = Path(__file__).with_name("iam-policy.json")
_ACTION = re.compile(r"[a-z0-9-]+:[A-Z][A-Za-z0-9]+")


class IamPermissions:
    """IAM actions (``s3:GetEncryptionConfiguration``) and the identity policy that grants them."""

    name = "IAM actions"
    media_type = "application/json"

    def check(self, permission: str) -> str | None:
        if not _ACTION.fullmatch(permission):
            return "not an IAM action (service:Action)"
        return None

    def document(self, permissions: Sequence[str]) -> dict[str, Any]:
        by_service: dict[str, list[str]] = {}
        for action in sorted(set(permissions)):
            by_service.setdefault(action.split(":", 1)[0], []).append(action)
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": f"EvidenceCollectorRead{service.title().replace('-', '')}",
                    "Effect": "Allow",
                    "Action": service_actions,
                    "Resource": "*",
                }
                for service, service_actions in sorted(by_service.items())
            ],
        }

    def render(self, permissions: Sequence[str]) -> str:
        return json.dumps(self.document(permissions), indent=2) + "\n"

"""The least-privilege IAM policy for the AWS collectors, generated from their declared API calls.

Every evidence type declares the calls it makes and the IAM action each needs (see
``ApiPermission``); the policy is exactly their union, read-only, so it changes when a collector does.
``collectors/aws/iam-policy.json`` is the generated file shipped for operators; a test keeps it equal
to what this module generates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evidence import registry

POLICY_FILE = Path(__file__).with_name("iam-policy.json")
# Calls the framework itself makes (account discovery, cross-account role assumption).
FRAMEWORK_ACTIONS = ("sts:GetCallerIdentity",)


def required_actions(type_ids: set[str] | None = None) -> list[str]:
    actions = set(FRAMEWORK_ACTIONS)
    for etype in registry.all_types():
        if etype.id.startswith("aws.") and (type_ids is None or etype.id in type_ids):
            actions.update(etype.permissions)
    return sorted(actions)


def least_privilege_policy(type_ids: set[str] | None = None) -> dict[str, Any]:
    actions = required_actions(type_ids)
    by_service: dict[str, list[str]] = {}
    for action in actions:
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


def render(type_ids: set[str] | None = None) -> str:
    return json.dumps(least_privilege_policy(type_ids), indent=2) + "\n"

"""Records of the demo estate with what differs between runs taken out (ids, times, digests), so two
collections of the same estate compare equal, and a refactor that changes any record is caught."""

from __future__ import annotations

import json
import re
from typing import Any

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")
_DATE_HM = re.compile(r"\b\d{4}-\d{2}-\d{2}-\d{2}-\d{2}\b")
_HOURS = re.compile(r"\b\d+(\.\d+)? h\b")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_AWS_ID = re.compile(r"\b(sg|vpc|subnet|igw|rtb|acl|eni|i|ami|snap|vol|key|rslvr|r|ds)-[0-9a-zA-Z]{6,}\b")
_HEX = re.compile(r"\b[0-9a-f]{16,}\b")
_KMS_ALIASLESS = re.compile(r"\b[A-Z0-9]{13,}\b")
_DURATION = re.compile(
    r"\b(expires in|in|for|after|since|age[d]?|ago)\s+-?\d+(\.\d+)?\s+(day|hour|minute|second)s?"
)
_MORE = re.compile(r"\b\d+ (more )?(day|hour|minute)s?\b")
_CLOUDFRONT = re.compile(r"\b[a-z0-9]{10,16}\.cloudfront\.net")
_SECRET_SUFFIX = re.compile(r"(:secret:[^\s,()]+)-[A-Za-z0-9]{6}\b")
_DROP = {
    "id",
    "idempotency_key",
    "payload_sha256",
    "payload_size",
    "sha256",
    "size",
    "request_id",
    "observed_at",
    "period_start",
    "period_end",
    "recorded_at",
    "host",
    "run_id",
}


_REPR_TIME = re.compile(r"datetime\.datetime\([^)]*\)\)?")


def _text(value: str) -> str:
    value = _REPR_TIME.sub("<time>", value)
    value = _UUID.sub("<uuid>", value)
    value = _TIME.sub("<time>", value)
    value = _DATE_HM.sub("<date>", value)
    value = _DATE.sub("<date>", value)
    value = _HOURS.sub("<n> h", value)
    value = _AWS_ID.sub(r"\1-<id>", value)
    value = _HEX.sub("<hex>", value)
    value = _KMS_ALIASLESS.sub("<ID>", value)
    value = _SECRET_SUFFIX.sub(r"\1-<suffix>", value)
    value = _CLOUDFRONT.sub("<cf>.cloudfront.net", value)
    value = _MORE.sub(r"<n> \1\2s", value)
    return _DURATION.sub(r"\1 <n> \3s", value)


def normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("<dropped>" if k in _DROP else normalise(v)) for k, v in sorted(value.items())}
    if isinstance(value, list):
        items = [normalise(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, float):
        return "<number>"
    return value


def golden_form(prepared: list[Any]) -> list[Any]:
    """Normalised drafts, payloads and API-call logs of ``PreparedRecord``s, sorted."""
    out = []
    for record in prepared:
        calls = [
            json.loads(record.attachments[a.sha256])
            for a in record.draft.attachments
            if a.role == "api-calls"
        ]
        out.append(
            normalise(
                {
                    "draft": record.draft.model_dump(mode="json"),
                    "payload": json.loads(record.payload),
                    "calls": calls,
                }
            )
        )
    return sorted(out, key=lambda v: json.dumps(v, sort_keys=True))


def main() -> None:
    """Print the golden form of the demo estate's records (collected on a fresh moto server)."""
    import os
    import sys

    from collectors.aws import FAMILY
    from collectors.aws.client import AwsConfig
    from collectors.aws.demo import seed_estate
    from collectors.core.runner import collect_all
    from evidence.records import RunContext
    from tests.support.servers import MotoServer

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(name, value)
    os.environ.update({"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
    regions = ("us-east-1", "eu-west-1")
    with MotoServer() as server:
        seed_estate(server.url, regions)
        records = collect_all(
            FAMILY, AwsConfig(endpoint_url=server.url, regions=regions), RunContext(run_id="golden", host="h")
        )
    json.dump(golden_form(records), sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()

"""The JSON Schema speed-ups in ``evidence.validation`` change nothing a caller can see.

``inline_refs`` replaces every ``$ref`` with what it names (jsonschema resolved them on every row);
``_TypeSchema`` does not re-check a payload whose exact bytes already passed. Both must report the
very same errors, in the same order, as the plain validator over the schema files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from evidence import validation

SCHEMA_FILES = sorted(p for p in validation.SCHEMA_DIR.glob("*.schema.json") if not p.name.startswith("_"))
VALUES: list[Any] = [None, "x", "", 12, -1, 1.5, True, [], {}, "pass", "fail", "error", "not_applicable"]


def _errors(validator: Draft202012Validator, payload: Any) -> list[tuple[list[str], str]]:
    """As ``schema_errors`` orders them: by instance path, then in the order they were found."""
    found = sorted(validator.iter_errors(payload), key=lambda e: list(map(str, e.absolute_path)))
    return [(list(map(str, e.absolute_path)), e.message) for e in found]


def _payloads(type_id: str, schema: dict[str, Any]) -> list[Any]:
    items = schema.get("properties", {}).get("rows", {}).get("items", {})
    names = [*items.get("properties", {}), "resource", "region", "status", "reason"]
    nulls = dict.fromkeys(names)
    good = {**nulls, "resource": "r", "status": "pass", "reason": "ok"}
    rows: list[Any] = [{}, {"resource": "r", "status": "pass", "reason": "ok"}, {**nulls, "extra": 1}, 7]
    rows += [{**good, name: value} for name in names for value in VALUES]
    return [
        {"evidence_type": type_id, "target": {"account": "1"}, "rows": rows},
        {"evidence_type": 5, "target": {"account": 1}},
        {"rows": "x", "target": [], "evidence_type": type_id, "error": 3, "extra": 1},
        {},
        [],
    ]


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name.removesuffix(".schema.json"))
def test_inlined_schema_reports_the_same_errors(path: Path) -> None:
    schema = json.loads(path.read_text())
    registry = validation._registry()
    inlined = validation.inline_refs(schema, registry)
    assert inlined is not None, f"{path.name} could not be inlined: it is checked the slow way"
    body = {k: v for k, v in inlined.items() if k != "$defs"}
    assert '"$ref"' not in json.dumps(body)
    plain = Draft202012Validator(schema, registry=registry)
    fast = Draft202012Validator(inlined, registry=registry)
    for payload in _payloads(path.name.removesuffix(".schema.json"), schema):
        assert _errors(fast, payload) == _errors(plain, payload)


def test_a_reference_cycle_is_left_to_the_plain_validator() -> None:
    from referencing import Registry, Resource

    schema = {
        "$id": "https://example.test/tree",
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"child": {"$ref": "#"}},
    }
    registry = Registry().with_resource(schema["$id"], Resource.from_contents(schema))
    assert validation.inline_refs(schema, registry) is None


def test_only_passing_payloads_are_remembered() -> None:
    type_id = "aws.s3.bucket_versioning"
    validation._validator.cache_clear()
    row = {
        "resource": "b",
        "region": "us-east-1",
        "status": "pass",
        "reason": "versioning enabled",
        "versioning": "Enabled",
        "mfa_delete": "Disabled",
    }
    good = {"evidence_type": type_id, "target": {"account": "1"}, "rows": [row]}
    bad = {**good, "rows": [{**row, "versioning": 3}]}
    assert validation.schema_errors(type_id, good) == []
    assert validation.schema_errors(type_id, good) == []  # remembered
    first = validation.schema_errors(type_id, bad)
    assert first and first == validation.schema_errors(type_id, bad)  # failures are checked every time
    assert len(validation._validator(type_id)._passed) == 1
    assert validation.schema_errors(type_id, json.loads(json.dumps(good))) == []
    validation._validator.cache_clear()  # a new schema forgets what passed the old one
    assert validation.schema_errors(type_id, good) == []

"""Write the JSON Schema and GX suite skeleton for an evidence type from a compact field spec.

    python scripts/new_evidence_type.py aws.s3.bucket_encryption "title" sse_algorithm:string ...

The files are data to be read and edited by people afterwards; this only saves typing. Field kinds:
string, bool, int, number (all nullable: a field that could not be read is null, never absent).
Expectations are added by hand (see existing suites).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "evidence_schemas"
COMMON = "https://evidence-collector.dev/schemas/common"


def schema(type_id: str, title: str, fields: dict[str, str]) -> dict[str, object]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://evidence-collector.dev/schemas/{type_id}",
        "title": title,
        "allOf": [{"$ref": f"{COMMON}#/$defs/payload"}],
        "properties": {
            "evidence_type": {"const": type_id},
            "rows": {
                "type": "array",
                "items": {
                    "allOf": [{"$ref": f"{COMMON}#/$defs/row"}],
                    "required": sorted(fields),
                    "properties": {
                        name: {"$ref": f"{COMMON}#/$defs/nullable_{kind}"} for name, kind in fields.items()
                    },
                    "unevaluatedProperties": False,
                },
            },
        },
    }


def main(argv: list[str]) -> None:
    type_id, title, *specs = argv
    fields = dict(spec.split(":", 1) for spec in specs)
    (ROOT / "schemas" / f"{type_id}.schema.json").write_text(
        json.dumps(schema(type_id, title, fields), indent=2) + "\n"
    )
    suite = ROOT / "suites" / f"{type_id}.json"
    if not suite.exists():
        base = [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "resource"}},
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "resource"}},
        ]
        suite.write_text(json.dumps({"name": type_id, "expectations": base, "meta": {}}, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])

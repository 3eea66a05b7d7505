"""Meta-tests: everything declared is backed (schema, suite, catalog entry), nothing is orphaned,
and listing evidence types imports nothing heavy."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from evidence import registry
from evidence.catalog import load_catalog
from evidence.validation import SCHEMA_DIR, SUITE_DIR

TYPES = {t.id: t for t in registry.all_types()}
MACHINE_TYPES = sorted(t for t, e in TYPES.items() if registry.is_collected(e))
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("type_id", sorted(TYPES))
def test_every_type_has_a_valid_schema(type_id: str) -> None:
    path = SCHEMA_DIR / f"{type_id}.schema.json"
    assert path.exists(), f"{type_id} has no JSON Schema at {path}"
    schema = json.loads(path.read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith(f"/{type_id}")
    assert schema["properties"]["evidence_type"] == {"const": type_id}


@pytest.mark.parametrize("type_id", MACHINE_TYPES)
def test_every_collected_type_has_a_suite_that_proves_something(type_id: str) -> None:
    path = SUITE_DIR / f"{type_id}.json"
    assert path.exists(), f"{type_id} has no GX suite at {path}"
    suite = json.loads(path.read_text())
    kinds = [e["type"] for e in suite["expectations"]]
    assert all(k.startswith("expect_") for k in kinds)
    # Beyond the two structural checks on `resource`, the suite must assert the control itself.
    assert len(kinds) > 2, f"{type_id}: the suite only checks structure"
    # GX ignores nulls in set checks: each in-set column needs a not-null check beside it.
    not_null = {
        e["kwargs"]["column"]
        for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_not_be_null"
    }
    for e in suite["expectations"]:
        if e["type"] == "expect_column_values_to_be_in_set" and e["kwargs"]["column"] != "status":
            assert e["kwargs"]["column"] in not_null, (
                f"{type_id}: {e['kwargs']['column']} in-set without not-null"
            )


def test_no_orphan_schema_or_suite_files() -> None:
    schemas = {p.name.removesuffix(".schema.json") for p in SCHEMA_DIR.glob("*.schema.json")} - {"_common"}
    suites = {p.stem for p in SUITE_DIR.glob("*.json")}
    assert schemas <= set(TYPES), f"schemas for undeclared types: {sorted(schemas - set(TYPES))}"
    assert suites <= set(TYPES), f"suites for undeclared types: {sorted(suites - set(TYPES))}"


def test_catalog_and_registry_agree() -> None:
    catalog = load_catalog()
    named = catalog.evidence_types()
    assert named <= set(TYPES), f"the catalog names evidence nobody collects: {sorted(named - set(TYPES))}"
    unmapped = set(MACHINE_TYPES) - named
    assert not unmapped, f"collected evidence types serve no control: {sorted(unmapped)}"


@pytest.mark.parametrize("type_id", MACHINE_TYPES)
def test_types_declare_their_calls_and_permissions(type_id: str) -> None:
    etype = TYPES[type_id]
    assert etype.mapper is not None
    assert etype.api_calls, f"{type_id} declares no API calls"
    assert etype.family is not None, f"{type_id} belongs to no collector family"
    model = registry.family(etype.family).permission_model
    for call in etype.api_calls:
        assert model.check(call.permission) is None, (
            f"{type_id}: {call.permission!r} is not one of {model.name}"
        )
    assert etype.title and etype.resource_kind
    assert etype.id.startswith(etype.collector + "."), "a type is named after its collector"
    assert etype.collector.startswith(etype.family + "."), "a collector is named after its family"


@pytest.mark.parametrize("name", sorted(registry.families()))
def test_every_family_declares_the_contract(name: str) -> None:
    from evidence.family import CollectorFamily

    family = registry.family(name)
    assert isinstance(family, CollectorFamily)
    assert family.evidence_types(), f"{name} collects nothing"
    assert {t.collector for t in family.evidence_types()} <= set(family.sources())
    assert family.connection.conn_type and family.connection.default_conn_id
    for setting in family.connection.settings:
        assert setting.help, f"{name}: setting {setting.name} is undocumented"
        assert setting.env is None or setting.env.startswith("EVIDENCE_"), setting
    assert family.policy().strip(), f"{name} renders no policy"


def test_shipped_iam_policy_is_the_generated_one() -> None:
    from collectors.aws.policy import POLICY_FILE

    render = registry.family("aws").policy
    assert POLICY_FILE.read_text() == render(), "run: evidence policy aws > collectors/aws/iam-policy.json"
    policy = json.loads(POLICY_FILE.read_text())
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    # Read-only verbs only (Budgets names its read permission ViewBudget).
    assert all(re.match(r"^[a-z0-9-]+:(Get|List|Describe|View)", a) for a in actions), (
        "the policy must be read-only"
    )
    assert not any(a.endswith(":GetSecretValue") for a in actions), "collectors never read secret values"


def test_listing_types_imports_nothing_heavy() -> None:
    code = (
        "import sys; from evidence import registry; ids = [t.id for t in registry.all_types()]; "
        "heavy = [m for m in ('boto3', 'botocore', 'great_expectations', 'pandas', 'airflow') "
        "if m in sys.modules]; "
        "print(len(ids), heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr

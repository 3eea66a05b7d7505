"""Payload checks: a JSON Schema per evidence type (well formed and complete?) and a Great
Expectations suite per evidence type (does it prove the control?).

GX Core is imported lazily (about 2.5-6 s) and one ephemeral context is reused per process. All rows
of one collection are validated in one GX run: the cost is mostly fixed per expectation, nearly flat
in the number of rows.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable

from evidence.canonical import canonical_bytes
from evidence.errors import CatalogError, SchemaValidationError
from evidence.records import GxSummary
from evidence.registry import SCHEMAS_DIR

SCHEMA_DIR = SCHEMAS_DIR / "schemas"
SUITE_DIR = SCHEMAS_DIR / "suites"


@lru_cache(maxsize=1)
def _registry() -> Registry:
    """Every schema file by its ``$id``, so type schemas can ``$ref`` the shared definitions."""
    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        doc = json.loads(path.read_text())
        if "$id" in doc:
            resources.append((doc["$id"], Resource.from_contents(doc)))
    return Registry().with_resources(resources)


# Keywords whose value is one subschema, a list of subschemas, or a map of names to subschemas
# (JSON Schema 2020-12); every other keyword's value is data, never searched for ``$ref``.
_ONE_SUBSCHEMA = frozenset(
    {
        "items",
        "contains",
        "additionalProperties",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "not",
        "if",
        "then",
        "else",
    }
)
_SUBSCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SUBSCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas"})
# Kept only at the root: in an inlined copy they would declare resources nobody refers to any more.
_RESOURCE_KEYWORDS = frozenset({"$id", "$schema", "$anchor", "$defs", "definitions"})


class _CannotInline(Exception):
    pass


def inline_refs(schema: dict[str, Any], registry: Registry) -> dict[str, Any] | None:
    """``schema`` with every ``$ref`` replaced by a copy of the subschema it names, or None when it
    uses what this does not handle (dynamic references, a reference cycle).

    Why: jsonschema resolves a reference each time it is used, which was 70% of the time of checking
    a 5,000-row payload (three references per row). The result validates exactly the same: in 2020-12
    ``$ref`` is an in-place applicator like ``allOf``, so ``{"$ref": R, ...}`` becomes
    ``{"allOf": [..., R's content], ...}`` and annotations (what ``unevaluatedProperties`` reads) flow
    the same way. The root keeps its ``$id`` and ``$defs``; inlined copies drop theirs.
    """

    def inline(node: Any, resolver: Any, trail: tuple[int, ...], top: bool = False) -> Any:
        if not isinstance(node, dict):
            return node
        if "$dynamicRef" in node or "$recursiveRef" in node or "$dynamicAnchor" in node:
            raise _CannotInline
        if "$id" in node and not top:
            raise _CannotInline  # an embedded resource: its references have another base
        target: dict[str, Any] | None = None
        if "$ref" in node:
            try:
                resolved = resolver.lookup(node["$ref"])
            except Unresolvable as exc:
                raise _CannotInline from exc  # the validator will report it, as before
            if id(resolved.contents) in trail or not isinstance(resolved.contents, dict):
                raise _CannotInline  # a reference cycle: leave the schema as it is
            inlined = inline(resolved.contents, resolved.resolver, (*trail, id(resolved.contents)), True)
            target = {k: v for k, v in inlined.items() if k not in _RESOURCE_KEYWORDS}
            if len(node) == 1:
                return target
        out: dict[str, Any] = {}
        for key, value in node.items():  # in order: errors come out in the order keywords are met
            if key == "$ref":
                if "allOf" not in node:
                    out["allOf"] = [target]
            elif key == "allOf" and isinstance(value, list):
                out[key] = [inline(v, resolver, trail) for v in value]
                if target is not None:
                    out[key].append(target)
            elif key in _ONE_SUBSCHEMA:
                out[key] = inline(value, resolver, trail)
            elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
                out[key] = [inline(v, resolver, trail) for v in value]
            elif key in _SUBSCHEMA_MAPS and isinstance(value, dict):
                out[key] = {name: inline(v, resolver, trail) for name, v in value.items()}
            else:
                out[key] = value
        return out

    try:
        root = inline(schema, registry.resolver(base_uri=schema.get("$id", "")), (), True)
    except _CannotInline:
        return None
    # The root's own resource keywords stay (the unused $defs are harmless, and keep $id's meaning).
    return {**{k: v for k, v in schema.items() if k in _RESOURCE_KEYWORDS}, **root}


class _TypeSchema:
    """One evidence type's compiled schema, and the digests of payloads that passed it.

    A record's payload is checked when the pipeline builds it and again when the store appends it;
    both run in the same process (a collection task). Checking is a pure function of the schema and
    the payload, so a payload whose canonical bytes already passed is not checked twice. Only passes
    are remembered (bounded), and clearing the ``_validator`` cache forgets them with the schema.
    """

    MEMORY = 1024

    def __init__(self, validator: Draft202012Validator) -> None:
        self.validator = validator
        self._passed: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _digest(payload: Any) -> bytes | None:
        try:
            return hashlib.sha256(canonical_bytes(payload)).digest()
        except (TypeError, ValueError):  # not plain JSON: check it every time
            return None

    def errors(self, payload: Any) -> list[Any]:
        digest = self._digest(payload)
        if digest is not None:
            with self._lock:
                if digest in self._passed:
                    self._passed.move_to_end(digest)
                    return []
        found = sorted(self.validator.iter_errors(payload), key=lambda e: list(map(str, e.absolute_path)))
        if not found and digest is not None:
            with self._lock:
                self._passed[digest] = None
                while len(self._passed) > self.MEMORY:
                    self._passed.popitem(last=False)
        return found


@cache
def _validator(type_id: str) -> _TypeSchema:
    path = SCHEMA_DIR / f"{type_id}.schema.json"
    if not path.exists():
        raise CatalogError(f"evidence type {type_id!r} has no JSON Schema at {path}")
    schema = json.loads(path.read_text())
    Draft202012Validator.check_schema(schema)
    registry = _registry()
    return _TypeSchema(Draft202012Validator(inline_refs(schema, registry) or schema, registry=registry))


def _where(error: Any) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path]
    return ("payload" + "".join(parts)) if parts else "payload"


def schema_errors(type_id: str, payload: Any, *, limit: int = 20) -> list[str]:
    """Every way ``payload`` breaks its schema, each naming the field (``payload.rows[3].kms_key``)."""
    found = _validator(type_id).errors(payload)
    return [f"{_where(e)}: {e.message}" for e in found[:limit]]


def check_payload(type_id: str, payload: Any) -> None:
    errors = schema_errors(type_id, payload)
    if errors:
        raise SchemaValidationError(type_id, errors)


def has_suite(type_id: str) -> bool:
    return (SUITE_DIR / f"{type_id}.json").exists()


@cache
def _suite_dict(type_id: str) -> dict[str, Any]:
    path = SUITE_DIR / f"{type_id}.json"
    if not path.exists():
        raise CatalogError(f"evidence type {type_id!r} has no GX suite at {path}")
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


_gx_lock = threading.Lock()
_gx_state: dict[str, Any] = {}


def _batch_definition() -> Any:
    """One ephemeral GX context and pandas batch definition per process (GX is not thread-safe)."""
    if "bd" not in _gx_state:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        asset = context.data_sources.add_pandas("evidence").add_dataframe_asset("rows")
        _gx_state["bd"] = asset.add_batch_definition_whole_dataframe("all_rows")
        _gx_state["gx"] = gx
    return _gx_state["bd"]


def _suite(type_id: str) -> Any:
    key = f"suite:{type_id}"
    if key not in _gx_state:
        gx = _gx_state["gx"]
        doc = dict(_suite_dict(type_id))
        doc.setdefault("name", type_id)
        doc.pop("id", None)
        _gx_state[key] = gx.ExpectationSuite(**doc)
    return _gx_state[key]


def run_suite(
    type_id: str, rows: list[dict[str, Any]], *, index_column: str = "resource"
) -> tuple[GxSummary, dict[str, Any]]:
    """Validate all rows of one collection in a single GX run.

    Returns the summary kept in the record and the full GX result (stored as a blob beside it).
    Unexpected rows are reported by ``index_column`` so a failing expectation names the resources.
    """
    import pandas as pd

    frame = pd.DataFrame(rows)
    with _gx_lock:
        batch_definition = _batch_definition()
        suite = _suite(type_id)
        for expectation in suite.expectations:
            column = getattr(expectation, "column", None)
            if column is not None and column not in frame.columns:
                # A column no row carries is a null column: expectations must see it, not crash.
                frame[column] = None
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result_format: dict[str, Any] = {"result_format": "COMPLETE"}
        if index_column in frame.columns:
            result_format["unexpected_index_column_names"] = [index_column]
        result = batch.validate(suite, result_format=result_format)
    full = result.to_json_dict()
    failed = []
    for item in full.get("results", []):
        if not item.get("success"):
            config = item.get("expectation_config", {})
            column = config.get("kwargs", {}).get("column")
            failed.append(f"{config.get('type')}({column})" if column else str(config.get("type")))
    stats = full.get("statistics", {})
    summary = GxSummary(
        success=bool(full.get("success")),
        evaluated=int(stats.get("evaluated_expectations", 0)),
        successful=int(stats.get("successful_expectations", 0)),
        failed_expectations=tuple(failed),
        suite=type_id,
    )
    return summary, full


def suite_path(type_id: str) -> Path:
    return SUITE_DIR / f"{type_id}.json"

"""Payload checks: a JSON Schema per evidence type (well formed and complete?) and a Great
Expectations suite per evidence type (does it prove the control?).

GX Core is imported lazily (about 2.5-6 s) and one ephemeral context is reused per process (the CLI
runs the suites in a child process instead: :mod:`evidence.gx_process`). All rows
of one collection are validated in one GX run: the cost is mostly fixed per expectation, nearly flat
in the number of rows.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs

from evidence import gx_process
from evidence.errors import CatalogError, SchemaValidationError
from evidence.records import GxSummary
from evidence.registry import SCHEMAS_DIR

SCHEMA_DIR = SCHEMAS_DIR / "schemas"
SUITE_DIR = SCHEMAS_DIR / "suites"


def _family_root(type_id: str) -> Path | None:
    """A family installed apart from the core ships its schemas and suites in its own folder."""
    from evidence import registry

    etype = registry.load_all().get(type_id)
    return etype.schema_root if etype is not None else None


def schema_path(type_id: str) -> Path:
    root = _family_root(type_id)
    return (root / "schemas" if root else SCHEMA_DIR) / f"{type_id}.schema.json"


def suite_path(type_id: str) -> Path:
    root = _family_root(type_id)
    return (root / "suites" if root else SUITE_DIR) / f"{type_id}.json"


@lru_cache(maxsize=1)
def _registry() -> jsonschema_rs.Registry:
    """Every schema file by its ``$id`` (the core's and every family's own), so type schemas can
    ``$ref`` the shared definitions."""
    from evidence import registry

    folders = [SCHEMA_DIR]
    for etype in registry.load_all().values():
        if etype.schema_root is not None and etype.schema_root / "schemas" not in folders:
            folders.append(etype.schema_root / "schemas")
    resources = []
    for folder in folders:
        for path in sorted(folder.glob("*.json")):
            doc = json.loads(path.read_text())
            if "$id" in doc:
                resources.append((doc["$id"], doc))
    return jsonschema_rs.Registry(resources)


@cache
def _validator(type_id: str) -> jsonschema_rs.Draft202012Validator:
    """The compiled validator of one evidence type.

    jsonschema-rs (a maintained JSON Schema 2020-12 validator, compiled) checks a payload in
    microseconds: the pure-Python jsonschema took 100-180 us per record, resolving ``$ref`` on every
    row, which alone kept the store's batched append under its throughput target.
    """
    path = schema_path(type_id)
    if not path.exists():
        raise CatalogError(f"evidence type {type_id!r} has no JSON Schema at {path}")
    schema = json.loads(path.read_text())
    try:
        return jsonschema_rs.Draft202012Validator(schema, registry=_registry())
    except (ValueError, jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError) as exc:
        raise CatalogError(f"the JSON Schema of {type_id!r} at {path} is invalid: {exc}") from exc


def _where(path: Sequence[str | int]) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in path]
    return "payload" + "".join(parts)


def schema_errors(type_id: str, payload: Any, *, limit: int = 20) -> list[str]:
    """Every way ``payload`` breaks its schema, each naming the field (``payload.rows[3].kms_key``)."""
    validator = _validator(type_id)
    try:
        if validator.is_valid(payload):
            return []
        found = sorted(validator.iter_errors(payload), key=lambda e: [str(p) for p in e.instance_path])
    except ValueError as exc:  # not JSON data at all (a set, bytes, NaN...)
        return [f"payload: not JSON data: {exc}"]
    return [f"{_where(e.instance_path)}: {e.message}" for e in found[:limit]]


def check_payload(type_id: str, payload: Any) -> None:
    errors = schema_errors(type_id, payload)
    if errors:
        raise SchemaValidationError(type_id, errors)


def has_suite(type_id: str) -> bool:
    return suite_path(type_id).exists()


@cache
def _suite_dict(type_id: str) -> dict[str, Any]:
    path = suite_path(type_id)
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


def warm_up(type_ids: Sequence[str]) -> None:
    """Import GX, build its context and these types' suites and compiled schemas, ahead of the first
    record (the collect loop runs this on a background thread while the first fetch is under way, so
    the seconds GX takes to import are not added to the run). With ``gx_process.enable()``, GX is
    imported and warmed in a child process instead (:mod:`evidence.gx_process`), off this interpreter."""
    suites = [(type_id, _suite_dict(type_id)) for type_id in type_ids if has_suite(type_id)]
    if gx_process.enabled():
        gx_process.start(suites)
    else:
        for type_id, doc in suites:
            with _gx_lock:
                _batch_definition()
                _suite(type_id, doc)
    for type_id in type_ids:
        _validator(type_id)


def _suite(type_id: str, doc: dict[str, Any]) -> Any:
    key = f"suite:{type_id}"
    if key not in _gx_state:
        gx = _gx_state["gx"]
        doc = dict(doc)
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
    doc = _suite_dict(type_id)
    full = None
    if gx_process.enabled():
        full = gx_process.validate(type_id, doc, rows, index_column)  # None: run it here instead
    if full is None:
        full = gx_result(type_id, doc, rows, index_column)
    return summarise(type_id, full), full


def gx_result(
    type_id: str, doc: dict[str, Any], rows: list[dict[str, Any]], index_column: str
) -> dict[str, Any]:
    """GX's full result (a JSON-ready dict) of suite ``doc`` over ``rows``, in this process."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    with _gx_lock:
        batch_definition = _batch_definition()
        suite = _suite(type_id, doc)
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
    full: dict[str, Any] = result.to_json_dict()
    return full


def summarise(type_id: str, full: dict[str, Any]) -> GxSummary:
    """The summary a record keeps of GX's full result."""
    failed = []
    for item in full.get("results", []):
        if not item.get("success"):
            config = item.get("expectation_config", {})
            column = config.get("kwargs", {}).get("column")
            failed.append(f"{config.get('type')}({column})" if column else str(config.get("type")))
    stats = full.get("statistics", {})
    return GxSummary(
        success=bool(full.get("success")),
        evaluated=int(stats.get("evaluated_expectations", 0)),
        successful=int(stats.get("successful_expectations", 0)),
        failed_expectations=tuple(failed),
        suite=type_id,
    )

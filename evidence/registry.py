"""The evidence type registry: every evidence type is declared, and found without magic.

An evidence type declares its id, the API calls and permissions it needs, its freshness and a pure
mapping function; its JSON Schema and GX suite live under ``evidence_schemas/`` named after the id.
Which controls it serves is data, in the catalog (``evidence_schemas/catalog.yaml``), so a mapping
changes without touching code. Collector modules register their types with ``@evidence_type(...)``
when imported; :func:`load_all` imports the modules named in the
``evidence.collectors`` entry-point group (ours are declared in pyproject.toml, third parties add
their own), so listing types imports collector modules, which import nothing heavy at top level.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from evidence.errors import CatalogError, UnknownEvidenceType

ENTRY_POINT_GROUP = "evidence.collectors"
SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "evidence_schemas"

Row = dict[str, Any]
Mapper = Callable[..., list[Row]]


@dataclass(frozen=True)
class ApiPermission:
    """One API call a collector makes, and the permission it needs (Cloud Custodian's table shape)."""

    service: str  # e.g. "s3"
    operation: str  # boto3 method name, e.g. "get_bucket_encryption"
    permission: str  # IAM action, e.g. "s3:GetEncryptionConfiguration"
    # Error codes that mean "the setting is absent" (a finding, not a failure to collect).
    not_found_codes: tuple[str, ...] = ()
    # False: the evidence type can still be judged without this call (it refines the result).
    required: bool = True

    @property
    def key(self) -> str:
        return f"{self.service}:{self.operation}"

    def optional(self) -> ApiPermission:
        return replace(self, required=False)


@dataclass(frozen=True)
class EvidenceType:
    id: str
    title: str
    collector: str  # the collector that fetches the snapshot, e.g. "aws.s3"
    api_calls: tuple[ApiPermission, ...]
    freshness: timedelta = timedelta(days=1)
    resource_kind: str = "resource"  # what one row describes, for messages: "bucket", "DB instance"
    description: str = ""
    mapper: Mapper | None = field(default=None, compare=False, repr=False)

    @property
    def permissions(self) -> tuple[str, ...]:
        return tuple(sorted({c.permission for c in self.api_calls}))

    def map(self, snapshot: Any) -> list[Row]:
        if self.mapper is None:
            raise CatalogError(f"evidence type {self.id!r} has no mapping function")
        return self.mapper(snapshot)


_TYPES: dict[str, EvidenceType] = {}
_LOADED = False


def register(etype: EvidenceType) -> EvidenceType:
    existing = _TYPES.get(etype.id)
    if existing is not None and existing.mapper is not etype.mapper:
        raise CatalogError(
            f"evidence type {etype.id!r} is declared twice ({existing.collector}, {etype.collector})"
        )
    _TYPES[etype.id] = etype
    return etype


def evidence_type(
    id: str,
    *,
    title: str,
    collector: str,
    api_calls: Sequence[ApiPermission],
    freshness: timedelta = timedelta(days=1),
    resource_kind: str = "resource",
    description: str = "",
) -> Callable[[Mapper], Mapper]:
    """Decorator for a pure mapping function ``snapshot -> rows`` that declares an evidence type."""

    def decorate(mapper: Mapper) -> Mapper:
        register(
            EvidenceType(
                id=id,
                title=title,
                collector=collector,
                api_calls=tuple(api_calls),
                freshness=freshness,
                resource_kind=resource_kind,
                description=description or (mapper.__doc__ or "").strip(),
                mapper=mapper,
            )
        )
        return mapper

    return decorate


def load_all() -> Mapping[str, EvidenceType]:
    """Import every collector module named in the entry-point group, once."""
    global _LOADED
    if not _LOADED:
        import evidence.attestation  # noqa: F401  (the core's own evidence types)

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                importlib.import_module(ep.value.split(":")[0])
            except ImportError as exc:
                raise CatalogError(
                    f"collector plugin {ep.name!r} ({ep.value}) cannot be imported: {exc}"
                ) from exc
        _LOADED = True
    return dict(_TYPES)


def get(type_id: str) -> EvidenceType:
    types = load_all()
    try:
        return types[type_id]
    except KeyError:
        raise UnknownEvidenceType(f"unknown evidence type {type_id!r}") from None


def all_types() -> Iterator[EvidenceType]:
    yield from sorted(load_all().values(), key=lambda t: t.id)


def for_collector(collector: str) -> list[EvidenceType]:
    return [t for t in all_types() if t.collector == collector]

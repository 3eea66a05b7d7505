"""The registry of evidence types and collector families: everything is declared, found without magic.

An evidence type declares its id, the family and collector (source) that produce it, the API calls
it makes with the permission each needs, and a pure mapping function; its JSON Schema and GX suite
live under ``evidence_schemas/`` named after the id. Which controls it serves, and how fresh its
evidence must be, is data in the catalog (``evidence_schemas/catalog.yaml``): one source for each
fact, changed without touching code.

Collector families are installed packages named in the ``evidence.collectors`` entry-point group;
each entry point names an object that satisfies :class:`evidence.family.CollectorFamily`.
:func:`load_all` imports them (their modules import nothing heavy at top level) and the family's
modules register its evidence types with :func:`register`. This module imports nothing of the
project but the error types, so it sits at the bottom of the import graph.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from evidence.errors import CatalogError, UnknownEvidenceType, UsageError
from evidence.family import CollectorFamily

ENTRY_POINT_GROUP = "evidence.collectors"
_ENTRY_POINT_VALUE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "evidence_schemas"

Row = dict[str, Any]
Mapper = Callable[..., list[Row]]


@dataclass(frozen=True)
class ApiPermission:
    """One API call a collector makes, and the permission it needs (Cloud Custodian's table shape).

    ``permission`` is written in the family's own permission model (an IAM action, a Vault path and
    capability, a Sentry scope, a database privilege): the family checks its form and renders the
    least-privilege policy from it.
    """

    service: str  # e.g. "s3", "sys", "organizations"
    operation: str  # e.g. "get_bucket_encryption", "GET /v1/sys/audit"
    permission: str  # in the family's permission model, e.g. "s3:GetEncryptionConfiguration"
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
    collector: str  # the source that fetches the snapshot, e.g. "aws.s3"
    api_calls: tuple[ApiPermission, ...]
    family: str | None = None  # the collector family; None for the core's own types (attestations)
    # The folder with this type's schemas/<id>.schema.json and suites/<id>.json: a family installed from
    # another package ships its own; None means the core's evidence_schemas/.
    schema_root: Path | None = None
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
_FAMILIES: dict[str, CollectorFamily] = {}
_LOADED = False


def register(etype: EvidenceType) -> EvidenceType:
    existing = _TYPES.get(etype.id)
    if existing is not None and existing.mapper is not etype.mapper:
        raise CatalogError(
            f"evidence type {etype.id!r} is declared twice ({existing.collector}, {etype.collector})"
        )
    _TYPES[etype.id] = etype
    return etype


# --- the core's own evidence types: what people provide, and what the core itself records ---------

ATTESTATION = register(
    EvidenceType(
        id="attestation.statement",
        title="A person attests that a control is in place (statement, optional document)",
        collector="attestation",
        api_calls=(),
        resource_kind="control",
    )
)
EXCEPTION = register(
    EvidenceType(
        id="control.exception",
        title="A risk acceptance: who accepted a control's gap, why, and until when",
        collector="exception",
        api_calls=(),
        resource_kind="control",
    )
)
POSTURE_SNAPSHOT = register(
    EvidenceType(
        id="posture.snapshot",
        title="The control posture at one moment, as the evaluation computed it (one row per control)",
        collector="evaluation",
        api_calls=(),
        resource_kind="control",
    )
)
EVENT_REJECTED = register(
    EvidenceType(
        id="event.rejected",
        title="An event that asked for a collection and was rejected (malformed, or naming nothing known)",
        collector="events",
        api_calls=(),
        resource_kind="event",
    )
)
BUNDLE_EXPORT = register(
    EvidenceType(
        id="bundle.export",
        title="An auditor bundle was exported or downloaded: who, when, framework, period, digest",
        collector="bundles",
        api_calls=(),
        resource_kind="bundle",
    )
)
# Evidence that people provide; posture reads it apart from collected evidence.
PERSON_TYPES = frozenset({ATTESTATION.id, EXCEPTION.id})
PERSON_COLLECTORS = frozenset({ATTESTATION.collector, EXCEPTION.collector})
# What the core itself records (about people's input, the evaluation, the orchestration): no family.
CORE_TYPES = frozenset({*PERSON_TYPES, POSTURE_SNAPSHOT.id, EVENT_REJECTED.id, BUNDLE_EXPORT.id})


def is_collected(etype: EvidenceType) -> bool:
    """Evidence a collector family collects from a source (not what people or the core record)."""
    return etype.family is not None


# --- families ---------------------------------------------------------------------------------------


def register_family(family: CollectorFamily) -> CollectorFamily:
    """Register a family object (the entry points do this; tests may call it for a family of theirs)."""
    existing = _FAMILIES.get(family.name)
    if existing is not None and existing is not family:
        raise CatalogError(f"collector family {family.name!r} is installed twice")
    _FAMILIES[family.name] = family
    return family


def _check_family(name: str, value: str, obj: Any) -> CollectorFamily:
    if not isinstance(obj, CollectorFamily):
        raise CatalogError(
            f"collector plugin {name!r} ({value}) is not a collector family "
            "(see evidence.family.CollectorFamily)"
        )
    if obj.name != name:
        raise CatalogError(f"collector plugin {name!r} ({value}) calls itself {obj.name!r}")
    return obj


def load_all() -> Mapping[str, EvidenceType]:
    """Load every installed collector family (entry points), once; return every evidence type."""
    global _LOADED
    if not _LOADED:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if not _ENTRY_POINT_VALUE.fullmatch(ep.value):
                raise CatalogError(
                    f"collector plugin {ep.name!r}: entry point {ep.value!r} is not 'package.module:OBJECT'"
                )
            try:
                obj = ep.load()
            except ImportError as exc:
                raise CatalogError(
                    f"collector plugin {ep.name!r} ({ep.value}) cannot be imported: {exc}"
                ) from exc
            except AttributeError as exc:
                raise CatalogError(f"collector plugin {ep.name!r} ({ep.value}) is not there: {exc}") from exc
            register_family(_check_family(ep.name, ep.value, obj))
        for family in _FAMILIES.values():
            family.load()
        _LOADED = True
    return dict(_TYPES)


def declared(*, family: str | None = None) -> list[EvidenceType]:
    """The types registered so far (no loading), optionally one family's: for a family's own checks."""
    return sorted((t for t in _TYPES.values() if family is None or t.family == family), key=lambda t: t.id)


def families() -> dict[str, CollectorFamily]:
    load_all()
    return dict(sorted(_FAMILIES.items()))


def family(name: str) -> CollectorFamily:
    known = families()
    try:
        return known[name]
    except KeyError:
        listing = ", ".join(known) or "none"
        raise UsageError(f"unknown collector family {name!r}; installed: {listing}") from None


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


def for_family(name: str) -> list[EvidenceType]:
    return [t for t in all_types() if t.family == name]

"""The neutral implementation of the collector-family contract (``evidence.family.CollectorFamily``).

A family subclasses :class:`Family` and fills in four hooks: ``configure`` (settings -> its config),
``plan`` (config -> units), ``open`` (per-collection state: clients, caches) and ``connect`` (one
unit's connection and the target it names). Its sources register with :meth:`Family.source`, and each
source's evidence types with :meth:`Source.evidence_type` on a pure mapping function. The collect loop
(:func:`collectors.core.runner.collect_unit`) is shared: fetch once per unit, map many, and a source
that cannot be read gives ``error`` records that say why.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from collectors.core.recording import CallRecorder
from collectors.core.snapshot import Snapshot
from evidence import registry
from evidence.errors import UsageError
from evidence.family import ConnectionSpec, DemoEstate, EventRejected, FamilyError, PermissionModel, Unit
from evidence.records import PreparedRecord, RunContext, SourceError
from evidence.registry import ApiPermission, EvidenceType, Mapper

C = TypeVar("C")  # the connection a unit's fetch gets (e.g. a client factory)
S = TypeVar("S", bound=Snapshot)


@dataclass(frozen=True)
class FetchContext(Generic[C]):
    """Everything one fetch gets: the unit's connection, the target it names, the recorder that makes
    and logs its calls, the one observation time, and how many calls it may have in flight."""

    connection: C
    unit: Unit
    target: dict[str, str]
    recorder: Any  # the family's CallRecorder subclass
    observed_at: datetime
    concurrency: int

    @property
    def scope(self) -> dict[str, str]:
        return self.unit.scope_dict


Fetch = Callable[[FetchContext[Any]], Snapshot]


class TargetUnavailable(Exception):
    """``Family.connect`` could not reach the unit's target at all (bad credentials, unreachable,
    sealed): every evidence type of the unit is an ``error`` record with this source error."""

    def __init__(self, target: dict[str, str], error: SourceError) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.target = target
        self.error = error


@dataclass(frozen=True)
class Source:
    """One collector of a family: a fetch that reads a target once into a snapshot."""

    family: str
    name: str  # e.g. "aws.s3"; the evidence types it feeds name it as their collector
    fetch: Fetch
    scope: str = "target"  # what one unit of it covers, in the family's terms ("global", "regional")
    description: str = ""
    schema_root: Path | None = None  # the family's schemas/ and suites/ folder; None: the core's

    def evidence_type(
        self,
        id: str,
        *,
        title: str,
        api_calls: Sequence[ApiPermission],
        resource_kind: str = "resource",
        description: str = "",
    ) -> Callable[[Mapper], Mapper]:
        """Decorator for a pure mapping function ``snapshot -> rows`` that declares an evidence type."""
        if not id.startswith(self.name + "."):
            raise FamilyError(f"evidence type {id!r} of source {self.name!r} must be named {self.name}.*")

        def decorate(mapper: Mapper) -> Mapper:
            registry.register(
                EvidenceType(
                    id=id,
                    title=title,
                    collector=self.name,
                    family=self.family,
                    schema_root=self.schema_root,
                    api_calls=tuple(api_calls),
                    resource_kind=resource_kind,
                    description=description or (mapper.__doc__ or "").strip(),
                    mapper=mapper,
                )
            )
            return mapper

        return decorate


class Family(Generic[C]):
    """Base class of a collector family. Subclasses set the class attributes and the four hooks."""

    name: ClassVar[str]
    title: ClassVar[str]
    connection: ClassVar[ConnectionSpec]
    permission_model: PermissionModel
    modules: ClassVar[tuple[str, ...]] = ()  # imported by load(): they register sources and types
    # Where the family's schemas/ and suites/ live, when it is installed apart from the core (its
    # schemas may $ref the core's shared definitions); None: the core's evidence_schemas/.
    schema_root: ClassVar[Path | None] = None
    framework_permissions: ClassVar[tuple[str, ...]] = ()  # calls the family itself makes
    parallel_units: ClassVar[int] = 4

    def __init__(self) -> None:
        self._sources: dict[str, Source] = {}
        self._loaded = False

    # --- declarations --------------------------------------------------------------------------

    def source(self, name: str, *, scope: str = "target", description: str = "") -> Callable[[Fetch], Source]:
        """Decorator: ``@FAMILY.source("aws.s3", scope="global")`` on a fetch function."""
        if not name.startswith(self.name + "."):
            raise FamilyError(f"source {name!r} of family {self.name!r} must be named {self.name}.*")

        def decorate(fetch: Fetch) -> Source:
            src = Source(
                family=self.name,
                name=name,
                fetch=fetch,
                scope=scope,
                description=description,
                schema_root=self.schema_root,
            )
            existing = self._sources.get(name)
            if existing is not None and existing.fetch is not fetch:
                raise FamilyError(f"source {name!r} is declared twice")
            self._sources[name] = src
            return src

        return decorate

    def load(self) -> None:
        if not self._loaded:
            for module in self.modules:
                importlib.import_module(module)
            self._loaded = True
            self._check_permissions()

    def _check_permissions(self) -> None:
        for etype in self._own_types():
            for call in etype.api_calls:
                problem = self.permission_model.check(call.permission)
                if problem:
                    raise FamilyError(f"{etype.id}: permission {call.permission!r}: {problem}")

    def _own_types(self) -> list[EvidenceType]:
        return registry.declared(family=self.name)

    # --- what the contract asks ------------------------------------------------------------------

    def evidence_types(self) -> list[EvidenceType]:
        self.load()
        return self._own_types()

    def source_map(self) -> dict[str, Source]:
        self.load()
        return dict(sorted(self._sources.items()))

    def sources(self) -> list[str]:
        return list(self.source_map())

    def types_of(self, source: str) -> list[EvidenceType]:
        return [t for t in self.evidence_types() if t.collector == source]

    def required_permissions(self, types: Collection[str] | None = None) -> list[str]:
        chosen = self.select_types(types)
        found = set(self.framework_permissions)
        for etype in chosen:
            found.update(etype.permissions)
        return sorted(found)

    def policy(self, types: Collection[str] | None = None) -> str:
        return self.permission_model.render(self.required_permissions(types))

    def select_types(self, types: Collection[str] | None) -> list[EvidenceType]:
        """The family's evidence types named by ``types`` (ids or source names; None: all)."""
        own = self.evidence_types()
        if not types:
            return own
        by_id = {t.id: t for t in own}
        sources = set(self.source_map())
        chosen: dict[str, EvidenceType] = {}
        unknown = []
        for name in types:
            if name in by_id:
                chosen[name] = by_id[name]
            elif name in sources:
                chosen.update({t.id: t for t in own if t.collector == name})
            else:
                prefixed = [t for t in own if t.id.startswith(name.rstrip(".") + ".")]
                if prefixed:
                    chosen.update({t.id: t for t in prefixed})
                else:
                    unknown.append(name)
        if unknown:
            raise UsageError(
                f"unknown {self.name} evidence type(s) or source(s): {', '.join(sorted(unknown))}; "
                f"see `evidence types --family {self.name}`"
            )
        return sorted(chosen.values(), key=lambda t: t.id)

    def resolve_sources(
        self, sources: Collection[str] | None, types: Collection[str] | None
    ) -> tuple[list[Source], tuple[str, ...]]:
        """The sources a collection runs, and the type ids it is limited to (empty: all)."""
        available = self.source_map()
        unknown = sorted(set(sources or ()) - set(available))
        if unknown:
            raise UsageError(
                f"unknown {self.name} collector(s): {', '.join(unknown)}; known: {', '.join(available)}"
            )
        only: tuple[str, ...] = ()
        names = list(sources) if sources else list(available)
        if types:
            chosen = self.select_types(types)
            only = tuple(t.id for t in chosen)
            names = [n for n in names if any(t.collector == n for t in chosen)]
        return [available[n] for n in names], only

    # --- hooks a family fills in -----------------------------------------------------------------

    def configure(self, settings: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def plan(
        self, config: Any, *, sources: Collection[str] | None = None, types: Collection[str] | None = None
    ) -> list[Unit]:
        raise NotImplementedError

    def open(self, config: Any) -> Any:
        """Per-collection state shared by the units (cached clients); default: the config itself."""
        return config

    def connect(self, opened: Any, unit: Unit, recorder: CallRecorder) -> tuple[C, dict[str, str]]:
        """The connection a unit's fetch uses and the target its records name; raise
        :class:`TargetUnavailable` when the target cannot be reached at all."""
        raise NotImplementedError

    def recorder(self) -> CallRecorder:
        return CallRecorder()

    def concurrency(self, opened: Any) -> int:
        """Calls in flight per unit's fetch, from the state ``open`` returned."""
        return int(getattr(opened, "concurrency", 8))

    def commands(self) -> Sequence[tuple[str, Any]]:
        return ()

    def demo(self) -> AbstractContextManager[DemoEstate] | None:
        return None

    # --- events ----------------------------------------------------------------------------------

    def claims(self, event: Mapping[str, Any]) -> bool:
        """The neutral event shape names the family: ``{"family": ..., "evidence_types": [...],
        "scope": {...}, "resources": [...]}``. Families add their sources' own event shapes."""
        return event.get("family") == self.name

    def units_for_event(self, config: Any, event: Mapping[str, Any]) -> list[Unit]:
        """Units for the neutral event shape: the named types (or sources), in the units whose scope
        matches every key the event gives, limited to the named resources."""
        types = event.get("evidence_types") or event.get("types") or []
        scope = event.get("scope") or {}
        resources = event.get("resources") or ([event["resource"]] if event.get("resource") else [])
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise EventRejected(f"{self.name} event: 'evidence_types' must be a list of type ids")
        if not isinstance(scope, Mapping) or not isinstance(resources, list):
            raise EventRejected(f"{self.name} event: 'scope' must be an object and 'resources' a list")
        try:
            units = self.plan(config, types=types or None)
        except UsageError as exc:
            raise EventRejected(str(exc)) from exc
        chosen = [u for u in units if all(u.scope_dict.get(k) == str(v) for k, v in scope.items())]
        if not chosen:
            raise EventRejected(f"{self.name} event: no configured unit matches scope {dict(scope)}")
        return [replace(u, resources=tuple(str(r) for r in resources)) for u in chosen]

    # --- the collect loop ------------------------------------------------------------------------

    def collect(
        self,
        config: Any,
        context: RunContext,
        *,
        units: Sequence[Unit] | None = None,
        sources: Collection[str] | None = None,
        types: Collection[str] | None = None,
        run_gx: bool = True,
    ) -> Iterator[list[PreparedRecord]]:
        from collectors.core.runner import collect_units

        chosen = list(units) if units is not None else self.plan(config, sources=sources, types=types)
        foreign = [u.label for u in chosen if u.family != self.name]
        if foreign:
            raise UsageError(f"units of another family given to {self.name}: {', '.join(foreign)}")
        yield from collect_units(self, config, chosen, context, run_gx=run_gx)

    def __repr__(self) -> str:
        return f"<collector family {self.name}>"

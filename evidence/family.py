"""The collector-family contract: what a family of collectors declares so that the core can collect
it, print its least-privilege policy, offer its CLI commands and run its demo without naming it.

A family (AWS, Vault, Sentry, pgBackRest...) is an installed package whose entry point in the
``evidence.collectors`` group names an object satisfying :class:`CollectorFamily`. It declares:

- its evidence types (registered in :mod:`evidence.registry` when :meth:`CollectorFamily.load` runs);
- its fetch plan: :meth:`CollectorFamily.plan` turns a configuration into :class:`Unit` s (accounts x
  regions x sources, mounts, projects, clusters, URLs), each collected on its own, so Airflow can map
  a task over them;
- its permission model (IAM actions, Vault capabilities, Sentry scopes, database privileges): every
  declared permission is checked against it, and the least-privilege policy is rendered from the
  declarations by :meth:`CollectorFamily.policy`;
- its connection settings (:class:`ConnectionSpec`: the Airflow connection type, environment
  variables, CLI options), read the same way by the CLI, the DAGs and the UI;
- optional CLI subcommands and an optional demo (an emulator seeded with a sample estate).

The neutral implementation of this contract, with the collect loop, outcomes, call recording and
bounded fan-out, is ``collectors.core``; the core library never imports it, nor any family.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from evidence.errors import ConfigError, EvidenceError

if TYPE_CHECKING:
    from evidence.records import PreparedRecord, RunContext
    from evidence.registry import EvidenceType

SettingKind = Literal["str", "int", "float", "bool"]


@dataclass(frozen=True)
class Setting:
    """One setting of a family: a key of its settings mapping, with the environment variable, the
    CLI option and the Airflow connection-extra key (the same name) that can supply it."""

    name: str  # key in the settings mapping and in an Airflow connection's extra, e.g. "regions"
    help: str
    env: str | None = None  # e.g. EVIDENCE_AWS_REGIONS
    flags: tuple[str, ...] = ()  # CLI option names, e.g. ("--region", "-r"); empty: not on the CLI
    multiple: bool = False  # a list: repeat the option, or comma-separate the variable
    kind: SettingKind = "str"
    secret: bool = False  # a credential: never printed, logged or stored in evidence

    def parse(self, raw: Any, *, source: str) -> Any:
        """A value from the environment, a connection extra or the CLI, as this setting's kind."""
        if self.multiple:
            items = raw.split(",") if isinstance(raw, str) else list(raw)
            return [
                self._scalar(str(i).strip() if isinstance(i, str) else i, source) for i in items if i != ""
            ]
        return self._scalar(raw, source)

    def _scalar(self, raw: Any, source: str) -> Any:
        try:
            if self.kind == "int":
                return int(raw)
            if self.kind == "float":
                return float(raw)
            if self.kind == "bool":
                if isinstance(raw, bool):
                    return raw
                text = str(raw).strip().lower()
                if text in ("1", "true", "yes", "on"):
                    return True
                if text in ("0", "false", "no", "off", ""):
                    return False
                raise ValueError(text)
        except (TypeError, ValueError, OverflowError):
            shown = "***" if self.secret else repr(raw)
            raise ConfigError(f"{source}: {self.name} must be {self.kind}, got {shown}") from None
        return raw


@dataclass(frozen=True)
class ConnectionSpec:
    """How a family reaches its source: the Airflow connection type and the settings it reads.

    Precedence, as in Airflow's providers: an explicit argument (CLI option, DAG param) > the
    Airflow connection's extra > the environment.
    """

    conn_type: str  # Airflow connection type: "aws", "vault", "http", "postgres"...
    default_conn_id: str
    settings: tuple[Setting, ...] = ()
    description: str = ""

    def setting(self, name: str) -> Setting:
        for item in self.settings:
            if item.name == name:
                return item
        raise KeyError(name)

    def from_environ(self, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        env = os.environ if environ is None else environ
        found: dict[str, Any] = {}
        for item in self.settings:
            if item.env and env.get(item.env):
                found[item.name] = item.parse(env[item.env], source=f"environment variable {item.env}")
        return found

    def resolve(self, *layers: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The environment, then each layer on top (later wins); ``None`` values are skipped."""
        merged = self.from_environ(environ)
        known = {s.name: s for s in self.settings}
        for layer in layers:
            for key, value in layer.items():
                if value is None or (isinstance(value, list | tuple) and not value):
                    continue
                item = known.get(key)
                merged[key] = item.parse(value, source=f"setting {key}") if item else value
        # Credentials never reach an error report (evidence.error_reporting scrubs them by value).
        from evidence.error_reporting import register_settings

        register_settings(merged, {s.name for s in self.settings if s.secret})
        return merged


@dataclass(frozen=True)
class Unit:
    """One independently collected piece of a family's plan: a source at one scope.

    JSON-serialisable (``to_dict``/``from_dict``), so an Airflow task can be mapped over units.
    """

    family: str
    source: str  # the collector, e.g. "aws.s3"
    scope: tuple[tuple[str, str], ...] = ()  # e.g. (("account", "prod"), ("region", "eu-west-1"))
    types: tuple[str, ...] = ()  # only these evidence types of the source; empty: all of them
    # Only these resources (an event names one): the records then cover exactly them, and their
    # target says so ("resources"); empty: every resource the source finds.
    resources: tuple[str, ...] = ()

    @property
    def scope_dict(self) -> dict[str, str]:
        return dict(self.scope)

    @property
    def label(self) -> str:
        """What the unit collects, for a person (Airflow's map_index_template, progress lines)."""
        where = "/".join(v for _, v in self.scope)
        text = f"{self.source} {where}".strip()
        if self.types:
            text += " [" + ", ".join(t.removeprefix(self.source + ".") for t in self.types) + "]"
        if self.resources:
            text += " (" + ", ".join(self.resources) + ")"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "source": self.source,
            "scope": self.scope_dict,
            "types": list(self.types),
            "resources": list(self.resources),
            "label": self.label,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Unit:
        try:
            return cls(
                family=str(data["family"]),
                source=str(data["source"]),
                scope=tuple((str(k), str(v)) for k, v in dict(data.get("scope") or {}).items()),
                types=tuple(str(t) for t in data.get("types") or ()),
                resources=tuple(str(r) for r in data.get("resources") or ()),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"not a collection unit: {exc}") from exc


class PermissionModel(Protocol):
    """A family's permissions: how one is written, and the least-privilege document built from them."""

    name: str  # e.g. "IAM actions", "Vault capabilities"
    media_type: str  # of the rendered policy, e.g. "application/json", "text/x-hcl"

    def check(self, permission: str) -> str | None:
        """``None`` if ``permission`` is well formed in this model, else what is wrong with it."""
        ...

    def render(self, permissions: Sequence[str]) -> str:
        """The least-privilege policy granting exactly ``permissions``."""
        ...


@dataclass(frozen=True)
class DemoEstate:
    """A running demo source (an emulator seeded with compliant and non-compliant resources)."""

    settings: dict[str, Any]  # what ``configure`` needs to collect from it
    description: str
    extra: dict[str, Any] = field(default_factory=dict)  # family-specific (expectations for tests)


@runtime_checkable
class CollectorFamily(Protocol):
    name: str  # the entry point's name, e.g. "aws"
    title: str
    connection: ConnectionSpec
    permission_model: PermissionModel
    # How many units the family collects at once in one process (1: one at a time on a host, drills).
    parallel_units: int

    def load(self) -> None:
        """Import the family's modules, registering its sources and evidence types. Cheap: no SDKs."""
        ...

    def evidence_types(self) -> list[EvidenceType]: ...

    def sources(self) -> list[str]: ...

    def required_permissions(self, types: Collection[str] | None = None) -> list[str]:
        """Every permission the chosen (default: all) evidence types and the framework need."""
        ...

    def policy(self, types: Collection[str] | None = None) -> str: ...

    def configure(self, settings: Mapping[str, Any]) -> Any:
        """The family's configuration from resolved settings (see :meth:`ConnectionSpec.resolve`)."""
        ...

    def plan(
        self, config: Any, *, sources: Collection[str] | None = None, types: Collection[str] | None = None
    ) -> list[Unit]: ...

    def collect(
        self,
        config: Any,
        context: RunContext,
        *,
        units: Sequence[Unit] | None = None,
        sources: Collection[str] | None = None,
        types: Collection[str] | None = None,
    ) -> Iterator[list[PreparedRecord]]:
        """Collect the plan (or the given units); yield each unit's records as soon as they are ready."""
        ...

    def commands(self) -> Sequence[tuple[str, Any]]:
        """Extra CLI subcommands: (name, typer.Typer) pairs mounted as ``evidence NAME``."""
        ...

    def demo(self) -> AbstractContextManager[DemoEstate] | None:
        """Start and seed a demo source on loopback, or ``None`` if the family has no demo."""
        ...

    def claims(self, event: Mapping[str, Any]) -> bool:
        """Whether an event (a queue message, a REST asset event's extra) is this family's to read."""
        ...

    def units_for_event(self, config: Any, event: Mapping[str, Any]) -> list[Unit]:
        """The units an event asks for (the types it concerns, for the resource it names); raise
        :class:`EventRejected` for an event that names nothing this family can collect."""
        ...


class FamilyError(EvidenceError):
    """A collector family is misdeclared (a permission outside its model, an unknown source)."""


class EventRejected(EvidenceError):
    """An event that cannot start a collection: malformed, or naming an unknown family, type or
    resource. It is recorded and rejected, never a crash."""


def start_demos(
    stack: ExitStack, families: Sequence[CollectorFamily], say: Callable[[str], None]
) -> list[tuple[CollectorFamily, DemoEstate]]:
    """Start the families' demo sources side by side (they are independent: an emulator, scratch
    clusters, local servers) and register each one's stop on ``stack``, so all that started are stopped,
    also when another failed to start (its error is raised once every start has ended). Families
    without a demo are left out. Returns (family, estate) in the order given."""
    chosen = [(family, cm) for family in families if (cm := family.demo()) is not None]
    say(f"starting {len(chosen)} demo sources: " + ", ".join(f.title for f, _ in chosen))
    failures: list[BaseException] = []
    running: dict[str, DemoEstate] = {}
    started: dict[Future[DemoEstate], tuple[CollectorFamily, AbstractContextManager[DemoEstate]]] = {}
    registered: set[Future[DemoEstate]] = set()
    try:
        with ThreadPoolExecutor(max_workers=max(1, len(chosen)), thread_name_prefix="demo") as pool:
            started = {pool.submit(cm.__enter__): (family, cm) for family, cm in chosen}
            for future in as_completed(started):
                family, cm = started[future]
                try:
                    estate = future.result()
                except BaseException as exc:  # noqa: BLE001 - raised below, once every start has ended
                    failures.append(exc)
                    say(f"{family.title}: the demo source did not start: {exc}")
                    continue
                stack.push(cm.__exit__)
                registered.add(future)
                running[family.name] = estate
                say(f"{family.title}: {estate.description}")
    finally:
        # Interrupted while waiting (Ctrl-C): the pool has let every start end; stop those that did.
        for future, (_family, cm) in started.items():
            if future not in registered and not future.cancelled() and future.exception() is None:
                stack.push(cm.__exit__)
    if failures:
        raise failures[0]
    return [(family, running[family.name]) for family, _ in chosen]

"""Run AWS collectors over accounts x regions and turn snapshots into prepared records.

Bounded concurrency at two levels: (account, service, region) units run on a small pool, and each
service's fetch bounds its own in-flight calls (``AwsConfig.concurrency``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from collectors.aws.core import AwsAccount, AwsClients, AwsConfig, CallRecorder, Snapshot
from evidence import registry
from evidence.canonical import utcnow
from evidence.errors import CollectionError
from evidence.pipeline import PreparedRecord, RunContext, build_record
from evidence.records import SourceError

GLOBAL_REGION = "global"

Fetch = Callable[[AwsClients, str, dict[str, str], CallRecorder, int], Snapshot]


@dataclass(frozen=True)
class AwsService:
    """One AWS service collector: fetch once per target, then every evidence type maps the snapshot."""

    name: str  # collector name, e.g. "aws.s3"; evidence types declare it as their collector
    scope: Literal["global", "regional"]
    fetch: Fetch


_SERVICES: dict[str, AwsService] = {}


def register_service(service: AwsService) -> AwsService:
    _SERVICES[service.name] = service
    return service


def services() -> dict[str, AwsService]:
    import collectors.aws  # noqa: F401  (registers every service module)

    return dict(_SERVICES)


@dataclass(frozen=True)
class Unit:
    account: AwsAccount
    service: AwsService
    region: str  # the region the calls go to (first configured region for global services)
    target_region: str  # "global" for global services


def _error_records(
    service: AwsService, target: dict[str, str], error: SourceError, context: RunContext, run_gx: bool
) -> list[PreparedRecord]:
    now = utcnow()
    return [
        build_record(
            etype, rows=[], target=target, observed_at=now, context=context, error=error, run_gx=run_gx
        )
        for etype in registry.for_collector(service.name)
    ]


def collect_unit(
    clients: AwsClients,
    unit: Unit,
    context: RunContext,
    *,
    types: set[str] | None = None,
    run_gx: bool = True,
) -> list[PreparedRecord]:
    recorder = CallRecorder()
    try:
        account_id = clients.account_id(recorder)
    except CollectionError as exc:
        target = {"account": unit.account.name, "region": unit.target_region}
        error = SourceError(
            code=exc.code, message=exc.message, permission=exc.permission, operation="sts:get_caller_identity"
        )
        return _error_records(unit.service, target, error, context, run_gx)
    target = {"account": account_id, "region": unit.target_region}
    started = utcnow()
    snapshot = unit.service.fetch(clients, unit.region, target, recorder, clients.config.concurrency)
    finished = utcnow()
    records = []
    for etype in registry.for_collector(unit.service.name):
        if types is not None and etype.id not in types:
            continue
        calls = recorder.calls_for(etype.api_calls)
        failure = next(
            (snapshot.failures[a.key] for a in etype.api_calls if a.required and a.key in snapshot.failures),
            None,
        )
        rows: list[dict[str, Any]] = [] if failure else etype.map(snapshot)
        records.append(
            build_record(
                etype,
                rows=rows,
                target=target,
                observed_at=started,
                period_start=started,
                period_end=finished,
                context=context,
                api_calls=calls,
                error=failure,
                run_gx=run_gx,
            )
        )
    return records


def plan(config: AwsConfig, service_names: Sequence[str] | None = None) -> list[Unit]:
    available = services()
    chosen = [available[n] for n in (service_names or sorted(available))]
    units = []
    for account in config.accounts:
        for service in chosen:
            if service.scope == "global":
                units.append(Unit(account, service, config.regions[0], GLOBAL_REGION))
            else:
                units.extend(Unit(account, service, region, region) for region in config.regions)
    return units


def collect(
    config: AwsConfig,
    context: RunContext,
    *,
    service_names: Sequence[str] | None = None,
    types: set[str] | None = None,
    session: Any = None,
    run_gx: bool = True,
    parallel_units: int = 4,
) -> list[PreparedRecord]:
    """Collect every evidence type of the chosen services from every account and region."""
    unknown = set(service_names or ()) - set(services())
    if unknown:
        from evidence.errors import UsageError

        raise UsageError(
            f"unknown AWS collector(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(services()))}"
        )
    clients = {account: AwsClients(config, session=session, account=account) for account in config.accounts}
    units = plan(config, service_names)
    with ThreadPoolExecutor(max_workers=max(1, min(parallel_units, len(units)))) as pool:
        batches = list(
            pool.map(
                lambda u: collect_unit(clients[u.account], u, context, types=types, run_gx=run_gx), units
            )
        )
    return [record for batch in batches for record in batch]

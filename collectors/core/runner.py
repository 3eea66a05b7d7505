"""The collect loop every family shares: per unit, connect, fetch once, map each evidence type, build
records; units run on a small pool and each unit's records are handed on as soon as they are ready
(so the caller validates and stores them while later units are still being fetched).

A gap is never silent: a target that cannot be reached, a fetch or a mapping that breaks, each gives
``error`` records naming what happened, and the other units and types are still collected. A broken
fetch or mapping is a bug, so it is also logged with its traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime
from typing import TYPE_CHECKING, Any

from collectors.core.family import FetchContext, TargetUnavailable
from collectors.core.recording import one_line
from collectors.core.snapshot import Snapshot
from evidence import warmup
from evidence.canonical import utcnow
from evidence.family import Unit
from evidence.pipeline import build_record
from evidence.records import PreparedRecord, RunContext, SourceError
from evidence.registry import EvidenceType

if TYPE_CHECKING:
    from collectors.core.family import Family

log = logging.getLogger(__name__)


def _bug(what: str, exc: BaseException) -> SourceError:
    return SourceError(
        code="CollectorError",
        message=one_line(f"{what} raised {type(exc).__name__}: {exc}"),
        operation=what,
    )


def _scoped(target: dict[str, str], unit: Unit) -> dict[str, str]:
    """A unit limited to named resources says so in its target: its records cover only them."""
    return {**target, "resources": ",".join(sorted(unit.resources))} if unit.resources else target


def _only(rows: list[dict[str, Any]], resources: Sequence[str]) -> list[dict[str, Any]]:
    """The rows of the named resources (by name or ARN suffix: an event may name either)."""
    wanted = set(resources)

    def named(resource: object) -> bool:
        text = str(resource)
        return text in wanted or any(
            text.endswith((":" + w, "/" + w)) or w.endswith((":" + text, "/" + text)) for w in wanted
        )

    return [r for r in rows if named(r.get("resource"))]


def map_type(
    snapshot: Snapshot, etype: EvidenceType, label: str = "", resources: Sequence[str] = ()
) -> tuple[list[dict[str, Any]], SourceError | None]:
    """One evidence type's rows from a snapshot, and the error that makes its record ``error`` as a
    whole: a required listing failed (no rows: the population is unknown), the mapping broke, or no
    row could be judged while a per-resource read failed everywhere (the rows are kept: every resource
    of the population has its row, judged or not)."""
    failure = snapshot.failure_for(etype)
    if failure is not None:
        return [], failure
    try:
        rows = etype.map(snapshot)
    except Exception as exc:
        log.exception("mapping %s failed on %s", etype.id, label)
        return [], _bug(f"{etype.id} mapping", exc)
    if resources:
        rows = _only(rows, resources)
    if rows and all(r.get("status") == "error" for r in rows):
        failure = snapshot.per_resource_failure_for(etype)
    return rows, failure


def unit_types(family: Family[Any], unit: Unit) -> list[EvidenceType]:
    types = family.types_of(unit.source)
    return [t for t in types if not unit.types or t.id in unit.types]


def collect_unit(
    family: Family[Any], opened: Any, unit: Unit, context: RunContext, *, run_gx: bool = True
) -> list[PreparedRecord]:
    """Collect one unit: its records, one per evidence type, whatever happened."""
    types = unit_types(family, unit)
    source = family.source_map()[unit.source]
    recorder = family.recorder()
    observed_at = utcnow()

    def errors(
        target: dict[str, str], error: SourceError, finished: datetime | None = None
    ) -> list[PreparedRecord]:
        return [
            build_record(
                etype,
                rows=[],
                target=target,
                observed_at=observed_at,
                period_end=finished,
                context=context,
                api_calls=recorder.all_calls(),
                error=error,
                run_gx=run_gx,
            )
            for etype in types
        ]

    try:
        connection, target = family.connect(opened, unit, recorder)
    except TargetUnavailable as exc:
        warmup.first_contact()
        return errors(_scoped(exc.target, unit), exc.error)
    warmup.first_contact()  # the source has answered (or refused): start what waited for that
    target = _scoped(target, unit)
    ctx = FetchContext(
        connection=connection,
        unit=unit,
        target=target,
        recorder=recorder,
        observed_at=observed_at,
        concurrency=family.concurrency(opened),
    )
    try:
        snapshot = source.fetch(ctx)
    except Exception as exc:
        log.exception("collector %s failed on %s", unit.source, unit.label)
        return errors(target, _bug(f"{unit.source} fetch", exc), utcnow())
    finished = utcnow()
    records = []
    for etype in types:
        rows, failure = map_type(snapshot, etype, unit.label, unit.resources)
        records.append(
            build_record(
                etype,
                rows=rows,
                target=target,
                observed_at=snapshot.observed_at,
                period_start=snapshot.observed_at,
                period_end=finished,
                context=context,
                api_calls=recorder.calls_for(etype.api_calls),
                error=failure,
                run_gx=run_gx,
            )
        )
    return records


def collect_units(
    family: Family[Any],
    config: Any,
    units: Sequence[Unit],
    context: RunContext,
    *,
    run_gx: bool = True,
) -> Iterator[list[PreparedRecord]]:
    """Collect ``units`` on a pool of ``family.parallel_units``; yield each unit's records as it ends."""
    if not units:
        return
    if run_gx:
        _warm_up(family, units)
    opened = family.open(config)
    workers = max(1, min(family.parallel_units, len(units)))
    if workers == 1:
        for unit in units:
            yield collect_unit(family, opened, unit, context, run_gx=run_gx)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"collect-{family.name}") as pool:
        pending: set[Future[list[PreparedRecord]]] = {
            pool.submit(collect_unit, family, opened, unit, context, run_gx=run_gx) for unit in units
        }
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()


def _warm_up(family: Family[Any], units: Sequence[Unit]) -> None:
    """Import GX (or start the GX process: ``evidence.gx_process``), build the suites and schemas and
    load the catalog on a background thread while the fetch runs, from
    the moment the first unit has connected (:mod:`evidence.warmup`): before that it would compete with
    the client's own start-up and delay the first request by seconds. The first record then does not
    wait for GX either (the thread is a daemon: it never holds the process)."""
    from evidence.validation import warm_up

    type_ids = sorted({t.id for unit in units for t in unit_types(family, unit)})
    warmup.after_first_contact(lambda: warm_up(type_ids))
    warmup.after_first_contact(_load_catalog)  # every record names its controls from the catalog


def _load_catalog() -> None:
    from evidence.catalog import load_catalog

    load_catalog()


def collect_all(
    family: Family[Any],
    config: Any,
    context: RunContext,
    *,
    sources: Sequence[str] | None = None,
    types: Sequence[str] | None = None,
    run_gx: bool = True,
) -> list[PreparedRecord]:
    """Every record of the plan, in plan order (tests and benchmarks; the CLI streams instead)."""
    units = family.plan(config, sources=sources, types=types)
    opened = family.open(config)
    workers = max(1, min(family.parallel_units, len(units) or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        batches = list(pool.map(lambda u: collect_unit(family, opened, u, context, run_gx=run_gx), units))
    return [record for batch in batches for record in batch]

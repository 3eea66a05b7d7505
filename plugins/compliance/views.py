"""The Compliance section's queries and view models: plain functions over an evidence store and the
catalog, with no Airflow and no web framework, so they are tested on their own. The FastAPI app
(``plugins.compliance.app``) parses a request, calls one of these and renders the result.

Every value here is data: strings stay raw and the templates escape them (Jinja2 autoescape). Charts
are SVG geometry computed here from numbers only.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evidence.canonical import utc_iso
from evidence.catalog import Catalog, Control
from evidence.errors import UsageError
from evidence.posture import ControlPosture, Posture, State, evaluate, load_payloads
from evidence.records import EvidenceRecord, PreparedRecord, RunContext, Status
from evidence.registry import ATTESTATION, CORE_TYPES, EXCEPTION, POSTURE_SNAPSHOT

if TYPE_CHECKING:
    from evidence.store import EvidenceStore

FRAMEWORKS = ("all", "soc2", "gdpr", "dr")
STATE_ORDER = ("failing", "error", "stale", "missing", "excepted", "passing")
STATE_COLOURS = {
    "passing": "#2e7d32",
    "failing": "#c62828",
    "error": "#ef6c00",
    "stale": "#8d6e63",
    "missing": "#6d6d6d",
    "excepted": "#1565c0",
}
STATUS_LABELS = {"pass": "pass", "fail": "fail", "error": "could not collect", "not_applicable": "n/a"}
DRILL_PREFIX = "drill."  # the drill family's evidence types: drill.restore.postgres, ...
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_PAGE = 10_000
HISTORY_LIMIT = 50
TREND_LIMIT = 90
MAX_REMINDER_DAYS = 366


# --- parsing what a request says ---------------------------------------------------------------------


def parse_framework(value: str | None) -> str:
    name = (value or "all").strip().lower()
    if name not in FRAMEWORKS:
        raise UsageError(f"unknown framework {value!r}: use one of {', '.join(FRAMEWORKS)}")
    return name


def parse_time(value: str | None, name: str) -> datetime | None:
    """An ISO date or date-time (UTC when no zone is given); None for empty."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{name}: {value!r} is not a date (use YYYY-MM-DD or an ISO date-time)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not 2000 <= moment.year <= 2200:
        raise UsageError(f"{name}: {value!r} is out of range (years 2000-2200)")
    return moment.astimezone(UTC)


def parse_int(value: str | None, name: str, *, default: int, low: int, high: int) -> int:
    if value is None or not value.strip():
        return default
    try:
        number = int(value)
    except ValueError:
        raise UsageError(f"{name}: {value!r} is not a whole number") from None
    if not low <= number <= high:
        raise UsageError(f"{name}: {number} is out of range ({low}-{high})")
    return number


@dataclass(frozen=True)
class EvidenceFilter:
    """The evidence browser's filters. ``source`` matches the collector (``aws.s3`` matches
    ``aws.s3`` and ``aws.s3.*``); ``since``/``until`` bound ``observed_at``."""

    control: str | None = None
    evidence_type: str | None = None
    source: str | None = None
    status: Status | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> EvidenceFilter:
        def text(name: str) -> str | None:
            value = (query.get(name) or "").strip()
            if len(value) > 200:
                raise UsageError(f"{name}: longer than 200 characters")
            return value or None

        status_text = text("status")
        status = None
        if status_text is not None:
            try:
                status = Status(status_text)
            except ValueError:
                raise UsageError(
                    f"status: {status_text!r} is not one of {', '.join(s.value for s in Status)}"
                ) from None
        since = parse_time(query.get("since"), "since")
        until = parse_time(query.get("until"), "until")
        if since and until and since >= until:
            raise UsageError("since must be before until")
        control = text("control")
        return cls(
            control=control.upper() if control else None,
            evidence_type=text("type"),
            source=text("source"),
            status=status,
            since=since,
            until=until,
        )

    def query(self) -> dict[str, str]:
        """The filter as query parameters (for pagination links)."""
        out = {
            "control": self.control or "",
            "type": self.evidence_type or "",
            "source": self.source or "",
            "status": self.status.value if self.status else "",
            "since": utc_iso(self.since) if self.since else "",
            "until": utc_iso(self.until) if self.until else "",
        }
        return {k: v for k, v in out.items() if v}

    def matches_source(self, record: EvidenceRecord) -> bool:
        if not self.source:
            return True
        return record.collector == self.source or record.collector.startswith(self.source + ".")


# --- records as rows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordRow:
    """One record as a listing shows it: ``observed_at`` and ``recorded_at`` apart; an ``error``
    record as "could not collect" with the source's error and the missing permission."""

    id: str
    evidence_type: str
    status: str
    status_label: str
    target: str
    collector: str
    observed_at: str
    recorded_at: str
    reason: str
    controls: tuple[str, ...]
    error_code: str | None = None
    error_message: str | None = None
    permission: str | None = None
    operation: str | None = None

    @property
    def could_not_collect(self) -> bool:
        return self.status == Status.ERROR.value


def record_row(record: EvidenceRecord) -> RecordRow:
    error = record.error
    return RecordRow(
        id=record.id,
        evidence_type=record.evidence_type,
        status=record.status.value,
        status_label=STATUS_LABELS.get(record.status.value, record.status.value),
        target=", ".join(f"{k}={v}" for k, v in sorted(record.target.items())),
        collector=record.collector,
        observed_at=utc_iso(record.observed_at),
        recorded_at=utc_iso(record.recorded_at),
        reason=record.reason,
        controls=tuple(record.control_ids),
        error_code=error.code if error else None,
        error_message=error.message if error else None,
        permission=error.permission if error else None,
        operation=error.operation if error else None,
    )


@dataclass(frozen=True)
class EvidencePage:
    rows: tuple[RecordRow, ...]
    page: int
    per_page: int
    has_next: bool
    filters: EvidenceFilter

    def link(self, page: int) -> dict[str, str]:
        return {**self.filters.query(), "page": str(page), "per_page": str(self.per_page)}


def evidence_page(
    store: EvidenceStore, filters: EvidenceFilter, *, page: int = 1, per_page: int = PAGE_SIZE
) -> EvidencePage:
    """Records matching the filters, newest first; page ``page`` of ``per_page`` (one more is read to
    know whether a next page exists)."""
    if not 1 <= per_page <= MAX_PAGE_SIZE:
        raise UsageError(f"per_page: {per_page} is out of range (1-{MAX_PAGE_SIZE})")
    if not 1 <= page <= MAX_PAGE:
        raise UsageError(f"page: {page} is out of range (1-{MAX_PAGE})")
    skip = (page - 1) * per_page
    wanted = per_page + 1
    # The store filters in SQL; the source (collector) is checked here, so the SQL limit applies
    # only when there is no source filter.
    stream = store.iter_records(
        evidence_type=filters.evidence_type,
        status=filters.status,
        control_id=filters.control,
        since=filters.since,
        until=filters.until,
        newest_first=True,
        limit=None if filters.source else skip + wanted,
    )
    found: list[EvidenceRecord] = []
    seen = 0
    for record in stream:
        if not filters.matches_source(record):
            continue
        seen += 1
        if seen <= skip:
            continue
        found.append(record)
        if len(found) >= wanted:
            break
    return EvidencePage(
        rows=tuple(record_row(r) for r in found[:per_page]),
        page=page,
        per_page=per_page,
        has_next=len(found) > per_page,
        filters=filters,
    )


@dataclass(frozen=True)
class RecordDetail:
    row: RecordRow
    record: dict[str, Any]  # the whole record as JSON (shown as text)
    period: str
    population: str | None
    validation: str
    api_calls: tuple[str, ...]
    attachments: tuple[dict[str, Any], ...]
    provenance: tuple[tuple[str, str], ...]


def _population_text(record: EvidenceRecord) -> str | None:
    if record.population is None:
        return None
    parts = ", ".join(
        f"{n} {STATUS_LABELS.get(str(s), str(s))}" for s, n in record.population.by_status.items()
    )
    return f"{record.population.total} resource(s)" + (f": {parts}" if parts else "")


def _validation_text(record: EvidenceRecord) -> str:
    v = record.validation
    text = (
        "JSON Schema: valid"
        if v.schema_valid
        else "JSON Schema: INVALID (" + "; ".join(v.schema_errors) + ")"
    )
    if v.gx is not None:
        gx = v.gx
        text += (
            f"; Great Expectations suite {gx.suite or ''}: {gx.successful}/{gx.evaluated} expectations met"
            + (f", failed: {', '.join(gx.failed_expectations)}" if gx.failed_expectations else "")
        )
    return text


def _api_call_text(call: Any) -> str:
    where = f" in {call.region}" if call.region else ""
    outcome = f"HTTP {call.http_status}" if call.http_status is not None else "no response"
    if call.error_code:
        outcome += f", {call.error_code}"
    times = f" x{call.count}" if call.count > 1 else ""
    retries = f" ({call.attempts} attempts)" if call.attempts > 1 else ""
    return f"{call.service}.{call.operation}{where}: {outcome}{times}{retries}"


def record_detail(record: EvidenceRecord) -> RecordDetail:
    prov = record.provenance
    provenance = tuple(
        (name, str(value))
        for name, value in (
            ("host", prov.host),
            ("orchestrator", prov.orchestrator),
            ("executor", prov.executor),
            ("dag / run / task", " / ".join(str(x) for x in (prov.dag_id, prov.run_id, prov.task_id) if x)),
            ("try", prov.try_number),
            ("run type", prov.run_type),
            ("triggered by", prov.triggered_by),
            ("tool", prov.tool),
            ("attested by", record.attested_by),
        )
        if value not in (None, "")
    )
    return RecordDetail(
        row=record_row(record),
        record=record.model_dump(mode="json"),
        period=f"{utc_iso(record.period_start)} to {utc_iso(record.period_end)}",
        population=_population_text(record),
        validation=_validation_text(record),
        api_calls=tuple(_api_call_text(c) for c in prov.api_calls),
        attachments=tuple(a.model_dump(mode="json") for a in record.attachments),
        provenance=provenance,
    )


# --- posture and its trend ----------------------------------------------------------------------------


def in_framework(control: Control, framework: str) -> bool:
    fw = control.frameworks
    return {"all": True, "soc2": bool(fw.soc2), "gdpr": bool(fw.gdpr), "dr": fw.dr}[framework]


def framework_codes(control: Control) -> str:
    fw = control.frameworks
    return ", ".join(
        [*(f"SOC 2 {c}" for c in fw.soc2), *(f"GDPR {c}" for c in fw.gdpr), *(["DR"] if fw.dr else [])]
    )


def assess_controls(
    store: EvidenceStore, catalog: Catalog, controls: Sequence[Control], now: datetime
) -> Posture:
    """``evidence.posture.assess`` for the given controls (the same inputs, the same rules)."""
    wanted = {t for c in controls for t in c.method.evidence_types}
    collected = [r for r in store.latest() if r.evidence_type not in CORE_TYPES and r.evidence_type in wanted]
    person = [
        *store.iter_records(evidence_type=ATTESTATION.id),
        *store.iter_records(evidence_type=EXCEPTION.id),
    ]
    payloads = load_payloads(person, store.read_blob)
    return evaluate(catalog, collected, person, payloads, now, controls=controls)


@dataclass(frozen=True)
class PostureRow:
    control_id: str
    title: str
    state: str
    frameworks: str
    owner: str
    method: str
    detail: str
    exception: str | None


@dataclass(frozen=True)
class PostureView:
    framework: str
    at: str
    counts: tuple[tuple[str, int], ...]  # in STATE_ORDER
    rows: tuple[PostureRow, ...]  # worst first


def _detail(item: ControlPosture) -> str:
    return "; ".join(f"{p.need}: {p.detail}" for p in item.parts if p.state != State.PASSING)


def posture_view(posture: Posture, framework: str) -> PostureView:
    items = [c for c in posture.controls if in_framework(c.control, framework)]
    counts = dict.fromkeys(STATE_ORDER, 0)
    for item in items:
        counts[str(item.state)] += 1
    rank = {s: i for i, s in enumerate(STATE_ORDER)}
    rows = [
        PostureRow(
            control_id=item.control.id,
            title=item.control.title,
            state=str(item.state),
            frameworks=framework_codes(item.control),
            owner=item.control.owner_role,
            method=item.control.method.type,
            detail=_detail(item),
            exception=item.exception,
        )
        for item in sorted(items, key=lambda c: (rank[str(c.state)], c.control.id))
    ]
    return PostureView(framework, utc_iso(posture.at), tuple(counts.items()), tuple(rows))


@dataclass(frozen=True)
class TrendPoint:
    at: datetime
    counts: dict[str, int]


def trend_points(
    snapshots: Iterable[tuple[EvidenceRecord, Mapping[str, Any]]], catalog: Catalog, framework: str
) -> list[TrendPoint]:
    """Posture over time from ``posture.snapshot`` records (oldest first): per snapshot, how many of
    the framework's controls were in each state. A control the catalog no longer has counts in "all"."""
    points = []
    for record, payload in snapshots:
        counts = dict.fromkeys(STATE_ORDER, 0)
        for row in payload.get("rows", []):
            if not isinstance(row, dict) or row.get("state") not in counts:
                continue
            control = catalog.get(str(row.get("resource", "")))
            if framework != "all" and (control is None or not in_framework(control, framework)):
                continue
            counts[row["state"]] += 1
        points.append(TrendPoint(record.observed_at, counts))
    return sorted(points, key=lambda p: p.at)


def iter_snapshots(
    store: EvidenceStore, *, limit: int = TREND_LIMIT
) -> Iterator[tuple[EvidenceRecord, dict[str, Any]]]:
    for record in store.iter_records(evidence_type=POSTURE_SNAPSHOT.id, newest_first=True, limit=limit):
        yield record, json.loads(store.read_blob(record.payload_sha256))


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    points: str  # SVG polyline points "x,y x,y"
    last: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    series: tuple[Series, ...]
    x_labels: tuple[tuple[float, str], ...]
    y_max: float
    y_ticks: tuple[tuple[float, str], ...] = ()
    markers: tuple[dict[str, Any], ...] = field(default_factory=tuple)  # bars, target lines


_PAD = 30


def _scale(values: Sequence[float], top: float, height: int) -> list[float]:
    usable = height - 2 * _PAD
    return [round(height - _PAD - (v / top) * usable if top else height - _PAD, 1) for v in values]


def _xs(count: int, width: int) -> list[float]:
    usable = width - 2 * _PAD
    if count == 1:
        return [width / 2]
    return [round(_PAD + i * usable / (count - 1), 1) for i in range(count)]


def trend_chart(points: Sequence[TrendPoint], *, width: int = 720, height: int = 220) -> Chart | None:
    """One line per state over the snapshots; None when there is nothing to draw."""
    if not points:
        return None
    top = max(1, max(sum(p.counts.values()) for p in points))
    xs = _xs(len(points), width)
    series = []
    for state in STATE_ORDER:
        values = [float(p.counts.get(state, 0)) for p in points]
        if not any(values):
            continue
        ys = _scale(values, top, height)
        series.append(
            Series(
                state,
                STATE_COLOURS[state],
                " ".join(f"{x},{y}" for x, y in zip(xs, ys, strict=True)),
                int(values[-1]),
            )
        )
    step = max(1, len(points) // 6)
    labels = tuple((xs[i], f"{points[i].at:%m-%d %H:%M}") for i in range(0, len(points), step))
    ticks = tuple((y, str(v)) for v, y in zip([0, top], _scale([0, top], top, height), strict=True))
    return Chart(width, height, tuple(series), labels, float(top), ticks)


# --- one control ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ControlView:
    control: Control
    frameworks: str
    freshness: str
    state: str
    parts: tuple[dict[str, Any], ...]
    exception: str | None
    history: tuple[RecordRow, ...]
    latest: RecordDetail | None


def control_view(store: EvidenceStore, catalog: Catalog, control_id: str, now: datetime) -> ControlView:
    control = catalog.get(control_id)
    if control is None:
        raise UsageError(f"unknown control {control_id!r} (see `evidence catalog`)")
    posture = assess_controls(store, catalog, [control], now)
    item = posture.controls[0]
    history = list(store.iter_records(control_id=control.id, newest_first=True, limit=HISTORY_LIMIT))
    return ControlView(
        control=control,
        frameworks=framework_codes(control),
        freshness=_duration_text(control.freshness),
        state=str(item.state),
        parts=tuple(
            {
                "need": p.need,
                "state": str(p.state),
                "detail": p.detail,
                "record_ids": p.record_ids,
                "observed_at": utc_iso(p.observed_at) if p.observed_at else None,
            }
            for p in item.parts
        ),
        exception=item.exception,
        history=tuple(record_row(r) for r in history),
        latest=record_detail(history[0]) if history else None,
    )


def _duration_text(value: timedelta) -> str:
    days, seconds = value.days, value.seconds
    if days and not seconds:
        return f"{days} day(s)"
    hours = days * 24 + seconds // 3600
    return f"{hours} hour(s)" if hours else f"{int(value.total_seconds())} s"


# --- exceptions, attestations, reminders -----------------------------------------------------------------


@dataclass(frozen=True)
class ExceptionRow:
    record_id: str
    control_id: str
    owner: str
    role: str | None
    reason: str
    expires_at: str
    recorded_at: str
    state: str  # "active", "expired" (the control counts as failing again), "superseded"


def exception_rows(
    records: Sequence[EvidenceRecord], payloads: Mapping[str, Any], now: datetime
) -> list[ExceptionRow]:
    """Every risk acceptance, newest first. The newest one per control decides (as posture does);
    older ones are "superseded"; an expired one makes the control count as failing again."""
    seen: set[str] = set()
    rows = []
    for record in sorted(records, key=lambda r: r.seq, reverse=True):
        for row in payloads.get(record.payload_sha256, {}).get("rows", []):
            control = str(row.get("resource"))
            expires = datetime.fromisoformat(str(row["expires_at"]).replace("Z", "+00:00"))
            state = "superseded" if control in seen else "active" if expires > now else "expired"
            seen.add(control)
            rows.append(
                ExceptionRow(
                    record_id=record.id,
                    control_id=control,
                    owner=str(row.get("accepted_by") or ""),
                    role=row.get("role"),
                    reason=str(row.get("reason") or ""),
                    expires_at=utc_iso(expires),
                    recorded_at=utc_iso(record.recorded_at),
                    state=state,
                )
            )
    return rows


def person_records(store: EvidenceStore, type_id: str) -> tuple[list[EvidenceRecord], dict[str, Any]]:
    records = list(store.iter_records(evidence_type=type_id))
    return records, load_payloads(records, store.read_blob)


@dataclass(frozen=True)
class Reminder:
    due: str
    days_left: int
    kind: str  # "evidence", "attestation", "exception"
    control_id: str
    title: str
    detail: str


def reminders(posture: Posture, now: datetime, within_days: int) -> list[Reminder]:
    """What expires within ``within_days``: evidence that becomes stale (its oldest part's
    observation plus the control's freshness), attestations going out of date, and exceptions."""
    if not 0 <= within_days <= MAX_REMINDER_DAYS:
        raise UsageError(f"days: {within_days} is out of range (0-{MAX_REMINDER_DAYS})")
    horizon = now + timedelta(days=within_days)
    found = []

    def add(due: datetime, kind: str, item: ControlPosture, detail: str) -> None:
        if now < due <= horizon:
            left = (due - now).days
            found.append(Reminder(utc_iso(due), left, kind, item.control.id, item.control.title, detail))

    for item in posture.controls:
        control = item.control
        if item.state == State.EXCEPTED and item.exception_expires_at is not None:
            add(item.exception_expires_at, "exception", item, item.exception or "")
        for part in item.parts:
            if part.state != State.PASSING or part.observed_at is None:
                continue
            if part.need == "attestation":
                window = control.method.attestation_freshness or control.freshness
                add(
                    part.observed_at + window,
                    "attestation",
                    item,
                    f"attestation goes out of date: {part.detail}",
                )
            else:
                add(part.observed_at + control.freshness, "evidence", item, f"{part.need} becomes stale")
    return sorted(found, key=lambda r: (r.due, r.control_id))


# --- DR drills -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrillRow:
    record_id: str
    kind: str
    observed_at: datetime
    status: str
    status_label: str
    reason: str
    rto_seconds: float | None
    rpo_seconds: float | None
    rto_target_seconds: float | None
    rpo_target_seconds: float | None
    steps: tuple[dict[str, str], ...]

    @property
    def rto_met(self) -> bool | None:
        return _met(self.rto_seconds, self.rto_target_seconds)

    @property
    def rpo_met(self) -> bool | None:
        return _met(self.rpo_seconds, self.rpo_target_seconds)


def _met(value: float | None, target: float | None) -> bool | None:
    return None if value is None or target is None else value <= target


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def drill_row(record: EvidenceRecord, payload: Mapping[str, Any]) -> DrillRow:
    """A drill record's figures. They sit at the payload's top level; a payload with them in its
    first row is read the same way."""
    rows = payload.get("rows")
    first = rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], dict) else {}

    def get(name: str) -> Any:
        return payload.get(name, first.get(name))

    steps = []
    for step in get("steps") or []:
        if isinstance(step, dict):
            steps.append({str(k): "" if v is None else str(v) for k, v in step.items()})
        else:
            steps.append({"name": str(step)})
    return DrillRow(
        record_id=record.id,
        kind=record.evidence_type.removeprefix("drill."),
        observed_at=record.observed_at,
        status=record.status.value,
        status_label=STATUS_LABELS.get(record.status.value, record.status.value),
        reason=record.reason,
        rto_seconds=_number(get("rto_seconds")),
        rpo_seconds=_number(get("rpo_seconds")),
        rto_target_seconds=_number(get("rto_target_seconds")),
        rpo_target_seconds=_number(get("rpo_target_seconds")),
        steps=tuple(steps),
    )


def drill_rows(store: EvidenceStore, *, limit: int = 200) -> list[DrillRow]:
    """Every drill record (restore, failover, replication), newest first."""
    found: list[DrillRow] = []
    from evidence import registry

    for type_id in sorted(t.id for t in registry.all_types() if t.id.startswith(DRILL_PREFIX)):
        for record in store.iter_records(evidence_type=type_id, newest_first=True, limit=limit):
            try:
                payload = json.loads(store.read_blob(record.payload_sha256))
            except ValueError:
                payload = {}
            found.append(drill_row(record, payload if isinstance(payload, dict) else {}))
    return sorted(found, key=lambda d: d.observed_at, reverse=True)[:limit]


def drill_chart(
    drills: Sequence[DrillRow], measure: str, *, width: int = 720, height: int = 200
) -> Chart | None:
    """Bars of ``rto`` or ``rpo`` per drill (oldest first) against its target (a tick per bar)."""
    values = [
        (d, getattr(d, f"{measure}_seconds"), getattr(d, f"{measure}_target_seconds"))
        for d in reversed(drills)
        if getattr(d, f"{measure}_seconds") is not None
    ]
    if not values:
        return None
    top = max(max(v for _, v, _ in values), max((t or 0) for _, _, t in values), 1.0)
    xs = _xs(len(values), width)
    bar = max(4.0, min(40.0, (width - 2 * _PAD) / max(1, len(values)) * 0.6))
    markers = []
    for x, (drill, value, target) in zip(xs, values, strict=True):
        y = _scale([value], top, height)[0]
        met = target is None or value <= target
        markers.append(
            {
                "x": round(x - bar / 2, 1),
                "y": y,
                "w": round(bar, 1),
                "h": round(height - _PAD - y, 1),
                "colour": STATE_COLOURS["passing" if met else "failing"],
                "title": f"{drill.kind} {drill.observed_at:%Y-%m-%d %H:%M}: {value:g} s"
                + (f" (target {target:g} s)" if target is not None else ""),
                "target_y": _scale([target], top, height)[0] if target is not None else None,
            }
        )
    labels = tuple((x, f"{d.observed_at:%m-%d}") for x, (d, _, _) in zip(xs, values, strict=True))
    ticks = tuple((y, f"{v:g} s") for v, y in zip([0.0, top], _scale([0.0, top], top, height), strict=True))
    return Chart(width, height, (), labels, top, ticks, tuple(markers))


# --- what people add ------------------------------------------------------------------------------------


def ui_context(username: str) -> RunContext:
    """Provenance of what a UI user adds: the run says it came from the Airflow UI and who."""
    from ulid import ULID

    return RunContext(
        run_id=f"ui-{ULID()}",
        run_type="ui",
        triggered_by=f"airflow-ui user {username}",
        tool="evidence airflow-plugin",
    )


def split_controls(value: str | Sequence[str]) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    return [c for item in items for c in re.split(r"[\s,]+", item) if c]


def new_exception(
    *,
    controls: str | Sequence[str],
    owner: str,
    reason: str,
    expires_at: str,
    role: str | None,
    username: str,
    now: datetime,
) -> PreparedRecord:
    """A risk acceptance from the UI's form or JSON body (validated by ``accept_risk``)."""
    from evidence.attestation import accept_risk

    expiry = parse_time(expires_at, "expires_at")
    if expiry is None:
        raise UsageError("expires_at: the exception needs an expiry date")
    return accept_risk(
        split_controls(controls),
        reason.strip(),
        owner.strip(),
        expiry,
        context=ui_context(username),
        role=(role or "").strip() or None,
        observed_at=now,
    )


SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


def document_name(raw: str | None) -> str:
    """An uploaded file's name as stored: its last path component, plain characters only."""
    name = SAFE_NAME.sub("_", Path((raw or "").replace("\\", "/")).name).strip(" .")
    return name[:120] or "document"


def new_attestation(
    *,
    controls: str | Sequence[str],
    statement: str,
    attested_by: str,
    role: str | None,
    in_place: bool,
    valid_until: str | None,
    document: tuple[str, bytes] | None,
    username: str,
    now: datetime,
) -> PreparedRecord:
    """An attestation from the UI's form; the uploaded document (name, bytes) is kept as a blob."""
    from evidence.attestation import MAX_DOCUMENT_BYTES, attest

    until = parse_time(valid_until, "valid_until")
    kwargs: dict[str, Any] = {
        "context": ui_context(username),
        "role": (role or "").strip() or None,
        "status": Status.PASS if in_place else Status.FAIL,
        "valid_until": until,
        "observed_at": now,
    }
    if document is None:
        return attest(split_controls(controls), statement, attested_by.strip(), **kwargs)
    name, data = document
    if len(data) > MAX_DOCUMENT_BYTES:
        raise UsageError(f"the document is over the {MAX_DOCUMENT_BYTES} byte limit")
    with tempfile.TemporaryDirectory(prefix="evidence-upload-") as folder:
        path = Path(folder) / document_name(name)
        path.write_bytes(data)
        return attest(split_controls(controls), statement, attested_by.strip(), document=path, **kwargs)


def append(store: EvidenceStore, prepared: PreparedRecord) -> EvidenceRecord:
    return store.append(prepared).record


Opener = Callable[[], "EvidenceStore"]

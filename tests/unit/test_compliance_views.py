"""The Compliance UI's view models, over a small SQLite store (no Airflow, no web framework)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from evidence.canonical import utcnow
from evidence.catalog import load_catalog
from evidence.errors import UsageError
from evidence.records import Status
from evidence.registry import ATTESTATION, EXCEPTION
from evidence.store import open_store
from plugins.compliance import views
from tests.support.compliance import HOSTILE, PERMISSION, error_control, seed
from tests.support.records import make_prepared

CATALOG = load_catalog()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, Any], datetime]]:
    folder = tmp_path_factory.mktemp("compliance-store")
    now = utcnow()
    store = open_store(f"sqlite:///{folder / 'evidence.db'}", environ={})
    found = seed(store, now)
    yield store, found, now
    store.close()


def test_an_error_record_is_could_not_collect_with_the_source_error_and_permission(seeded) -> None:
    store, found, _ = seeded
    page = views.evidence_page(store, views.EvidenceFilter.parse({"status": "error"}))
    assert [r.id for r in page.rows] == [found["error_id"]]
    row = page.rows[0]
    assert row.could_not_collect and row.status_label == "could not collect"
    assert row.error_code == "AccessDenied" and row.permission == PERMISSION
    assert HOSTILE in row.error_message and HOSTILE in row.target  # raw here: the template escapes
    assert row.observed_at != row.recorded_at  # observed 3 h before it was recorded, shown apart
    assert error_control().id in row.controls


def test_filters_and_pagination(seeded) -> None:
    store, found, _ = seeded
    everything = views.evidence_page(store, views.EvidenceFilter(), per_page=200)
    assert len(everything.rows) == 8 and not everything.has_next  # 6 appended + 2 snapshots
    first = views.evidence_page(store, views.EvidenceFilter(), per_page=3)
    second = views.evidence_page(store, views.EvidenceFilter(), page=2, per_page=3)
    third = views.evidence_page(store, views.EvidenceFilter(), page=3, per_page=3)
    assert first.has_next and second.has_next and not third.has_next
    ids = [r.id for r in (*first.rows, *second.rows, *third.rows)]
    assert ids == [r.id for r in everything.rows]  # newest first, no overlap, nothing skipped
    by_type = views.evidence_page(store, views.EvidenceFilter.parse({"type": EXCEPTION.id}))
    assert len(by_type.rows) == 4 and {r.evidence_type for r in by_type.rows} == {EXCEPTION.id}
    by_control = views.evidence_page(
        store, views.EvidenceFilter.parse({"control": found["superseded"].lower()})
    )
    assert {r.evidence_type for r in by_control.rows} == {EXCEPTION.id, ATTESTATION.id}
    error = store.get(found["error_id"])
    by_source = views.evidence_page(store, views.EvidenceFilter.parse({"source": error.collector}))
    assert [r.id for r in by_source.rows] == [found["error_id"]]
    assert not views.evidence_page(store, views.EvidenceFilter.parse({"source": "nobody"})).rows
    since = views.EvidenceFilter.parse({"since": (error.observed_at + timedelta(minutes=1)).isoformat()})
    assert found["error_id"] not in {r.id for r in views.evidence_page(store, since).rows}
    assert by_type.link(2) == {"type": EXCEPTION.id, "page": "2", "per_page": "50"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"status": "broken"}, "status"),
        ({"since": "yesterday"}, "not a date"),
        ({"since": "2026-01-02", "until": "2026-01-01"}, "before"),
        ({"until": "9999-01-01"}, "out of range"),
        ({"type": "x" * 201}, "longer than"),
    ],
)
def test_bad_filters_are_refused_with_a_message(query: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        views.EvidenceFilter.parse(query)


def test_bad_pages_are_refused(seeded) -> None:
    store, _, _ = seeded
    with pytest.raises(UsageError, match="per_page"):
        views.evidence_page(store, views.EvidenceFilter(), per_page=10_000)
    with pytest.raises(UsageError, match="page"):
        views.parse_int("0", "page", default=1, low=1, high=views.MAX_PAGE)
    with pytest.raises(UsageError, match="whole number"):
        views.parse_int("1e9", "page", default=1, low=1, high=views.MAX_PAGE)


def test_record_detail_reads_api_calls_validation_and_provenance(seeded) -> None:
    store, found, _ = seeded
    detail = views.record_detail(store.get(found["error_id"]))
    assert detail.api_calls == ("s3.GetBucketEncryption: HTTP 403, AccessDenied",)
    assert detail.validation.startswith("JSON Schema")
    assert ("run type", "manual") in detail.provenance
    assert detail.record["id"] == found["error_id"]


def test_posture_view_counts_every_control_of_the_framework_worst_first(seeded) -> None:
    store, found, now = seeded
    posture = views.assess_controls(store, CATALOG, list(CATALOG.controls), now)
    for framework in views.FRAMEWORKS:
        view = views.posture_view(posture, framework)
        expected = sum(1 for c in CATALOG.controls if views.in_framework(c, framework))
        assert sum(n for _, n in view.counts) == len(view.rows) == expected
        ranks = [views.STATE_ORDER.index(r.state) for r in view.rows]
        assert ranks == sorted(ranks)
    rows = {r.control_id: r for r in views.posture_view(posture, "all").rows}
    assert rows[error_control().id].state == "error"
    assert rows[found["soon"]].state == "excepted"
    assert rows[found["expired"]].state == "failing" and "expired" in (rows[found["expired"]].exception or "")


def test_trend_from_snapshots_and_its_chart(seeded) -> None:
    store, _, _ = seeded
    points = views.trend_points(views.iter_snapshots(store), CATALOG, "all")
    assert len(points) == 2 and points[0].at < points[1].at
    assert sum(points[0].counts.values()) == len(CATALOG.controls)
    soc2 = views.trend_points(views.iter_snapshots(store), CATALOG, "soc2")
    assert sum(soc2[0].counts.values()) == sum(1 for c in CATALOG.controls if c.frameworks.soc2)
    chart = views.trend_chart(points)
    assert chart is not None
    assert {s.name for s in chart.series} >= {"error", "excepted", "failing"}
    for series in chart.series:
        coords = [tuple(map(float, p.split(","))) for p in series.points.split()]
        assert len(coords) == 2 and all(0 <= x <= chart.width and 0 <= y <= chart.height for x, y in coords)
    assert views.trend_chart([]) is None


def test_exceptions_newest_per_control_decides_expired_fails_again(seeded) -> None:
    store, found, now = seeded
    records, payloads = views.person_records(store, EXCEPTION.id)
    rows = views.exception_rows(records, payloads, now)
    states = [(r.control_id, r.state, r.owner) for r in rows]
    assert (found["soon"], "active", "Ada Lovelace") in states
    assert (found["expired"], "expired", "Grace Hopper") in states
    assert (found["superseded"], "active", "Alan Turing") in states
    assert (found["superseded"], "superseded", "Grace Hopper") in states


def test_reminders_name_what_expires_within_n_days(seeded) -> None:
    store, found, now = seeded
    posture = views.assess_controls(store, CATALOG, list(CATALOG.controls), now)
    within_week = views.reminders(posture, now, 7)
    assert (found["soon"], "exception") in {(r.control_id, r.kind) for r in within_week}
    assert found["soon"] not in {r.control_id for r in views.reminders(posture, now, 3)}
    far = views.reminders(posture, now, 366)
    assert (found["superseded"], "attestation") in {(r.control_id, r.kind) for r in far}
    with pytest.raises(UsageError, match="days"):
        views.reminders(posture, now, 1000)


def test_creating_an_exception_and_an_attestation_with_a_document(tmp_path: Path) -> None:
    now = utcnow()
    control = next(c.id for c in CATALOG.controls if c.method.type == "attestation")
    soon = (now + timedelta(days=30)).date().isoformat()
    with pytest.raises(UsageError, match="unknown control"):
        views.new_exception(
            controls="NOPE-1",
            owner="a",
            reason="r",
            expires_at=soon,
            role=None,
            username="ops",
            now=now,
        )
    with pytest.raises(UsageError, match="already have expired"):
        views.new_exception(
            controls=control,
            owner="a",
            reason="r",
            expires_at="2001-01-01",
            role=None,
            username="ops",
            now=now,
        )
    with pytest.raises(UsageError, match="expiry"):
        views.new_exception(
            controls=control, owner="a", reason="r", expires_at="", role=None, username="ops", now=now
        )
    with pytest.raises(UsageError, match="at most a year"):
        views.new_exception(
            controls=control,
            owner="a",
            reason="r",
            expires_at=(now + timedelta(days=400)).date().isoformat(),
            role=None,
            username="ops",
            now=now,
        )
    with open_store(f"sqlite:///{tmp_path / 'evidence.db'}", environ={}) as store:
        prepared = views.new_exception(
            controls=f"{control}, ",
            owner="Ada",
            reason="booked",
            role="CISO",
            username="ops",
            now=now,
            expires_at=(now + timedelta(days=30)).date().isoformat(),
        )
        saved = views.append(store, prepared)
        assert saved.provenance.triggered_by == "airflow-ui user ops" and saved.provenance.run_type == "ui"
        assert saved.attested_by == "Ada" and saved.control_ids == (control,)
        attestation = views.new_attestation(
            controls=[control],
            statement="signed off",
            attested_by="Ada",
            role=None,
            in_place=False,
            valid_until=None,
            document=("../../etc/pass wd<x>.pdf", b"%PDF-1.4 test"),
            username="ops",
            now=now,
        )
        saved = views.append(store, attestation)
        assert saved.status == Status.FAIL
        (doc,) = saved.attachments
        assert doc.name == "pass wd_x_.pdf" and store.read_blob(doc.sha256) == b"%PDF-1.4 test"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("report.pdf", "report.pdf"),
        ("..\\..\\x.txt", "x.txt"),
        ("/", "document"),
        ("..", "document"),
        (None, "document"),
        ("a;rm -rf$(x).doc", "a_rm -rf_x_.doc"),
    ],
)
def test_document_names_are_plain(raw: str | None, stored: str) -> None:
    assert views.document_name(raw) == stored


def _drill(kind: str, rto: float | None, target: float, observed: datetime) -> views.DrillRow:
    from evidence.records import seal

    prepared = make_prepared(0, observed_at=observed, status=Status.PASS)
    record = seal(
        prepared.draft.model_copy(update={"evidence_type": f"drill.{kind}"}), seq=0, recorded_at=observed
    )
    payload = {
        "rto_seconds": rto,
        "rpo_seconds": 12.5,
        "rto_target_seconds": target,
        "rpo_target_seconds": 60,
        "steps": [{"name": "restore", "seconds": 3.2, "detail": HOSTILE}, "verify"],
    }
    return views.drill_row(record, payload)


def test_drill_rows_and_charts() -> None:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    met = _drill("restore", 30.0, 60.0, at)
    missed = _drill("failover", 90.0, 60.0, at + timedelta(days=1))
    assert met.kind == "restore" and met.rto_met and met.rpo_met
    assert missed.rto_met is False and met.steps[1] == {"name": "verify"}
    assert met.steps[0]["detail"] == HOSTILE
    chart = views.drill_chart([missed, met], "rto")
    assert chart is not None and len(chart.markers) == 2
    first, second = chart.markers  # oldest first
    assert (
        first["colour"] == views.STATE_COLOURS["passing"]
        and second["colour"] == views.STATE_COLOURS["failing"]
    )
    assert second["h"] > first["h"] and first["target_y"] == second["target_y"]
    unknown = _drill("replication", None, 60.0, at)
    assert unknown.rto_met is None and views.drill_chart([unknown], "rto") is None
    in_rows = views.drill_row(unknown_record(at), {"rows": [{"rto_seconds": 5, "rto_target_seconds": 10}]})
    assert in_rows.rto_seconds == 5.0 and in_rows.rto_met


def unknown_record(at: datetime) -> Any:
    from evidence.records import seal

    prepared = make_prepared(1, observed_at=at)
    return seal(
        prepared.draft.model_copy(update={"evidence_type": "drill.restore.postgres"}), seq=1, recorded_at=at
    )


def test_frameworks_and_times_are_parsed_strictly() -> None:
    assert views.parse_framework(None) == "all" and views.parse_framework("SOC2") == "soc2"
    with pytest.raises(UsageError, match="framework"):
        views.parse_framework("pci")
    assert views.parse_time("2026-01-02", "x") == datetime(2026, 1, 2, tzinfo=UTC)
    assert views.parse_time("2026-01-02T03:04:05+02:00", "x") == datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert views.parse_time("", "x") is None

"""The Sentry family against the local HTTP double of the Sentry Web API: the sample estate (compliant
and non-compliant projects and teams), cursor pagination, the token scopes `evidence policy sentry`
prints, a missing scope, a rejected token, 429 with Retry-After (waited, and bounded), malformed JSON,
and the canary: an event sent with sentry-sdk to a project's DSN, confirmed through the API."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors.core.runner import collect_all
from collectors.sentry.canary import confirm_canary, send_canary
from collectors.sentry.demo import ALL_SCOPES, DSN_SECRET, SentryDouble, sample_estate
from collectors.sentry.family import SENTRY, SentryClient, SentryRecorder
from evidence.records import PreparedRecord, RunContext

pytestmark = pytest.mark.integration
CANARY = "sentry.canary.delivery"
ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {
    "sentry.org.security": ({"acme"}, set()),
    "sentry.org.teams": ({"backend"}, {"ghost"}),
    "sentry.projects.client_keys": ({"api", "svc-0000", "svc-0001", "svc-0002"}, {"web"}),
    "sentry.projects.alert_rules": ({"api", "svc-0000", "svc-0001", "svc-0002"}, {"web"}),
    "sentry.projects.grouping": ({"api", "svc-0000", "svc-0001", "svc-0002"}, {"web"}),
}


@pytest.fixture(scope="module")
def double() -> Iterator[SentryDouble]:
    with SentryDouble(sample_estate(extra_projects=3), page_size=2) as running:
        yield running


def collect(
    double: SentryDouble, token: str, *, run_gx: bool = False, **extra: Any
) -> dict[str, PreparedRecord]:
    settings = {"url": double.url, "organization": "acme", "token": token, **extra}
    config = SENTRY.configure(SENTRY.connection.resolve(settings, environ={}))
    records = collect_all(SENTRY, config, RunContext(run_id="sentry-test"), run_gx=run_gx)
    return {r.draft.evidence_type: r for r in records}


def rows(record: PreparedRecord) -> dict[str, dict[str, Any]]:
    return {row["resource"]: row for row in json.loads(record.payload)["rows"]}


def test_every_type_judges_the_sample_estate_across_pages(double: SentryDouble) -> None:
    records = collect(double, double.token(), run_gx=True)
    assert set(records) == set(EXPECTED)
    for type_id, (passing, failing) in EXPECTED.items():
        record = records[type_id]
        judged = rows(record)
        assert {k for k, r in judged.items() if r["status"] == "pass"} == passing, type_id
        assert {k for k, r in judged.items() if r["status"] == "fail"} == failing, type_id
        assert record.draft.status == ("fail" if failing else "pass"), (type_id, record.draft.reason)
        assert record.draft.validation.schema_valid
    # 5 projects at 2 per page: 3 pages, each a logged call with its status and request id.
    calls = [
        c
        for c in records["sentry.projects.grouping"].draft.provenance.api_calls
        if c.operation == "GET /api/0/organizations/{org}/projects/"
    ]
    assert sum(c.count for c in calls) == 3 and all(c.http_status == 200 and c.request_id for c in calls)
    alerts = rows(records["sentry.projects.alert_rules"])["api"]
    assert alerts["action_targets"] == "Team:backend, slack:#alerts-api" and alerts["metric_rules"] == 1
    # The legacy secret half of a DSN is in the keys answer, never in evidence.
    for record in records.values():
        assert DSN_SECRET.encode() not in record.payload
        assert all(DSN_SECRET.encode() not in blob for blob in record.attachments.values())


def test_the_printed_scopes_are_enough(double: SentryDouble) -> None:
    assert "event:read" in json.loads(SENTRY.policy())["token_scopes"]  # the canary reads its event
    scopes = json.loads(SENTRY.policy(list(EXPECTED)))["token_scopes"]
    assert set(scopes) <= ALL_SCOPES and "event:read" not in scopes
    records = collect(double, double.token(frozenset(scopes)))
    assert "error" not in {r.draft.status for r in records.values()}


def test_a_missing_scope_is_an_error_record_naming_it(double: SentryDouble) -> None:
    records = collect(double, double.token(ALL_SCOPES - {"alerts:read"}))
    alerts = records["sentry.projects.alert_rules"].draft
    assert alerts.status == "error" and alerts.error is not None
    assert alerts.error.code == "Forbidden" and alerts.error.permission == "alerts:read"
    assert "needs the alerts:read scope" in alerts.reason
    assert [t for t, r in records.items() if r.draft.status == "error"] == ["sentry.projects.alert_rules"]


def test_a_rejected_token_is_an_error_record_for_every_type(double: SentryDouble) -> None:
    records = collect(double, "sntrys_expired")
    assert {r.draft.status for r in records.values()} == {"error"}
    assert {r.draft.error.code for r in records.values() if r.draft.error} == {"Unauthorized"}
    assert "sntrys_expired" not in json.dumps([r.draft.model_dump(mode="json") for r in records.values()])


def test_429_is_waited_out_for_retry_after_and_bounded(double: SentryDouble) -> None:
    teams = "/api/0/organizations/acme/teams/"
    double.throttle[teams] = (2, "1")
    started = time.monotonic()
    records = collect(double, double.token())
    assert time.monotonic() - started >= 2  # waited Retry-After twice
    teams_record = records["sentry.org.teams"].draft
    assert teams_record.status == "fail"  # collected after the waits (ghost has no members)
    statuses = [c.http_status for c in teams_record.provenance.api_calls]
    assert 429 in statuses and 200 in statuses
    # A Retry-After longer than the bound is not waited for: an error record, at once.
    double.throttle[teams] = (5, "3600")
    started = time.monotonic()
    records = collect(double, double.token(), max_retry_wait=5)
    assert time.monotonic() - started < 60
    throttled = records["sentry.org.teams"].draft
    assert throttled.status == "error" and throttled.error is not None and throttled.error.code == "Throttled"
    double.throttle.pop(teams)


def test_malformed_json_is_an_error_record(double: SentryDouble) -> None:
    stats = "/api/0/organizations/acme/stats_v2/"
    double.malformed.add(stats)
    try:
        records = collect(double, double.token())
    finally:
        double.malformed.discard(stats)
    keys = records["sentry.projects.client_keys"].draft
    assert keys.status == "error" and keys.error is not None and keys.error.code == "MalformedResponse"
    assert records["sentry.projects.grouping"].draft.status == "fail"  # the others are still judged


def test_the_canary_event_arrives(double: SentryDouble) -> None:
    project = double.estate.projects[0]
    event_id = send_canary(double.dsn(project))
    config = SENTRY.configure({"url": double.url, "organization": "acme", "token": double.token()})
    result = confirm_canary(SentryClient.build(config), SentryRecorder(), project.slug, event_id, timeout=10)
    assert result.arrived, result.detail
    assert double.received[event_id]["tags"]["canary"] == "true"
    missing = confirm_canary(
        SentryClient.build(config), SentryRecorder(), project.slug, "0" * 32, timeout=0.5
    )
    assert not missing.arrived and "not arrived" in missing.detail


def test_the_demo_estate_gives_every_type_a_pass_or_fail_as_seeded() -> None:
    demo = SENTRY.demo()
    assert demo is not None
    with demo as estate:
        config = SENTRY.configure(SENTRY.connection.resolve(estate.settings, environ={}))
        records = collect_all(SENTRY, config, RunContext(run_id="sentry-demo"), run_gx=True)
        expectations = estate.extra["expectations"]
        assert {r.draft.evidence_type for r in records} == set(expectations) == {*EXPECTED, CANARY}
        for record in records:
            draft = record.draft
            assert draft.status == "fail", (draft.evidence_type, draft.reason)  # each has a failing row
            assert draft.validation.schema_valid, draft.validation.schema_errors
            judged = rows(record)
            expected = expectations[draft.evidence_type]
            assert {k for k, r in judged.items() if r["status"] == "pass"} == expected["passing"]
            assert {k for k, r in judged.items() if r["status"] == "fail"} == expected["failing"]
            assert all(k in draft.reason for k in expected["failing"])
            assert str(estate.settings["token"]).encode() not in record.payload


def test_the_canary_source_runs_only_for_named_projects_and_judges_each(double: SentryDouble) -> None:
    config = SENTRY.configure({"url": double.url, "organization": "acme", "token": double.token()})
    assert "sentry.canary" not in {u.source for u in SENTRY.plan(config)}  # sends nothing unasked
    records = collect(double, double.token(), run_gx=True, canary_projects=["api", "web", "nope"])
    canary = records[CANARY].draft
    judged = rows(records[CANARY])
    assert judged["api"]["status"] == "pass" and judged["api"]["arrived"] is True
    assert double.received[judged["api"]["event_id"]]["tags"]["canary"] == "true"
    assert judged["web"]["status"] == "fail" and "no enabled client key" in judged["web"]["reason"]
    assert judged["nope"]["status"] == "error" and "HTTP404" in judged["nope"]["reason"]
    assert canary.status == "fail" and canary.validation.schema_valid  # a fail row outranks an error
    assert all(
        (r["dsn_host"] or "") == "127.0.0.1" and double.estate.projects[0].public_key not in json.dumps(r)
        for r in judged.values()
        if r["dsn_host"]
    )
    # A token that cannot read events sends the canary but cannot confirm it: an error naming the scope.
    denied = collect(double, double.token(ALL_SCOPES - {"event:read"}), canary_projects=["api"])
    row = rows(denied[CANARY])["api"]
    assert row["status"] == "error" and "event:read" in row["reason"]


def test_evidence_sentry_canary_appends_a_verifiable_record(tmp_path: Any) -> None:
    demo = SENTRY.demo()
    assert demo is not None
    with demo as estate:
        settings = estate.settings
        env = {
            **os.environ,
            "EVIDENCE_SENTRY_URL": settings["url"],
            "EVIDENCE_SENTRY_ORG": settings["organization"],
            "EVIDENCE_SENTRY_TOKEN": settings["token"],
            "EVIDENCE_STORE_URL": f"sqlite:///{tmp_path / 'evidence.db'}",
        }

        def evidence(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(ROOT / ".venv/bin/evidence"), *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )

        # One call, two projects: api's event arrives (pass), web has no enabled DSN (fail): exit 1.
        ran = evidence("sentry", "canary", "--project", "api", "-p", "web", "--timeout", "5", "--json")
        assert ran.returncode == 1, ran.stderr
        answer = json.loads(ran.stdout)
        assert answer["status"] == "fail" and "web" in answer["reason"]
        judged = {row["resource"]: row for row in answer["rows"]}
        assert judged["api"]["status"] == "pass" and judged["api"]["arrived"] is True
        assert judged["api"]["event_id"] in estate.extra["double"].received
        assert judged["web"]["status"] == "fail" and judged["web"]["arrived"] is False
        assert settings["token"] not in ran.stdout + ran.stderr
        verified = evidence("verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr

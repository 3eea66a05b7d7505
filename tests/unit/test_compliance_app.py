"""The Compliance web app's own rules, in process: role checks, the CSRF rules for browser requests,
escaping, clear 4xx answers. Airflow's user dependency is replaced by one that reads the same
credentials (bearer header, else the ``_token`` cookie) from a fixed table; the real one is exercised
against the api-server in tests/e2e/test_compliance_ui.py."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "false")

from fastapi import HTTPException, Request
from fastapi.testclient import TestClient

from evidence.canonical import utcnow
from evidence.store import open_store
from tests.support.compliance import HOSTILE, seed


class User:
    def __init__(self, name: str, role: str) -> None:
        self.name, self.role = name, role

    def get_name(self) -> str:
        return self.name


USERS = {"tok-viewer": User("auditor", "viewer"), "tok-op": User("ops", "op"), "tok-none": User("x", "")}


class Manager:
    """Grants the custom view ``Compliance``: GET to any role, POST to op (as FAB grants can_create)."""

    def is_authorized_custom_view(self, *, method: str, resource_name: str, user: User) -> bool:
        assert resource_name == "Compliance"
        if not user.role:
            return False
        return method == "GET" or user.role == "op"

    def get_url_login(self, **kwargs: Any) -> str:
        from urllib.parse import urlencode

        return "/auth/login?" + urlencode({"next": kwargs["next_url"]})


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    from airflow.api_fastapi.core_api.security import get_user

    from plugins.compliance import app as app_module

    folder = tmp_path_factory.mktemp("compliance-app")
    store = open_store(f"sqlite:///{folder / 'evidence.db'}", environ={})
    found = seed(store, utcnow())
    found["drill_id"] = store.append(drill_record()).record.id

    async def fake_user(request: Request) -> User:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else request.cookies.get("_token")
        if not token:
            raise HTTPException(401, "Not authenticated")
        if token not in USERS:
            raise HTTPException(403, "Invalid JWT token")
        return USERS[token]

    original = app_module._auth_manager
    app_module._auth_manager = Manager  # type: ignore[assignment]
    app = app_module.create_app(lambda: store)
    app.dependency_overrides[get_user] = fake_user
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client, found
    app_module._auth_manager = original
    store.close()


def drill_record() -> Any:
    """A restore drill that could not finish (an ``error`` record carries its figures as far as it got)."""
    from evidence.canonical import canonical_bytes, sha256_hex
    from evidence.records import PreparedRecord, SourceError, Status
    from tests.support.records import make_prepared

    payload = canonical_bytes(
        {
            "evidence_type": "drill.restore.postgres",
            "rto_seconds": 95.5,
            "rpo_seconds": 30,
            "rto_target_seconds": 60,
            "rpo_target_seconds": 3600,
            "steps": [{"name": "restore", "seconds": 95.5, "detail": HOSTILE}],
        }
    )
    prepared = make_prepared(
        0,
        seed="drill",
        status=Status.ERROR,
        error=SourceError(code="Timeout", message="verify timed out"),
        observed_at=utcnow() - timedelta(minutes=30),
    )
    draft = prepared.draft.model_copy(
        update={
            "evidence_type": "drill.restore.postgres",
            "payload_sha256": sha256_hex(payload),
            "payload_size": len(payload),
        }
    )
    return PreparedRecord(draft=draft, payload=payload)


def test_drill_history_shows_rto_against_target(client) -> None:
    http, found = client
    html = http.get("/drills", headers=bearer("tok-viewer")).text
    assert found["drill_id"] in html and "95.5 s" in html and "missed" in html
    assert "<rect" in html and "&lt;script&gt;" in html and HOSTILE not in html


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


PAGES = [
    "/",
    "/?framework=dr",
    "/evidence",
    "/evidence?status=error",
    "/exceptions",
    "/reminders",
    "/attest",
    "/drills",
    "/bundle",
    "/api/posture",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_needs_a_user(client, path: str) -> None:
    http, _ = client
    assert http.get(path).status_code == 401
    assert http.get(path, headers=bearer("forged")).status_code == 403
    assert http.get(path, headers=bearer("tok-none")).status_code == 403
    answer = http.get(path, headers=bearer("tok-viewer"))
    assert answer.status_code == 200, answer.text
    if path != "/api/posture":
        assert "script-src" not in answer.headers["content-security-policy"]  # no script allowed at all
        assert "<script" not in answer.text


def test_a_browser_without_a_session_goes_to_the_login_page_and_back(client) -> None:
    http, _ = client
    answer = http.get("/evidence?status=error", headers={"Accept": "text/html"}, follow_redirects=False)
    assert answer.status_code == 303
    assert (
        answer.headers["location"] == "/auth/login?next=http%3A%2F%2Ftestserver%2Fevidence%3Fstatus%3Derror"
    )
    assert http.get("/evidence", headers={"Accept": "application/json"}).status_code == 401


def test_mutations_need_op_and_a_valid_body(client) -> None:
    http, found = client
    body = {
        "controls": found["expired"],
        "owner": "Ada",
        "reason": "booked",
        "expires_at": (utcnow() + timedelta(days=30)).date().isoformat(),
    }
    assert http.post("/exceptions", json=body).status_code == 401
    assert http.post("/exceptions", json=body, headers=bearer("tok-viewer")).status_code == 403
    assert (
        http.post("/attest", data={"controls": found["expired"]}, headers=bearer("tok-viewer")).status_code
        == 403
    )
    created = http.post("/exceptions", json=body, headers=bearer("tok-op"))
    assert created.status_code == 201, created.text
    assert created.json()["control_ids"] == [found["expired"]]
    bad = http.post("/exceptions", json={**body, "controls": "NOPE-1"}, headers=bearer("tok-op"))
    assert bad.status_code == 400 and "unknown control" in bad.json()["detail"]
    assert http.post("/exceptions", json=[1], headers=bearer("tok-op")).status_code == 400
    typed = http.post("/exceptions", json={**body, "owner": {"$ne": 1}}, headers=bearer("tok-op"))
    assert typed.status_code == 400 and "owner: expected text" in typed.text
    listed = http.post("/exceptions", json={**body, "controls": [found["expired"]]}, headers=bearer("tok-op"))
    assert listed.status_code == 201
    broken = http.post(
        "/exceptions", content=b"{", headers={**bearer("tok-op"), "Content-Type": "application/json"}
    )
    assert broken.status_code == 400


def _token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert match, "the form carries no CSRF token"
    return match.group(1)


def test_browser_forms_need_same_origin_and_the_session_token(client) -> None:
    http, found = client
    http.cookies.set("_token", "tok-op")
    try:
        token = _token(http.get("/exceptions").text)
        form = {
            "controls": found["expired"],
            "owner": "Ada",
            "reason": "via the form",
            "expires_at": (utcnow() + timedelta(days=30)).date().isoformat(),
        }
        same = {"Origin": "http://testserver"}
        assert http.post("/exceptions", data=form, headers=same).status_code == 403  # no token
        assert (
            http.post("/exceptions", data={**form, "csrf_token": "0" * 64}, headers=same).status_code == 403
        )
        evil = {"Origin": "https://evil.example"}
        assert http.post("/exceptions", data={**form, "csrf_token": token}, headers=evil).status_code == 403
        assert http.post("/exceptions", data={**form, "csrf_token": token}).status_code == 403  # no origin
        done = http.post(
            "/exceptions", data={**form, "csrf_token": token}, headers=same, follow_redirects=False
        )
        assert done.status_code == 303 and "/exceptions?created=" in done.headers["location"]
        assert "exception recorded" in http.get(done.headers["location"]).text
        referer = {"Referer": "http://testserver/compliance/attest"}
        attest = http.post(
            "/attest",
            data={
                "controls": found["expired"],
                "statement": "signed",
                "attested_by": "Ada",
                "csrf_token": token,
            },
            files={"document": ("../minutes.txt", b"minutes", "text/plain")},
            headers=referer,
            follow_redirects=False,
        )
        assert attest.status_code == 303, attest.text
        record_id = attest.headers["location"].rsplit("=", 1)[1]
        page = http.get(f"/evidence/{record_id}").text
        link = re.search(r'href="(/evidence/[0-9A-Z]{26}/attachments/[0-9a-f]{64})"', page)
        assert link and ">minutes.txt<" in page
        download = http.get(link.group(1))
        assert (
            download.content == b"minutes" and download.headers["content-type"] == "application/octet-stream"
        )
        assert download.headers["content-disposition"] == 'attachment; filename="minutes.txt"'
        assert http.get(f"/evidence/{record_id}/attachments/{'0' * 64}").status_code == 404
        problem = http.post(
            "/attest", data={"controls": "", "statement": "", "csrf_token": token}, headers=same
        )
        assert problem.status_code == 400 and "control" in problem.text
    finally:
        http.cookies.clear()


def test_evidence_text_is_escaped_everywhere(client) -> None:
    http, found = client
    escaped = "&lt;script&gt;window.__pwned = 1&lt;/script&gt;"
    for path in ["/evidence", f"/evidence/{found['error_id']}", "/exceptions", "/reminders?days=30", "/"]:
        html = http.get(path, headers=bearer("tok-viewer")).text
        assert HOSTILE not in html and "<img src=x" not in html, path
        if path != "/":
            assert escaped in html, path
    page = http.get("/evidence?status=error", headers=bearer("tok-viewer")).text
    assert "could not collect" in page and "s3:GetEncryptionConfiguration" in page


@pytest.mark.parametrize(
    ("path", "code", "text"),
    [
        ("/evidence?status=nope", 400, "status"),
        ("/evidence?page=0", 400, "page"),
        ("/evidence?per_page=100000", 400, "per_page"),
        ("/evidence/01ARZ3NDEKTSV4RRFFQ69G5FAV", 404, "no record"),
        ("/evidence/..%2F..%2Fetc%2Fpasswd", 404, "Not Found"),
        ("/evidence/%3Cscript%3E", 404, "not a record id"),
        ("/controls/NOPE-1", 400, "unknown control"),
        ("/reminders?days=-1", 400, "days"),
        ("/?framework=pci", 400, "framework"),
    ],
)
def test_bad_requests_get_clear_4xx(client, path: str, code: int, text: str) -> None:
    http, _ = client
    answer = http.get(path, headers=bearer("tok-viewer"))
    assert answer.status_code == code and text in answer.text


def test_the_control_page_shows_its_seed_lines_and_latest_record(client) -> None:
    from tests.support.compliance import error_control

    http, _ = client
    control = error_control()
    html = http.get(f"/controls/{control.id}", headers=bearer("tok-viewer")).text
    assert control.sources[0].file in html and control.owner_role in html
    assert "s3.GetBucketEncryption: HTTP 403, AccessDenied" in html and "could not collect" in html


def test_bundle_requests_are_checked_before_anything_is_written(client, monkeypatch) -> None:
    from plugins.compliance import app as app_module

    http, _ = client
    monkeypatch.setattr(app_module, "bundle_module", lambda: None)
    assert (
        http.get(
            "/bundle/download?framework=soc2&from=2026-01-01&to=2026-02-01", headers=bearer("tok-viewer")
        ).status_code
        == 501
    )
    monkeypatch.setattr(app_module, "bundle_module", lambda: pytest.fail("nothing may be written"))
    for query, text in [
        ("framework=pci&from=2026-01-01&to=2026-02-01", "framework"),
        ("framework=all&from=2026-01-01&to=2026-02-01", "soc2, gdpr or dr"),
        ("framework=soc2&from=2026-02-01&to=2026-01-01", "before"),
        ("framework=soc2&from=2001-01-01&to=2026-01-01", "at most"),
        ("framework=soc2&from=2026-01-01", "required"),
        ("framework=soc2&from=2026-01-01&to=2199-01-01", "future"),
        ("framework=soc2&from=../../etc&to=2026-01-01", "not a date"),
    ]:
        monkeypatch.setattr(app_module, "bundle_module", lambda: object())
        answer = http.get(f"/bundle/download?{query}", headers=bearer("tok-viewer"))
        assert answer.status_code == 400 and text in answer.text, query


def test_a_bundle_streams_as_a_zip(client, tmp_path) -> None:
    bundle = pytest.importorskip("evidence.bundle")
    http, _ = client
    today = utcnow().date()
    answer = http.get(
        f"/bundle/download?framework=soc2&from={today - timedelta(days=30)}&to={today + timedelta(days=1)}",
        headers=bearer("tok-viewer"),
    )
    assert answer.status_code == 200, answer.text[:500]
    assert answer.headers["content-type"] == "application/zip"
    assert answer.content[:2] == b"PK"
    assert "attachment" in answer.headers["content-disposition"]
    assert bundle is not None

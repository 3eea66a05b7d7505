"""The Compliance plugin inside a real Airflow api-server (the only component it needs; one start-up
for the module), with the simple auth manager's users admin, auditor (viewer) and ops (op), and a
seeded evidence store holding an ``error`` record whose source text is hostile markup.

- ``/api/v2/plugins`` lists the plugin, its app under ``/compliance`` and its UI entries;
- every Compliance page refuses a request without a token (and with a forged one);
- the auditor reads but cannot accept a risk or attest; ops can;
- headless Chromium (Debian's ``chromium``, driven by Playwright) logs in through Airflow's login page,
  opens posture, a control, the evidence browser (the hostile text shown as text, no script run, the
  error shown as could-not-collect), creates an exception and an attestation with a document through
  the forms, and sees the section inside the Airflow UI. Screenshots go to
  ``.tmp/screenshots/compliance-ui/`` (git-ignored), or ``$EVIDENCE_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from evidence.canonical import utcnow
from evidence.store import open_store
from plugins.orchestration.local import LocalAirflow
from tests.support.compliance import HOSTILE, PERMISSION, seed

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(1200)]

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
PAGES = ["/", "/evidence", "/exceptions", "/reminders", "/attest", "/drills", "/bundle", "/api/posture"]


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalAirflow, dict[str, Any], str]]:
    root = tmp_path_factory.mktemp("compliance-ui")
    store_url = f"sqlite:///{root / 'store' / 'evidence.db'}"
    with open_store(store_url, environ={}) as store:
        found = seed(store, utcnow())
    airflow = LocalAirflow(home=root / "airflow", env={"EVIDENCE_STORE_URL": store_url})
    env = airflow.environment()
    airflow.migrate(env)
    airflow._spawn("api-server", ["api-server", "--port", str(airflow.port), "--host", "127.0.0.1"], env)
    try:
        airflow.wait_healthy()
        yield airflow, found, store_url
    finally:
        airflow.stop()


def call(
    airflow: LocalAirflow, method: str, path: str, *, token: str | None = None, body: Any = None
) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(airflow.url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("Accept", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_api_lists_the_plugin(deployment) -> None:
    airflow, _, _ = deployment
    plugins = airflow.request("GET", "/api/v2/plugins")["plugins"]
    (plugin,) = [p for p in plugins if p["name"] == "compliance"]
    assert [a["url_prefix"] for a in plugin["fastapi_apps"]] == ["/compliance"]
    views = {v["name"]: v for v in plugin["external_views"]}
    assert views["Posture"]["href"] == "/compliance/" and views["Posture"]["category"] == "Compliance"
    assert {"Evidence", "Exceptions", "Reminders", "Attest", "DR drills", "Auditor bundle"} <= set(views)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_refuses_a_request_without_a_user(deployment, path: str) -> None:
    airflow, _, _ = deployment
    assert call(airflow, "GET", "/compliance" + path)[0] == 401
    assert call(airflow, "GET", "/compliance" + path, token="not.a.jwt")[0] in (401, 403)
    status, _ = call(airflow, "GET", "/compliance" + path, token=airflow.login("auditor"))
    assert status == 200


def test_the_auditor_reads_but_cannot_change_anything_and_ops_can(deployment) -> None:
    airflow, found, store_url = deployment
    body = {
        "controls": found["expired"],
        "owner": "Grace Hopper",
        "reason": "migration booked",
        "expires_at": (utcnow() + timedelta(days=60)).date().isoformat(),
    }
    assert call(airflow, "POST", "/compliance/exceptions", body=body)[0] == 401
    auditor = airflow.login("auditor")
    assert call(airflow, "POST", "/compliance/exceptions", token=auditor, body=body)[0] == 403
    assert call(airflow, "POST", "/compliance/attest", token=auditor, body={})[0] == 403
    status, raw = call(airflow, "POST", "/compliance/exceptions", token=airflow.login("ops"), body=body)
    assert status == 201, raw
    created = json.loads(raw)
    with open_store(store_url, environ={}, create=False) as store:
        record = store.get(created["id"])
    assert record.attested_by == "Grace Hopper" and record.control_ids == (found["expired"],)
    assert record.provenance.triggered_by == "airflow-ui user ops"
    status, raw = call(airflow, "GET", "/compliance/exceptions", token=auditor)
    assert status == 200 and b"migration booked" in raw


def _screenshots() -> Path:
    wanted = os.environ.get("EVIDENCE_SCREENSHOTS")
    folder = Path(wanted) if wanted else REPO / ".tmp" / "screenshots" / "compliance-ui"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def log_in(page: Any, airflow: LocalAirflow, user: str, *, navigate: bool = True) -> None:
    """Through Airflow's own login page (the simple auth manager's form)."""
    if navigate:
        page.goto(f"{airflow.url}/auth/login/")
    page.wait_for_load_state("networkidle")
    page.locator("input[name=username]").fill(user)
    page.locator("input[name=password]").fill(airflow.passwords[user])
    page.locator("button[type=submit]").click()
    page.wait_for_url(lambda url: "/auth/login" not in url, timeout=60_000)


def test_a_browser_logs_in_and_works_the_compliance_pages(deployment, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail("chromium is not installed (scripts/bootstrap installs Debian's chromium)")
    from playwright.sync_api import expect, sync_playwright

    airflow, found, _ = deployment
    shots = _screenshots()
    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            # Not logged in: the Compliance page sends the browser to Airflow's login page, and back.
            page.goto(f"{airflow.url}/compliance/")
            assert "/auth/login" in page.url
            log_in(page, airflow, "ops", navigate=False)
            page.wait_for_url(f"{airflow.url}/compliance/", timeout=60_000)
            expect(page.locator("h1")).to_contain_text("Posture")
            expect(page.locator("header")).to_contain_text("ops")
            page.screenshot(path=str(shots / "posture.png"), full_page=True)

            page.goto(f"{airflow.url}/compliance/evidence?status=error")
            cell = page.locator("tr.cnc").first
            expect(cell).to_contain_text("could not collect")
            expect(cell).to_contain_text(PERMISSION)
            expect(cell).to_contain_text(HOSTILE)  # shown as text, not markup
            assert page.locator("tr.cnc img").count() == 0
            assert page.evaluate("window.__pwned") is None
            page.screenshot(path=str(shots / "evidence-error.png"), full_page=True)

            cell.locator("a").first.click()
            expect(page.locator("dl")).to_contain_text("AccessDenied")
            assert page.evaluate("window.__pwned") is None
            page.screenshot(path=str(shots / "record.png"), full_page=True)

            page.goto(f"{airflow.url}/compliance/")
            page.locator("tr", has=page.locator(".s-error")).first.locator("a").first.click()
            expect(page.locator("h1")).to_contain_text("error")
            expect(page.locator("main")).to_contain_text("Seed checklist lines")
            page.screenshot(path=str(shots / "control.png"), full_page=True)

            page.goto(f"{airflow.url}/compliance/exceptions")
            page.locator("input[name=controls]").fill(found["soon"])
            page.locator("input[name=owner]").fill("Ada Lovelace")
            page.locator("textarea[name=reason]").fill("renewed <b>in the browser</b>")
            page.locator("input[name=expires_at]").fill((utcnow() + timedelta(days=45)).date().isoformat())
            page.locator("form button").click()
            expect(page.locator(".notice")).to_contain_text("exception recorded")
            expect(page.locator("table")).to_contain_text("renewed <b>in the browser</b>")
            page.screenshot(path=str(shots / "exceptions.png"), full_page=True)

            document = tmp_path / "minutes.txt"
            document.write_text("training minutes")
            page.goto(f"{airflow.url}/compliance/attest")
            page.locator("input[name=controls]").fill(found["superseded"])
            page.locator("textarea[name=statement]").fill("Team trained, minutes attached")
            page.locator("input[name=document]").set_input_files(str(document))
            page.locator("form button").click()
            expect(page.locator(".notice")).to_contain_text("attestation recorded")
            page.screenshot(path=str(shots / "attest.png"), full_page=True)

            # The section inside Airflow's UI (an external view: the page in an iframe).
            page.goto(f"{airflow.url}/plugin/compliance")
            frame = page.frame_locator("iframe")
            expect(frame.locator("h1")).to_contain_text("Posture", timeout=60_000)
            page.screenshot(path=str(shots / "airflow-ui.png"), full_page=True)
            assert page.evaluate("window.__pwned") is None

            # The auditor (viewer) gets no form to change anything.
            auditor = browser.new_context().new_page()
            log_in(auditor, airflow, "auditor")
            auditor.goto(f"{airflow.url}/compliance/exceptions")
            expect(auditor.locator("header")).to_contain_text("auditor (read-only)")
            expect(auditor.locator("main")).to_contain_text("needs the Op or Admin role")
            assert auditor.locator("form[method=post]").count() == 0
        finally:
            browser.close()
    assert not dialogs
    print(f"screenshots: {shots}")


@pytest.mark.skipif(
    importlib.util.find_spec("evidence.bundle") is None,
    reason="evidence.bundle is not installed (bundles branch)",
)
def test_the_auditor_downloads_a_bundle_and_it_verifies(deployment, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    airflow, _, _ = deployment
    today = utcnow().date()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            log_in(page, airflow, "auditor")
            page.goto(f"{airflow.url}/compliance/bundle")
            page.locator("select[name=framework]").select_option("soc2")
            page.locator("input[name=from]").fill((today - timedelta(days=30)).isoformat())
            page.locator("input[name=to]").fill((today + timedelta(days=1)).isoformat())
            with page.expect_download(timeout=300_000) as download:
                page.locator("form button").click()
            path = tmp_path / "bundle.zip"
            download.value.save_as(path)
        finally:
            browser.close()
    assert zipfile.is_zipfile(path)
    verified = subprocess.run(
        [str(Path(sys.executable).parent / "evidence"), "bundle", "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr

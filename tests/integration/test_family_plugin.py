"""A collector family plugged in only through the ``evidence.collectors`` entry point.

The widgets family (``tests/support/widget_family``: a tiny HTTP source with its own permission
model, schemas and suites) is not installed with the project: the test writes a dist-info folder
naming its entry point and puts it on PYTHONPATH for the ``evidence`` processes it runs. The core then
lists it, prints its policy, collects it with ``evidence collect widgets`` and runs its demo, without
a line of the core naming it (see tests/unit/test_import_boundaries.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence import registry
from tests.support.widget_family import install_entry_point
from tests.support.widget_family.server import WidgetServer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EVIDENCE = str(Path(sys.executable).with_name("evidence"))
TOKEN = "widget-token-s3cr3t"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_entry_point(tmp_path_factory.mktemp("site"))


def run(
    cwd: Path, site: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
        "EVIDENCE_STORE_URL": f"sqlite:///{cwd}/.evidence/evidence.db",
        **(env or {}),
    }
    full_env.pop("EVIDENCE_SIGNING_KEY", None)
    return subprocess.run(
        [EVIDENCE, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def server() -> Iterator[WidgetServer]:
    with WidgetServer(token=TOKEN) as srv:
        yield srv


def test_the_family_is_not_installed_in_this_process() -> None:
    assert "widgets" not in registry.families()


def test_listed_with_its_own_permission_model_and_policy(tmp_path: Path, plugin_path: Path) -> None:
    listed = run(tmp_path, plugin_path, "families", "--json")
    assert listed.returncode == 0, listed.stderr
    widgets = next(f for f in json.loads(listed.stdout) if f["name"] == "widgets")
    assert widgets["permission_model"] == "API token scopes"
    assert widgets["sources"] == ["widgets.inventory"]
    policy = run(tmp_path, plugin_path, "policy", "widgets")
    assert policy.returncode == 0, policy.stderr
    assert json.loads(policy.stdout) == {"token_scopes": ["sites:read", "widgets:list", "widgets:read"]}
    types = run(tmp_path, plugin_path, "types", "--family", "widgets", "--json")
    assert [t["id"] for t in json.loads(types.stdout)] == ["widgets.inventory.encrypted"]


def test_collected_with_evidence_collect(tmp_path: Path, plugin_path: Path, server: WidgetServer) -> None:
    result = run(
        tmp_path,
        plugin_path,
        "collect",
        "widgets",
        "--url",
        server.url,
        "--site",
        "main",
        "--site",
        "east",
        "--json",
        env={"EVIDENCE_WIDGETS_TOKEN": TOKEN},
    )
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert sorted(r["target"]["site"] for r in records) == ["east", "main"]
    for record in records:
        assert record["evidence_type"] == "widgets.inventory.encrypted"
        assert record["status"] == "fail" and "w-2 (stored in clear)" in record["reason"]
    verified = run(tmp_path, plugin_path, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    shown = run(tmp_path, plugin_path, "show", records[0]["id"], "--json")
    body = json.loads(shown.stdout)
    assert body["collector"] == "widgets.inventory" and body["validation"]["gx"]["success"] is False
    calls = {c["operation"] for c in body["provenance"]["api_calls"]}
    assert calls == {"GET /sites/{site}/widgets", "GET /widgets/{id}"}
    assert all(c["request_id"] for c in body["provenance"]["api_calls"])
    store = tmp_path / ".evidence"
    leaked = [p for p in store.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    assert not leaked, f"the token reached {leaked}"


def test_a_missing_scope_and_a_bad_token_are_errors(tmp_path: Path, plugin_path: Path) -> None:
    with WidgetServer(token=TOKEN, denied=frozenset({"/widgets/w-3"})) as srv:
        result = run(
            tmp_path,
            plugin_path,
            "collect",
            "widgets",
            "--url",
            srv.url,
            "--json",
            env={"EVIDENCE_WIDGETS_TOKEN": TOKEN},
        )
    assert result.returncode == 0, result.stderr
    (record,) = json.loads(result.stdout)
    shown = json.loads(run(tmp_path, plugin_path, "show", record["id"], "--json", "--payload").stdout)
    rows = {r["resource"]: r for r in shown["payload"]["rows"]}
    assert rows["w-3"]["status"] == "error" and "widgets:read" in rows["w-3"]["reason"]
    assert rows["w-2"]["status"] == "fail" and rows["w-1"]["status"] == "pass"
    with WidgetServer(token=TOKEN) as srv:
        wrong = run(
            tmp_path,
            plugin_path,
            "collect",
            "widgets",
            "--url",
            srv.url,
            "--json",
            "--fail-on",
            "error",
            env={"EVIDENCE_WIDGETS_TOKEN": "wrong"},
        )
    assert wrong.returncode == 1
    (record,) = json.loads(wrong.stdout)
    assert record["status"] == "error" and "HTTP401" in record["reason"]


def test_its_demo_runs_through_evidence_demo(tmp_path: Path, plugin_path: Path) -> None:
    result = run(tmp_path, plugin_path, "demo", "--family", "widgets")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout
    listed = json.loads(run(tmp_path, plugin_path, "list", "--json").stdout)
    assert "widgets.inventory.encrypted" in {r["evidence_type"] for r in listed}

"""``evidence collect`` sends its first request before it imports anything it does not need for it.

GX, pandas, SQLAlchemy and the store's modules took seconds on a loaded machine, all before the
first request (issue 13, "Whole-process speed"). A real ``evidence collect widgets`` process (the
test family of ``tests/support/widget_family``, plugged in through its entry point, against its HTTP
server) notes which of those modules are loaded when the family's ``connect`` makes the first request,
and again at exit: none at the first, the store's by the end (so the probe is not blind). GX is never
imported by the CLI process at all: its suites run in a child process (``evidence.gx_process``), and
the stored records carry their GX results all the same.

A store configuration the store would refuse is refused before the first request (exit 2), not after
the first unit has been fetched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.widget_family import install_entry_point
from tests.support.widget_family.server import WidgetServer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# Needed for records, not for the first request: each must wait until the source has answered.
DEFERRED = ("great_expectations", "pandas", "sqlalchemy", "evidence.store", "evidence.publish")

PROBE = r"""
import atexit, json, os, sys
from tests.support.widget_family.family import WidgetFamily

out, heavy = os.environ["PROBE_OUT"], json.loads(os.environ["PROBE_MODULES"])
seen = {}
def loaded():
    return sorted(m for m in heavy if m in sys.modules)
connect = WidgetFamily.connect
def probed(self, *args, **kwargs):
    seen.setdefault("first_request", loaded())
    return connect(self, *args, **kwargs)
WidgetFamily.connect = probed
def dump():
    seen["exit"] = loaded()
    with open(out, "w") as f:
        json.dump(seen, f)
atexit.register(dump)
sys.argv = ["evidence", *sys.argv[1:]]
from evidence.cli import main
main()
"""


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_entry_point(tmp_path_factory.mktemp("site"))


def _collect(
    tmp_path: Path, site: Path, *args: str, store_env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict]:
    probe = tmp_path / "probe.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
        "EVIDENCE_STORE_URL": f"sqlite:///{tmp_path}/.evidence/evidence.db",
        "EVIDENCE_WIDGETS_TOKEN": "widget-token",
        "PROBE_OUT": str(probe),
        "PROBE_MODULES": json.dumps(DEFERRED),
    }
    for name in ("EVIDENCE_SIGNING_KEY", "EVIDENCE_BLOB_URL"):
        env.pop(name, None)
    env.update(store_env or {})
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "collect", "widgets", *args, "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done, json.loads(probe.read_text())


def test_nothing_heavy_is_imported_before_the_first_request(tmp_path: Path, plugin_path: Path) -> None:
    with WidgetServer(token="widget-token") as server:
        done, seen = _collect(tmp_path, plugin_path, "--url", server.url, "--site", "main", "--site", "east")
    assert done.returncode == 0, done.stderr
    assert seen["first_request"] == [], f"imported before the first request: {seen['first_request']}"
    assert {"sqlalchemy", "evidence.store"} <= set(seen["exit"])
    assert "great_expectations" not in seen["exit"], "GX runs in the child process, not the CLI's"
    records = json.loads(done.stdout)
    assert sorted(r["target"]["site"] for r in records) == ["east", "main"]
    from evidence.store import open_store

    store = open_store(f"sqlite:///{tmp_path}/.evidence/evidence.db", create=False)
    try:
        stored = [store.get(r["id"]) for r in records]
    finally:
        store.close()
    for record in stored:  # the GX suite ran (in the child) and its result is in the record
        gx = record.validation.gx
        assert gx is not None and gx.suite == "widgets.inventory.encrypted" and gx.evaluated == 4


@pytest.mark.parametrize(
    ("store_env", "named"),
    [
        ({"EVIDENCE_STORE_URL": "oracle://nowhere/db"}, "unsupported database 'oracle'"),
        ({"EVIDENCE_STORE_URL": "sqlite:///:memory:"}, "in-memory SQLite"),
        ({"EVIDENCE_STORE_URL": "postgresql://u@db.invalid:notaport/e"}, "not a database URL"),
        ({"EVIDENCE_STORE_URL": "postgresql://u@db.invalid/e"}, "EVIDENCE_BLOB_URL"),
    ],
    ids=["unsupported", "in-memory", "bad-port", "postgres-without-blobs"],
)
def test_a_store_it_cannot_use_is_refused_before_the_first_request(
    tmp_path: Path, plugin_path: Path, store_env: dict[str, str], named: str
) -> None:
    with WidgetServer(token="widget-token") as server:
        done, seen = _collect(
            tmp_path, plugin_path, "--url", server.url, "--site", "main", store_env=store_env
        )
    assert done.returncode == 2, done.stderr
    assert named in done.stderr
    assert server.requests == 0 and "first_request" not in seen, "the source was asked before the store"

"""LocalAirflow's REST client against a loopback double: transient failures (the metadata database
busy: HTTP 500) are retried where that is safe, and a retried trigger never starts a second run."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from plugins.orchestration import local
from plugins.orchestration.local import AirflowError, LocalAirflow

BUSY = b'{"detail":{"reason":"Database error"}}'


class Double:
    """Answers each (method, path prefix) from a script of (status, body); the last entry repeats."""

    def __init__(self) -> None:
        self.script: dict[tuple[str, str], list[tuple[int | str, Any]]] = {}
        self.calls: list[tuple[str, str, Any]] = []
        self.runs: set[str] = set()

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.calls.append((method, path, body))
        if method == "POST" and path == "/auth/token":
            return 201, {"access_token": "t"}
        for (m, prefix), answers in self.script.items():
            if m == method and path.startswith(prefix):
                status, reply = answers.pop(0) if len(answers) > 1 else answers[0]
                if status == "commit-then-500":  # the run is created, but the answer is lost
                    self.runs.add(body["dag_run_id"])
                    return 500, BUSY
                assert isinstance(status, int)
                if method == "POST" and status < 300:
                    if body["dag_run_id"] in self.runs:
                        return 409, {"detail": "exists"}
                    self.runs.add(body["dag_run_id"])
                    return status, {"dag_run_id": body["dag_run_id"]}
                return status, reply
        if method == "GET" and "/dagRuns/" in path:
            run_id = urllib.parse.unquote(path.rsplit("/", 1)[1])
            return (200, {"dag_run_id": run_id}) if run_id in self.runs else (404, {"detail": "no"})
        return 404, {"detail": "not scripted"}


@pytest.fixture
def double(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Double, LocalAirflow]]:
    state = Double()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, reply = state.answer(self.command, self.path, body)
            raw = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_PATCH = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr("plugins.orchestration.local.time.sleep", lambda _s: None)
    airflow = LocalAirflow(home=Path("/nonexistent"), port=server.server_address[1], passwords={"admin": "x"})
    try:
        yield state, airflow
    finally:
        server.shutdown()
        server.server_close()


def test_an_idempotent_call_is_retried_through_a_busy_database(double: tuple[Double, LocalAirflow]) -> None:
    state, airflow = double
    state.script[("GET", "/api/v2/dags")] = [(500, BUSY), (503, BUSY), (200, {"dags": []})]
    assert airflow.request("GET", "/api/v2/dags") == {"dags": []}
    assert sum(1 for m, p, _ in state.calls if p == "/api/v2/dags") == 3


def test_a_lasting_failure_is_reported_with_the_servers_answer(double: tuple[Double, LocalAirflow]) -> None:
    state, airflow = double
    state.script[("PATCH", "/api/v2/dags/x")] = [(500, BUSY)]
    with pytest.raises(AirflowError, match=r"PATCH /api/v2/dags/x: HTTP 500: .*Database error"):
        airflow.unpause("x")
    assert sum(1 for m, _, _ in state.calls if m == "PATCH") == local.TRANSIENT_ATTEMPTS


def test_a_client_error_is_not_retried(double: tuple[Double, LocalAirflow]) -> None:
    state, airflow = double
    state.script[("GET", "/api/v2/dags")] = [(403, {"detail": "forbidden"})]
    with pytest.raises(AirflowError, match="HTTP 403"):
        airflow.request("GET", "/api/v2/dags")
    assert len([c for c in state.calls if c[1] == "/api/v2/dags"]) == 1


def test_a_plain_post_is_not_repeated(double: tuple[Double, LocalAirflow]) -> None:
    state, airflow = double
    state.script[("POST", "/api/v2/assets/events")] = [(500, BUSY), (200, {})]
    state.script[("GET", "/api/v2/assets")] = [(200, {"assets": [{"name": "a", "id": 1}]})]
    with pytest.raises(AirflowError, match="HTTP 500"):
        airflow.post_asset_event("a", {})
    assert len([c for c in state.calls if c[1] == "/api/v2/assets/events"]) == 1


def test_a_trigger_retried_through_a_busy_database_starts_one_run(
    double: tuple[Double, LocalAirflow],
) -> None:
    state, airflow = double
    state.script[("POST", "/api/v2/dags/d/dagRuns")] = [(500, BUSY), (500, BUSY), (200, None)]
    run_id = airflow.trigger("d")
    assert state.runs == {run_id}
    posted = {c[2]["dag_run_id"] for c in state.calls if c[0] == "POST" and "dagRuns" in c[1]}
    assert posted == {run_id}  # one run id for every attempt


def test_a_trigger_whose_answer_was_lost_returns_the_run_it_created(
    double: tuple[Double, LocalAirflow],
) -> None:
    state, airflow = double
    state.script[("POST", "/api/v2/dags/d/dagRuns")] = [("commit-then-500", None), (200, None)]
    run_id = airflow.trigger("d")
    assert state.runs == {run_id}


def test_a_sqlite_metadata_database_waits_for_its_lock(tmp_path: Path) -> None:
    env = LocalAirflow(home=tmp_path / "a").environment()
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS"] == "plugins.orchestration.sqlite_connect.SYNC"
    from plugins.orchestration import sqlite_connect

    assert sqlite_connect.SYNC["timeout"] >= 60 and sqlite_connect.ASYNC["timeout"] >= 60
    pg = LocalAirflow(home=tmp_path / "b", metadata_url="postgresql+psycopg://u@127.0.0.1/db").environment()
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS" not in pg

"""The whole product on one machine, on loopback: Airflow's components as processes, the project's
DAGs, the collector families' demo sources, and the evidence store.

``LocalAirflow`` starts Airflow 3 as its components (api-server, scheduler, dag-processor,
triggerer, and a Celery worker when the executor is Celery), each in its own process group, with one
shared JWT secret and Fernet key, the project's ``dags/`` folder, simple-auth users with generated
passwords, and the task processes' start-up paid once (``plugins.orchestration.preload``). It talks to
the REST API to unpause DAGs, trigger runs, post asset events and wait for runs. ``stop()`` ends every
process it started. The demo (``scripts/demo``) and the end-to-end tests use it.

    python -m plugins.orchestration.local [--once] [--port 8080] [--family aws]...
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PROJECT_DAGS = ("control_evaluation", "evidence_events")
TERMINAL_RUN_STATES = ("success", "failed")
TRANSIENT_ATTEMPTS = 6  # about 30 s of backoff in all


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def connection_uri(conn_type: str, extra: Mapping[str, Any], **fields: Any) -> str:
    """An Airflow connection as JSON (what ``AIRFLOW_CONN_<ID>`` accepts)."""
    body = {
        "conn_type": conn_type,
        "extra": dict(extra),
        **{k: v for k, v in fields.items() if v is not None},
    }
    return json.dumps(body)


class AirflowError(RuntimeError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the REST API's HTTP status, when it answered


@dataclass
class LocalAirflow:
    home: Path
    executor: str = "local"  # "local" or "celery"
    metadata_url: str | None = None  # None: SQLite in home
    broker_url: str | None = None  # Celery broker (redis://127.0.0.1:6379/N)
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)  # evidence settings, connections
    users: dict[str, str] = field(
        default_factory=lambda: {"admin": "admin", "auditor": "viewer", "ops": "op"}
    )
    parallelism: int = 4
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)
    _token: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- configuration ---------------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        from cryptography.fernet import Fernet

        self.home.mkdir(parents=True, exist_ok=True)
        secrets_file = self.home / "secrets.json"
        if secrets_file.exists():
            kept = json.loads(secrets_file.read_text())
        else:
            kept = {"jwt": secrets.token_urlsafe(64), "fernet": Fernet.generate_key().decode()}
            secrets_file.write_text(json.dumps(kept))
            secrets_file.chmod(0o600)
        passwords_file = self.home / "simple_auth_manager_passwords.json"
        if not self.passwords:
            self.passwords = (
                json.loads(passwords_file.read_text())
                if passwords_file.exists()
                else {user: secrets.token_urlsafe(12) for user in self.users}
            )
            passwords_file.write_text(json.dumps(self.passwords))
            passwords_file.chmod(0o600)
        metadata = self.metadata_url or f"sqlite:///{self.home / 'airflow.db'}"
        executor = (
            "CeleryExecutor"
            if self.executor == "celery"
            else "plugins.orchestration.preload.PreloadingLocalExecutor"
        )
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__FERNET_KEY": kept["fernet"],
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in self.users.items()),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API_AUTH__JWT_SECRET": kept["jwt"],
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            # Parsing a DAG file takes 2-4 s of CPU; on a 2-core machine shared with other work the wall
            # time can pass Airflow's default 30 s and the file would count as broken.
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "180",
            # ... and the API server answers a task's call more slowly than the 5 s default allows.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "120",
            "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "240",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__SCHEDULER__DAG_STALE_NOT_SEEN_DURATION": "600",
            "AIRFLOW__TRIGGERER__CAPACITY": "100",
            # Log servers on free ports, so several local deployments (tests in parallel) never collide.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "true",
            "GX_ANALYTICS_ENABLED": "false",
            "NO_PROXY": "*",
            **self.env,
        }
        if metadata.startswith("sqlite"):
            env |= {
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "plugins.orchestration.sqlite_connect.SYNC",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC": (
                    "plugins.orchestration.sqlite_connect.ASYNC"
                ),
            }
        if self.executor == "celery":
            if not self.broker_url:
                raise AirflowError("the Celery executor needs a broker URL")
            backend = metadata.replace("postgresql+psycopg://", "db+postgresql+psycopg://", 1)
            env |= {
                "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": backend,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.parallelism),
                "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "plugins.orchestration.preload.CELERY_CONFIG",
                "AIRFLOW__CELERY__WORKER_ENABLE_REMOTE_CONTROL": "false",
            }
        return env

    # --- processes -------------------------------------------------------------------------------

    def migrate(self, env: Mapping[str, str]) -> None:
        """Create the metadata database. A SQLite one is a copy of a freshly migrated template kept in
        the virtualenv (one per Airflow version: every local deployment of this checkout, the demo's
        and the tests', skips the 7 s migration after the first)."""
        template = Path(sys.prefix) / "var" / f"airflow-template-{_airflow_version()}.db"
        target = self.home / "airflow.db"
        if self.metadata_url is None and template.exists() and not target.exists():
            shutil.copy(template, target)
            return
        result = subprocess.run(
            [str(BIN / "airflow"), "db", "migrate"],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            raise AirflowError(f"airflow db migrate failed: {result.stderr[-2000:]}")
        if self.metadata_url is None and not template.exists():
            from evidence.files import write_atomic

            # atomically: deployments starting side by side never copy half a file
            template.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(template, target.read_bytes(), mode=0o644)

    def _spawn(self, name: str, args: Sequence[str], env: Mapping[str, str]) -> None:
        log = (self.home / "logs").joinpath(f"{name}.log")
        log.parent.mkdir(parents=True, exist_ok=True)
        handle = log.open("ab")
        self.processes[name] = subprocess.Popen(
            [str(BIN / "airflow"), *args],
            env=dict(env),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends it with its children
            cwd=self.home,
        )
        handle.close()

    def start(self) -> LocalAirflow:
        env = self.environment()
        self.migrate(env)
        self._spawn("api-server", ["api-server", "--port", str(self.port), "--host", "127.0.0.1"], env)
        self._spawn("scheduler", ["scheduler"], env)
        self._spawn("dag-processor", ["dag-processor"], env)
        self._spawn("triggerer", ["triggerer"], env)
        if self.executor == "celery":
            self._spawn("celery-worker", ["celery", "worker", "--concurrency", str(self.parallelism)], env)
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for proc in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.processes.clear()

    def __enter__(self) -> LocalAirflow:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def check_alive(self) -> None:
        dead = {name: proc.returncode for name, proc in self.processes.items() if proc.poll() is not None}
        if dead:
            tails = {n: _tail(self.home / "logs" / f"{n}.log") for n in dead}
            raise AirflowError(f"Airflow components exited: {dead}; last lines: {tails}")

    # --- the REST API ----------------------------------------------------------------------------

    def wait_healthy(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(AirflowError, ValueError):
                health = self.request("GET", "/api/v2/monitor/health", auth=False, attempts=1)
                if health.get("metadatabase", {}).get("status") == "healthy":
                    # The API server builds its execution API (the one tasks talk to) on the first
                    # request: 4-8 s here, which the first tasks would otherwise wait out, all at once.
                    # Asked for now, in the background, while the DAG processor parses the DAGs.
                    threading.Thread(target=self._warm_execution_api, daemon=True).start()
                    return
            time.sleep(1)
        raise AirflowError(f"the API server did not become healthy in {timeout:.0f} s")

    def _warm_execution_api(self) -> None:
        with contextlib.suppress(AirflowError, ValueError):
            self.request("GET", "/execution/health", auth=False, attempts=1)

    def login(self, user: str = "admin") -> str:
        body = self.request(
            "POST",
            "/auth/token",
            {"username": user, "password": self.passwords[user]},
            auth=False,
            attempts=TRANSIENT_ATTEMPTS,  # a login creates nothing: safe to repeat
        )
        return str(body["access_token"])

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        auth: bool = True,
        token: str | None = None,
        attempts: int | None = None,
    ) -> Any:
        """One REST call. A transient failure (HTTP 5xx: the metadata database busy, a worker restarting;
        or a dropped connection) is retried with backoff when the call is idempotent, which every method
        but POST is; a POST is retried only when the caller says it may be (``attempts``)."""
        data = json.dumps(body).encode() if body is not None else None
        tries = attempts if attempts is not None else (1 if method == "POST" else TRANSIENT_ATTEMPTS)
        attempt = 0
        while True:
            attempt += 1
            req = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310 - http://127.0.0.1
            req.add_header("Content-Type", "application/json")
            if auth:
                if token is None:
                    self._token = self._token or self.login()
                req.add_header("Authorization", f"Bearer {token or self._token}")
            status: int | None = None
            try:
                with urllib.request.urlopen(req, timeout=60) as response:  # noqa: S310 - loopback only
                    raw = response.read()
            except urllib.error.HTTPError as exc:
                status, failure = exc.code, f"HTTP {exc.code}: {exc.read()[:500]!r}"
            except OSError as exc:  # refused, reset, timed out
                failure = str(exc)
            else:
                return json.loads(raw) if raw else {}
            if attempt >= tries or (status is not None and status < 500):
                raise AirflowError(f"{method} {path}: {failure}", status) from None
            time.sleep(min(0.5 * 2**attempt, 8))

    def wait_for_dags(self, dag_ids: Sequence[str], timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        missing = set(dag_ids)
        while missing and time.monotonic() < deadline:
            self.check_alive()
            found = {d["dag_id"] for d in self.request("GET", "/api/v2/dags?limit=100")["dags"]}
            missing -= found
            if missing:
                time.sleep(2)
        if missing:
            errors = self.request("GET", "/api/v2/importErrors")
            raise AirflowError(
                f"DAGs not parsed in {timeout:.0f} s: {sorted(missing)}; import errors: {errors}"
            )

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Start a run. It names its own run id, so a POST retried after a transient failure cannot
        start a second run: a retry that finds the run already there (HTTP 409) returns it."""
        run_id = f"manual__{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())}_{secrets.token_hex(4)}"
        body = {"dag_run_id": run_id, "logical_date": None, "conf": dict(conf or {})}
        try:
            run = self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", body, attempts=TRANSIENT_ATTEMPTS)
        except AirflowError as exc:
            if exc.status == 409 and self._run_exists(dag_id, run_id):
                return run_id
            raise
        return str(run["dag_run_id"])

    def _run_exists(self, dag_id: str, run_id: str) -> bool:
        try:
            self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}")
        except AirflowError:
            return False
        return True

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(
            self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns?order_by=-start_date&limit=50")["dag_runs"]
        )

    def wait_run(self, dag_id: str, run_id: str | None = None, *, timeout: float = 600) -> dict[str, Any]:
        """Wait for a run (or, without ``run_id``, the first run of the DAG) to finish."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            for run in self.runs(dag_id):
                if (run_id is None or run["dag_run_id"] == run_id) and run["state"] in TERMINAL_RUN_STATES:
                    return run
            time.sleep(2)
        raise AirflowError(f"{dag_id} run {run_id or '(first)'} did not finish in {timeout:.0f} s")

    def post_asset_event(self, asset_name: str, extra: Mapping[str, Any]) -> dict[str, Any]:
        assets = self.request("GET", f"/api/v2/assets?name_pattern={urllib.parse.quote(asset_name)}")[
            "assets"
        ]
        match = next((a for a in assets if a["name"] == asset_name), None)
        if match is None:
            raise AirflowError(f"no asset named {asset_name!r}")
        return dict(
            self.request("POST", "/api/v2/assets/events", {"asset_id": match["id"], "extra": dict(extra)})
        )


def _airflow_version() -> str:
    from airflow import __version__

    return str(__version__)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- the demo: the main job through Airflow -------------------------------------------------------


@contextlib.contextmanager
def demo_estates(
    names: Sequence[str] | None, say: Callable[[str], None] | None = None
) -> Iterator[dict[str, str]]:
    """Every chosen family's demo source, started side by side, as Airflow connections
    (``AIRFLOW_CONN_<ID>``); all stopped on leaving."""
    from evidence import registry
    from evidence.family import start_demos

    families = [f for f in registry.families().values() if not names or f.name in names]
    with contextlib.ExitStack() as stack:
        running = start_demos(stack, families, say or (lambda line: print(line, file=sys.stderr, flush=True)))
        yield {
            f"AIRFLOW_CONN_{family.connection.default_conn_id.upper()}": _demo_connection(
                family, estate.settings
            )
            for family, estate in running
        }


def _demo_connection(family: Any, settings: Mapping[str, Any]) -> str:
    extra = {k: v for k, v in settings.items() if isinstance(v, str | int | float | bool | list)}
    fields = {}
    if family.connection.conn_type == "aws":
        fields = {
            "login": os.environ.get("AWS_ACCESS_KEY_ID", "demo"),
            "password": os.environ.get("AWS_SECRET_ACCESS_KEY", "demo"),
        }
    return connection_uri(family.connection.conn_type, extra, **fields)


def run_demo(args: argparse.Namespace) -> int:
    """Bring up the product, run one full collection and evaluation, print posture, write and verify an
    auditor bundle, and serve the UI."""
    from evidence import registry

    started = time.monotonic()

    def say(line: str) -> None:
        print(f"[{time.monotonic() - started:4.0f} s] {line}", file=sys.stderr, flush=True)

    workdir = Path.cwd()
    store_dir = workdir / ".evidence"
    store_dir.mkdir(exist_ok=True)
    store_url = f"sqlite:///{store_dir / 'evidence.db'}"
    families = [f for f in registry.families().values() if not args.family or f.name in args.family]
    with demo_estates(args.family, say) as connections:
        airflow = LocalAirflow(
            home=store_dir / "airflow",
            port=args.port or free_port(),
            env={**connections, "EVIDENCE_STORE_URL": store_url},
        )
        say(f"Airflow: starting api-server, scheduler, dag-processor, triggerer on {airflow.url}...")
        with airflow:
            family_dags = [f"{f.name}_evidence" for f in families]
            say("Airflow: up; waiting for the DAG processor to parse the project's DAGs")
            airflow.wait_for_dags([*family_dags, *PROJECT_DAGS])
            for dag_id in PROJECT_DAGS:
                airflow.unpause(dag_id)
            for dag_id in family_dags:
                airflow.unpause(dag_id)  # the latest interval's scheduled run starts at once
            say(f"{len(family_dags)} family DAGs unpaused: their scheduled runs collect")
            for dag_id in family_dags:
                run = airflow.wait_run(dag_id)
                say(f"{dag_id}: {run['state']} ({run['run_type']})")
            # Every collection has updated its assets; one evaluation over all of it (asset-triggered runs
            # may have started before the last collection ended).
            evaluation = airflow.wait_run("control_evaluation", airflow.trigger("control_evaluation"))
            say(f"control_evaluation: {evaluation['state']}")
            _people(store_url)
            env = {**os.environ, "EVIDENCE_STORE_URL": store_url}
            subprocess.run([str(BIN / "evidence"), "posture"], env=env, check=False)
            say("posture printed")
            verified = subprocess.run([str(BIN / "evidence"), "verify"], env=env, check=False)
            bundled = _bundle(store_dir, env)
            say("store verified, auditor bundle written and verified")
            print(
                f"UI: {airflow.url}  (login admin / {airflow.passwords['admin']}; "
                f"auditor / {airflow.passwords['auditor']})",
                flush=True,
            )
            if args.once:
                return verified.returncode or bundled
            print("serving until Ctrl-C", file=sys.stderr, flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(2)
                    airflow.check_alive()
    return 0


def _bundle(store_dir: Path, env: Mapping[str, str]) -> int:
    """The auditor's deliverable: a signed SOC 2 bundle of everything collected, verified offline the
    way an auditor does (against the log's public key, pinned). Its exit status (0: written and
    verified)."""
    out = store_dir / "bundles" / f"soc2-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.zip"
    out.parent.mkdir(mode=0o700, exist_ok=True)
    evidence = str(BIN / "evidence")
    written = subprocess.run(
        [evidence, "bundle", "--framework", "soc2", "--out", str(out), "--by", "demo"], env=env, check=False
    )
    if written.returncode != 0:
        return written.returncode
    key = store_dir / "signing-key.pub.pem"
    pinned = ["--public-key", str(key)] if key.exists() else []
    checked = subprocess.run([evidence, "bundle", "verify", str(out), *pinned], env=env, check=False)
    if checked.returncode == 0:
        print(f"auditor bundle: {out}", flush=True)
    return checked.returncode


def _people(store_url: str) -> None:
    """The demo's attestation and risk acceptance, appended like the CLI's `append`/`accept-risk`."""
    from datetime import UTC, datetime, timedelta

    from evidence.attestation import accept_risk, attest
    from evidence.records import RunContext
    from evidence.store import open_store

    ctx = RunContext.from_env(f"demo-people-{int(time.time())}", run_type="manual")
    with open_store(store_url) as store:
        store.append_batch(
            [
                attest(
                    ["SEED003-SEC-01"],
                    "Threat model for the payments API reviewed and signed off (demo attestation)",
                    "Ada Lovelace",
                    role="Security Lead",
                    context=ctx,
                ),
                accept_risk(
                    ["SEED003-SEC-11"],
                    "External penetration test booked for next quarter (demo exception)",
                    "Grace Hopper",
                    datetime.now(UTC) + timedelta(days=90),
                    role="Engineering Lead",
                    context=ctx,
                ),
            ]
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/demo", description="The main job, through Airflow.")
    parser.add_argument("--once", action="store_true", help="one run, then stop everything (CI)")
    parser.add_argument("--port", type=int, default=0, help="API server / UI port (default: a free one)")
    parser.add_argument("--family", action="append", default=[], help="only these families (repeat)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        return run_demo(args)
    except AirflowError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["LocalAirflow", "connection_uri", "free_port", "main"]

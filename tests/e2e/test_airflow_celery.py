"""The product through a real Airflow deployment on loopback: api-server, scheduler, dag-processor,
triggerer and a Celery worker (a Redis broker of the test's own, a fresh PostgreSQL metadata
database), the project's DAGs, the AWS demo estate on a moto server, an SMTP sink (aiosmtpd) and a
webhook sink.

- the scheduled run of ``aws_evidence`` (its latest interval, started on unpause) writes records that
  carry the real executor, the run type and the Airflow version;
- an SQS message (an AWS Config change, as EventBridge sends it), a Redis pub/sub message and an asset
  event posted to the REST API each lead to new evidence for exactly the resource and type they name;
- a malformed message is recorded as rejected and the triggerer keeps running;
- the evaluation DAG notifies each regression exactly once, by e-mail and by webhook, however many
  times it runs.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from collectors.aws.demo import seed_estate
from evidence.store import open_store
from plugins.orchestration.local import LocalAirflow, connection_uri, free_port
from tests.support.servers import MotoServer, pg_database

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(1800)]

REGIONS = ("us-east-1", "eu-west-1")
QUEUE = "evidence-events"
CHANNEL = "evidence-events"


class Sinks:
    """An SMTP sink (aiosmtpd) and a webhook sink (HTTP), both keeping what they receive."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.mails: list[Any] = []
        self.hooks: list[dict[str, Any]] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                outer.mails.append(message_from_bytes(envelope.content))
                return "250 OK"

        def accept(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
            from aiosmtpd.smtp import AuthResult, LoginPassword

            ok = isinstance(data, LoginPassword) and data.login == b"evidence"
            return AuthResult(success=ok)

        self.smtp_port = free_port()
        # The deployment logs in (as a real relay wants): AUTH offered without TLS on loopback.
        self._smtp = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.smtp_port,
            authenticator=accept,
            auth_require_tls=False,
        )

        class Hook(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                outer.hooks.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(204)
                self.end_headers()

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        self.http_port = self._http.server_address[1]

    def __enter__(self) -> Sinks:
        self._smtp.start()
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._smtp.stop()
        self._http.shutdown()
        self._http.server_close()

    def mail_texts(self) -> list[str]:
        texts = []
        for mail in self.mails:
            parts = mail.walk() if mail.is_multipart() else [mail]
            texts.append("".join(str(p.get_payload(decode=True) or b"", "utf-8", "replace") for p in parts))
        return texts


class RedisServer:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.2)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import boto3

    folder = tmp_path_factory.mktemp("deployment")
    store_url = f"sqlite:///{folder / 'store' / 'evidence.db'}"
    (folder / "store").mkdir()
    with MotoServer() as moto, Sinks() as sinks, pg_database("airflowe2e") as metadata:
        seed_estate(moto.url, REGIONS)
        sqs = boto3.client(
            "sqs",
            region_name="us-east-1",
            endpoint_url=moto.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        redis = RedisServer(folder)
        try:
            aws_extra = {"endpoint_url": moto.url, "regions": list(REGIONS), "region_name": "us-east-1"}
            env = {
                "EVIDENCE_STORE_URL": store_url,
                "AIRFLOW_CONN_AWS_DEFAULT": connection_uri(
                    "aws", aws_extra, login="testing", password="testing"
                ),
                "AIRFLOW_CONN_REDIS_DEFAULT": connection_uri("redis", {}, host="127.0.0.1", port=redis.port),
                "AIRFLOW_CONN_SMTP_DEFAULT": connection_uri(
                    "smtp",
                    {"disable_tls": True, "disable_ssl": True, "from_email": "evidence@example.org"},
                    host="127.0.0.1",
                    port=sinks.smtp_port,
                    login="evidence",
                    password="unused",
                ),
                "AIRFLOW_CONN_EVIDENCE_WEBHOOK": connection_uri(
                    "http", {}, host="127.0.0.1", port=sinks.http_port, schema="http"
                ),
                "EVIDENCE_EVENTS_SQS_URL": queue_url,
                "EVIDENCE_EVENTS_REDIS_CHANNEL": CHANNEL,
                "EVIDENCE_NOTIFY_EMAIL_TO": "compliance@example.org",
                "EVIDENCE_NOTIFY_EMAIL_FROM": "evidence@example.org",
                "EVIDENCE_NOTIFY_WEBHOOK_CONN_ID": "evidence_webhook",
                "EVIDENCE_NOTIFY_WEBHOOK_ENDPOINT": "/hook",
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
            airflow = LocalAirflow(
                home=folder / "airflow",
                executor="celery",
                metadata_url=metadata,
                broker_url=f"redis://127.0.0.1:{redis.port}/1",
                env=env,
                parallelism=4,
            )
            with airflow:
                airflow.wait_for_dags(["aws_evidence", "control_evaluation", "evidence_events"])
                for dag_id in ("control_evaluation", "evidence_events", "aws_evidence"):
                    airflow.unpause(dag_id)
                yield {
                    "airflow": airflow,
                    "store_url": store_url,
                    "sqs": sqs,
                    "queue_url": queue_url,
                    "redis_port": redis.port,
                    "sinks": sinks,
                }
        finally:
            redis.stop()


def _records(store_url: str, **filters: Any) -> list[Any]:
    with open_store(store_url, environ={}) as store:
        return list(store.iter_records(**filters))


def _wait_for(check: Any, timeout: float, what: str, airflow: LocalAirflow) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        airflow.check_alive()
        found = check()
        if found:
            return found
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_scheduled_run_records_its_executor_and_run_type(deployment: dict[str, Any]) -> None:
    airflow: LocalAirflow = deployment["airflow"]
    run = airflow.wait_run("aws_evidence", timeout=900)
    assert run["state"] == "success" and run["run_type"] == "scheduled"
    records = [r for r in _records(deployment["store_url"]) if r.provenance.dag_id == "aws_evidence"]
    assert records
    for record in records:
        assert record.provenance.executor == "CeleryExecutor"
        assert record.provenance.run_type == "scheduled"
        assert record.provenance.orchestrator.startswith("airflow 3.")
        assert record.provenance.host


def _event_records(store_url: str, since: set[str], type_prefix: str) -> list[Any]:
    return [
        r
        for r in _records(store_url)
        if r.id not in since
        and r.provenance.dag_id == "evidence_events"
        and r.evidence_type.startswith(type_prefix)
    ]


def test_an_sqs_message_collects_exactly_its_resource(deployment: dict[str, Any]) -> None:
    airflow: LocalAirflow = deployment["airflow"]
    airflow.wait_run("aws_evidence", timeout=900)
    before = {r.id for r in _records(deployment["store_url"])}
    event = {
        "version": "0",
        "source": "aws.config",
        "detail-type": "Config Configuration Item Change",
        "account": "123456789012",
        "region": "us-east-1",
        "detail": {
            "configurationItem": {
                "resourceType": "AWS::S3::Bucket",
                "resourceName": "demo-plain-bucket",
                "ARN": "arn:aws:s3:::demo-plain-bucket",
                "awsRegion": "us-east-1",
                "awsAccountId": "123456789012",
            }
        },
    }
    deployment["sqs"].send_message(QueueUrl=deployment["queue_url"], MessageBody=json.dumps(event))
    records = _wait_for(
        lambda: _event_records(deployment["store_url"], before, "aws.s3.bucket_encryption"),
        600,
        "the SQS event",
        airflow,
    )
    (record,) = records
    assert record.target["resources"] == "arn:aws:s3:::demo-plain-bucket"
    assert record.status == "fail" and record.population.total == 1
    assert record.provenance.run_type == "asset_triggered" and "evidence/events-sqs" in (
        record.provenance.triggered_by or ""
    )


def test_a_rest_asset_event_collects_exactly_its_type_and_resource(deployment: dict[str, Any]) -> None:
    airflow: LocalAirflow = deployment["airflow"]
    before = {r.id for r in _records(deployment["store_url"])}
    airflow.post_asset_event(
        "evidence/collect-requests",
        {"family": "aws", "evidence_types": ["aws.s3.bucket_versioning"], "resources": ["demo-plain-bucket"]},
    )
    records = _wait_for(
        lambda: _event_records(deployment["store_url"], before, "aws."), 600, "the REST event", airflow
    )
    assert [r.evidence_type for r in records] == ["aws.s3.bucket_versioning"]
    assert records[0].target["resources"] == "demo-plain-bucket" and records[0].population.total == 1


def test_a_redis_message_collects_and_a_malformed_one_is_rejected(deployment: dict[str, Any]) -> None:
    import redis

    airflow: LocalAirflow = deployment["airflow"]
    before = {r.id for r in _records(deployment["store_url"])}
    client = redis.Redis(host="127.0.0.1", port=deployment["redis_port"])
    event = {
        "family": "aws",
        "evidence_types": ["aws.s3.bucket_access_logging"],
        "resources": ["demo-plain-bucket"],
    }

    published = [0.0]

    def publish_until_delivered() -> list[Any]:
        # Pub/sub keeps nothing: a message sent before the watcher subscribed is gone, so publish again,
        # but only once a minute (each delivered message starts a run of its own).
        if time.monotonic() - published[0] > 60 and client.pubsub_numsub(CHANNEL)[0][1] > 0:
            client.publish(CHANNEL, json.dumps(event))
            published[0] = time.monotonic()
        return _event_records(deployment["store_url"], before, "aws.s3.bucket_access_logging")

    records = _wait_for(publish_until_delivered, 600, "the Redis event", airflow)
    assert records[0].target["resources"] == "demo-plain-bucket"

    deployment["sqs"].send_message(QueueUrl=deployment["queue_url"], MessageBody="{not json")
    rejected = _wait_for(
        lambda: [
            r for r in _records(deployment["store_url"], evidence_type="event.rejected") if r.id not in before
        ],
        600,
        "the rejection",
        airflow,
    )
    assert "not JSON" in rejected[0].reason
    airflow.check_alive()  # the triggerer survived the malformed message


def test_each_regression_is_notified_exactly_once(deployment: dict[str, Any]) -> None:
    airflow: LocalAirflow = deployment["airflow"]
    sinks: Sinks = deployment["sinks"]
    airflow.wait_run("aws_evidence", timeout=900)
    _wait_for(lambda: sinks.hooks and sinks.mails, 600, "a notification", airflow)
    run = airflow.trigger("control_evaluation")
    airflow.wait_run("control_evaluation", run, timeout=600)
    run = airflow.trigger("control_evaluation")  # a second evaluation of the same evidence
    airflow.wait_run("control_evaluation", run, timeout=600)
    named: dict[str, int] = {}
    for payload in sinks.hooks:
        for regression in payload["regressions"]:
            key = f"{regression['control_id']}/{regression['kind']}"
            named[key] = named.get(key, 0) + 1
    assert named, "no regression reached the webhook"
    assert all(count == 1 for count in named.values()), {k: v for k, v in named.items() if v > 1}
    mails = sinks.mail_texts()
    assert len(mails) == len(sinks.hooks)  # one e-mail and one webhook call per evaluation with news
    for key in named:
        control = key.split("/")[0]
        assert sum(control in text for text in mails) >= 1
    snapshots = _records(deployment["store_url"], evidence_type="posture.snapshot")
    assert len(snapshots) >= 3

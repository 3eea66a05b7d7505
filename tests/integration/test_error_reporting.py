"""The collector's own failures reach an error tracker through sentry-sdk, scrubbed: a process with
EVIDENCE_ERROR_DSN set sends its exceptions (and logged errors) to a local sink that accepts the SDK's
envelopes (the Sentry double), and no credential it held reaches an envelope."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.sentry_double import SentryDouble

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hvs.CAESIcanary0123456789abcdefXYZ"
SECRET_ID = "canary-secret-id-5f0e2a"
UNSEAL = "uOogizci1kHay/MHUOfHcanaryunsealkey="

SCRIPT = f"""
import logging
from evidence.error_reporting import init_error_reporting
from evidence import registry

assert init_error_reporting("test")
vault = registry.family("vault")
# resolving a family's settings registers its secret ones (as the CLI and the DAGs do)
settings = {{"url": "http://127.0.0.1:1", "token": {TOKEN!r}, "secret_id": {SECRET_ID!r}}}
vault.connection.resolve(settings, environ={{}})
unseal_key = {UNSEAL!r}
log = logging.getLogger("collector")
log.warning("about to fail with token %s", {TOKEN!r})  # a breadcrumb
try:
    headers = {{"X-Vault-Token": {TOKEN!r}, "Authorization": "Bearer " + {TOKEN!r}}}
    where = "http://user:" + unseal_key + "@vault"
    raise RuntimeError("login failed for secret_id " + {SECRET_ID!r} + " at " + where)
except RuntimeError:
    log.exception("collector failed")
import sentry_sdk
sentry_sdk.flush(timeout=10)
"""


@pytest.fixture(scope="module")
def sink() -> Iterator[SentryDouble]:
    with SentryDouble() as running:
        yield running


def test_a_failure_is_reported_without_any_credential(sink: SentryDouble) -> None:
    dsn = sink.dsn(sink.estate.projects[0])
    env = {**os.environ, "EVIDENCE_ERROR_DSN": dsn, "PYTHONPATH": str(ROOT)}
    env.pop("SENTRY_DSN", None)
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    deadline = time.monotonic() + 10
    while not sink.received and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sink.received, "no event reached the sink"
    event = next(iter(sink.received.values()))
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert event["tags"]["component"] == "test"
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    assert any(f.get("vars") for f in frames), "frame variables are sent (and must be scrubbed)"
    everything = b"\n".join(sink.envelopes)
    # (The DSN's public key is in every envelope's header by design: it is public, not a credential.)
    for secret in (TOKEN, SECRET_ID, UNSEAL):
        assert secret.encode() not in everything, f"{secret[:8]}... reached the error tracker"
    assert b"[Filtered]" in everything
    assert "login failed for secret_id [Filtered]" in json.dumps(event)


def test_nothing_is_sent_without_a_dsn() -> None:
    from evidence.error_reporting import init_error_reporting

    assert init_error_reporting("test", environ={}) is False


CLI_BUG = """
import sys
from evidence import cli

def boom(*args, **kwargs):
    raise ZeroDivisionError("a bug in the command line")

cli._install_family_commands = boom  # an exception nobody expected, inside main()
sys.argv = ["evidence", "types"]
cli.main()
"""


def test_a_bug_the_cli_turns_into_one_line_still_reaches_the_tracker(sink: SentryDouble) -> None:
    before = set(sink.received)
    env = {**os.environ, "EVIDENCE_ERROR_DSN": sink.dsn(sink.estate.projects[0]), "PYTHONPATH": str(ROOT)}
    env.pop("SENTRY_DSN", None)
    env.pop("EVIDENCE_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-c", CLI_BUG], env=env, cwd=ROOT, capture_output=True, timeout=120
    )
    assert done.returncode == 2 and b"internal error" in done.stderr and b"Traceback" not in done.stderr
    deadline = time.monotonic() + 10
    while set(sink.received) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    new = [e for key, e in sink.received.items() if key not in before]
    assert new and new[0]["exception"]["values"][-1]["type"] == "ZeroDivisionError"

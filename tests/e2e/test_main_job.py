"""The README's first command, as CI runs it (``scripts/demo --once`` without the bootstrap it calls
first): every installed family's demo source, Airflow itself (api-server, scheduler, dag-processor,
triggerer), every family DAG's scheduled run, the control evaluation, posture, a verified store, and a
signed auditor bundle verified against the log's public key; every process stopped at the end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from evidence import registry
from evidence.bundle import verify_bundle
from evidence.signing import Verifier

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]


def test_the_main_job_collects_through_airflow_and_hands_over_a_verified_bundle(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    for name in ("EVIDENCE_STORE_URL", "EVIDENCE_SIGNING_KEY", "EVIDENCE_BLOB_URL", "AIRFLOW_HOME"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "plugins.orchestration.local", "--once"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-5000:]
    for family in registry.families():
        assert f"{family}_evidence: success" in out, out[-5000:]
    assert "control_evaluation: success" in out
    assert "OK: every record, blob and signed tree head checks out" in out
    assert "OK: every file, record, proof and signature in the bundle checks out" in out
    found = re.search(r"auditor bundle: (\S+\.zip)", done.stdout)
    assert found, done.stdout[-3000:]
    bundle = Path(found.group(1))
    assert bundle.is_file() and bundle.parent.parent == tmp_path / ".evidence"
    report = verify_bundle(
        bundle, public_key=Verifier.from_file(tmp_path / ".evidence" / "signing-key.pub.pem")
    )
    assert report.ok, report.problems
    assert report.framework == "soc2" and report.records > 0
    assert re.search(r"UI: http://127\.0\.0\.1:\d+ +\(login admin / ", done.stdout)
    # nothing the demo started outlives it (Airflow's processes ran from this folder)
    left = subprocess.run(
        ["pgrep", "-f", str(tmp_path / ".evidence" / "airflow")], capture_output=True, text=True
    )
    assert left.stdout.strip() == "", left.stdout

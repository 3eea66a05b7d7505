"""The CLI as auditors and CI pipelines script it: real processes, real stores, exit codes 0/1/2."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import MotoServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **(env or {})}
    full_env.pop("EVIDENCE_STORE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "evidence.cli", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def attested_store(tmp_path: Path) -> str:
    doc = tmp_path / "threat-model.pdf"
    doc.write_bytes(b"%PDF-1.4 threat model, reviewed 2026-11-01")
    result = run(
        tmp_path,
        "append",
        "--control",
        "SEED003-SEC-01",
        "--statement",
        "Threat model reviewed by the security team",
        "--by",
        "Ada Lovelace",
        "--role",
        "Security Lead",
        "--file",
        str(doc),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)[0]["id"]


def test_catalog_lists_and_filters(tmp_path: Path) -> None:
    result = run(tmp_path, "catalog", "--json")
    assert result.returncode == 0, result.stderr
    controls = json.loads(result.stdout)
    assert len(controls) == 190
    gdpr = json.loads(run(tmp_path, "catalog", "--framework", "gdpr:Art32", "--json").stdout)
    assert gdpr and all(any(a.startswith("Art32") for a in c["frameworks"]["gdpr"]) for c in gdpr)
    bad = run(tmp_path, "catalog", "--method", "magic")
    assert bad.returncode == 2 and "magic" in bad.stderr


def test_attest_show_list_verify_posture(tmp_path: Path) -> None:
    record_id = attested_store(tmp_path)
    shown = json.loads(run(tmp_path, "show", record_id[:12], "--payload", "--json").stdout)
    assert shown["attested_by"] == "Ada Lovelace"
    assert shown["payload"]["rows"][0]["document_name"] == "threat-model.pdf"
    assert any(a["role"] == "attestation-document" for a in shown["attachments"])
    listed = json.loads(run(tmp_path, "list", "--json").stdout)
    assert [r["id"] for r in listed] == [record_id]
    verified = run(tmp_path, "verify", "--json")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["ok"] is True
    posture = json.loads(run(tmp_path, "posture", "--json").stdout)
    state = {c["control_id"]: c["state"] for c in posture["controls"]}
    assert state["SEED003-SEC-01"] == "passing"
    failing = run(tmp_path, "posture", "--fail-on", "missing")
    assert failing.returncode == 1 and "missing" in failing.stderr


def test_exception_is_recorded_and_shown_apart(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "accept-risk",
        "--control",
        "SEED003-SEC-11",
        "--reason",
        "pen test booked for January",
        "--by",
        "CISO",
        "--until",
        "2027-02-01T00:00:00Z",
    )
    assert result.returncode == 0, result.stderr
    posture = json.loads(run(tmp_path, "posture", "--json").stdout)
    state = {c["control_id"]: c for c in posture["controls"]}
    assert state["SEED003-SEC-11"]["state"] == "excepted"
    assert "CISO" in state["SEED003-SEC-11"]["exception"]


def test_tampered_blob_fails_verify_naming_the_record(tmp_path: Path) -> None:
    record_id = attested_store(tmp_path)
    shown = json.loads(run(tmp_path, "show", record_id, "--json").stdout)
    digest = shown["payload_sha256"]
    blob = next((tmp_path / ".evidence" / "blobs").rglob(f"{digest}*"))
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes().replace(b"Ada", b"Eve"))
    result = run(tmp_path, "verify")
    assert result.returncode == 1
    assert record_id in result.stderr or digest in result.stderr


def test_edited_row_fails_verify(tmp_path: Path) -> None:
    record_id = attested_store(tmp_path)
    db = sqlite3.connect(tmp_path / ".evidence" / "evidence.db")
    triggers = [name for (name,) in db.execute("select name from sqlite_master where type='trigger'")]
    for name in triggers:
        db.execute(f'drop trigger "{name}"')
    db.execute("update records set status = 'fail'")
    db.commit()
    db.close()
    result = run(tmp_path, "verify", "--json")
    assert result.returncode == 1
    assert record_id in result.stdout + result.stderr


def test_usage_and_config_errors_exit_2(tmp_path: Path) -> None:
    no_store = run(tmp_path, "list")
    assert no_store.returncode == 2 and "no evidence store" in no_store.stderr
    attested_store(tmp_path)
    assert run(tmp_path, "list", "--status", "green").returncode == 2
    missing = run(tmp_path, "show", "01NOPE")
    assert missing.returncode == 2 and "01NOPE" in missing.stderr
    bad_store = run(tmp_path, "--store", "oracle://nowhere/db", "list")
    assert bad_store.returncode == 2 and "oracle" in bad_store.stderr
    unknown_control = run(tmp_path, "append", "-c", "NOPE-1", "--statement", "x", "--by", "y")
    assert unknown_control.returncode == 2 and "NOPE-1" in unknown_control.stderr
    assert run(tmp_path, "no-such-command").returncode == 2


def test_aws_policy_is_read_only_json(tmp_path: Path) -> None:
    result = run(tmp_path, "policy", "aws")
    policy = json.loads(result.stdout)
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert "s3:GetEncryptionConfiguration" in actions and "sts:GetCallerIdentity" in actions


def test_collect_aws_appends_and_fail_on(tmp_path: Path, moto: MotoServer) -> None:
    moto.reset()
    from collectors.aws.demo import seed_estate

    seed_estate(moto.url, ("us-east-1", "eu-west-1"), services=["aws.s3"])
    env = {"EVIDENCE_AWS_ENDPOINT_URL": moto.url}
    result = run(tmp_path, "collect", "aws", "-s", "aws.s3", "-r", "us-east-1", "--json", env=env)
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert {r["evidence_type"] for r in records} >= {"aws.s3.bucket_encryption", "aws.s3.bucket_versioning"}
    again = run(tmp_path, "collect", "aws", "-s", "aws.s3", "-r", "us-east-1", "--fail-on", "fail", env=env)
    assert again.returncode == 1
    assert run(tmp_path, "verify").returncode == 0
    unknown = run(tmp_path, "collect", "aws", "-s", "aws.nothing", env=env)
    assert unknown.returncode == 2 and "aws.nothing" in unknown.stderr


def test_verify_against_a_pinned_key(tmp_path: Path) -> None:
    from evidence.signing import Signer

    attested_store(tmp_path)
    own = tmp_path / ".evidence" / "signing-key.pub.pem"
    assert run(tmp_path, "verify", "--public-key", str(own)).returncode == 0
    stranger = tmp_path / "someone-else.pem"
    stranger.write_bytes(Signer.generate().public_pem())
    result = run(tmp_path, "verify", "--public-key", str(stranger))
    assert result.returncode == 1, "a store signed by another key must not verify against the pinned key"

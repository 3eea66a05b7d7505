"""The audit's attacks on the trust of the log, from outside the store's API (SQL on the database file,
as the audit did), caught by the CLI: each exits 1 and names what happened.

The store is the embedded default (SQLite + blob folder) driven through ``evidence`` processes; the
remembered checkpoints live in a temporary state directory (``EVIDENCE_STATE_DIR``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from evidence.signing import Signer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "200",
        "EVIDENCE_STATE_DIR": str(cwd / "state"),
        **(env or {}),
    }
    for name in ("EVIDENCE_STORE_URL", "EVIDENCE_SIGNING_KEY", "EVIDENCE_WITNESSES", "EVIDENCE_TSA_URL"):
        if name not in (env or {}):
            full_env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "evidence.cli", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def attest(cwd: Path, statement: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run(
        cwd, "append", "-c", "SEED003-SEC-01", "--statement", statement, "--by", "Ada", "--json", env=env
    )


def store_with(cwd: Path, count: int) -> list[str]:
    ids = []
    for i in range(count):
        result = attest(cwd, f"statement {i}")
        assert result.returncode == 0, result.stderr
        ids.append(json.loads(result.stdout)[0]["id"])
    return ids


def tamper(cwd: Path, *statements: str) -> None:
    """Run SQL on the store's file with the append-only triggers dropped, then put them back (as an
    attacker with the file would, so that only the attack itself is there to find)."""
    db = sqlite3.connect(cwd / ".evidence" / "evidence.db")
    triggers = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    for name, _ in triggers:
        db.execute(f'DROP TRIGGER "{name}"')
    for statement in statements:
        db.execute(statement)
    for _, sql in triggers:
        db.execute(sql)
    db.commit()
    db.close()


def rewind_to(cwd: Path, size: int) -> None:
    tamper(
        cwd,
        f"DELETE FROM records WHERE seq >= {size}",
        f"DELETE FROM blob_refs WHERE seq >= {size}",
        f"DELETE FROM tree_heads WHERE size > {size}",
    )


def test_truncation_fails_against_the_remembered_and_a_trusted_head(tmp_path: Path) -> None:
    store_with(tmp_path, 3)
    assert run(tmp_path, "verify").returncode == 0  # remembers the checkpoint of size 3
    saved = run(tmp_path, "checkpoint")
    assert saved.returncode == 0, saved.stderr
    head_file = tmp_path / "head.txt"
    head_file.write_text(saved.stdout)
    rewind_to(tmp_path, 1)

    result = run(tmp_path, "verify")
    assert result.returncode == 1
    assert "[truncated] TRUNCATED" in result.stderr and "covers 3 records" in result.stderr
    # Without this machine's memory, the saved checkpoint shows it too; also for prove/consistency.
    fresh = {"EVIDENCE_STATE_DIR": str(tmp_path / "other-state")}
    trusted = run(tmp_path, "verify", "--trusted-head", str(head_file), env=fresh)
    assert trusted.returncode == 1 and "TRUNCATED" in trusted.stderr and str(head_file) in trusted.stderr
    assert (
        "TRUNCATED" in run(tmp_path, "consistency", "1", "--trusted-head", str(head_file), env=fresh).stderr
    )
    assert run(tmp_path, "consistency", "1").returncode == 1
    pinned = tmp_path / ".evidence" / "signing-key.pub.pem"
    with_key = run(
        tmp_path, "verify", "--public-key", str(pinned), "--trusted-head", str(head_file), env=fresh
    )
    assert with_key.returncode == 1 and "TRUNCATED" in with_key.stderr


def test_fork_with_the_real_key_fails(tmp_path: Path) -> None:
    ids = store_with(tmp_path, 3)
    assert run(tmp_path, "verify").returncode == 0
    head_file = tmp_path / "head.txt"
    head_file.write_text(run(tmp_path, "checkpoint").stdout)
    rewind_to(tmp_path, 2)
    # The key holder appends a different record at seq 2: a head of size 3 with another root.
    assert attest(tmp_path, "a different statement").returncode == 0
    fresh = {"EVIDENCE_STATE_DIR": str(tmp_path / "other-state")}
    assert run(tmp_path, "verify", env=fresh).returncode == 0  # internally consistent: only anchors show it

    result = run(tmp_path, "verify")
    assert result.returncode == 1 and "[forked] FORK" in result.stderr
    trusted = run(tmp_path, "verify", "--trusted-head", str(head_file), env=fresh)
    assert trusted.returncode == 1 and "FORK" in trusted.stderr
    consistency = run(tmp_path, "consistency", "2", "--trusted-head", str(head_file), env=fresh)
    assert consistency.returncode == 1 and "FORK" in consistency.stderr
    prove = run(tmp_path, "prove", ids[0], "--trusted-head", str(head_file), env=fresh)
    assert prove.returncode == 1 and "FORK" in prove.stderr


def test_key_substitution_fails_verify_prove_and_consistency(tmp_path: Path) -> None:
    from evidence.store import open_store

    ids = store_with(tmp_path, 2)
    forger = Signer.generate()
    with open_store(f"sqlite:///{tmp_path / '.evidence' / 'evidence.db'}", create=False, environ={}) as store:
        head = store.tree_head()
        assert head is not None
        forged = forger.sign_head(
            head.head.size, head.head.root, origin=head.head.origin, prev_hash=head.head.prev_hash
        )
    tamper(
        tmp_path,
        f"UPDATE tree_heads SET key_id = '{forger.key_id}', signature = '{forged.signature}' "
        f"WHERE size = {head.head.size}",
        "INSERT INTO signing_keys (key_id, public_pem, added_at) VALUES "
        f"('{forger.key_id}', '{forger.public_pem().decode()}', '2025-01-01T00:00:00.000000Z')",
    )
    for args in (("verify",), ("prove", ids[0]), ("consistency", "1")):
        result = run(tmp_path, *args)
        assert result.returncode == 1, (args, result.stderr)
        assert forger.key_id in result.stderr, (args, result.stderr)


def test_a_run_without_the_stores_key_is_refused_and_creates_no_key(tmp_path: Path) -> None:
    key = tmp_path / "ops-key.pem"
    key.write_bytes(Signer.generate().private_pem())
    key.chmod(0o600)
    env = {"EVIDENCE_SIGNING_KEY": f"file:{key}"}
    assert attest(tmp_path, "first", env=env).returncode == 0
    assert not (tmp_path / ".evidence" / "signing-key.pem").exists()

    silent = attest(tmp_path, "second, on a worker without the variable")
    assert silent.returncode == 2
    assert "opened without a signing key" in silent.stderr and "bound to key" in silent.stderr
    assert not (tmp_path / ".evidence" / "signing-key.pem").exists()
    other = tmp_path / "other-key.pem"
    other.write_bytes(Signer.generate().private_pem())
    other.chmod(0o600)
    wrong = attest(tmp_path, "third, with another key", env={"EVIDENCE_SIGNING_KEY": f"file:{other}"})
    assert (
        wrong.returncode == 1 and "is bound to signing key" in wrong.stderr and "rotate-key" in wrong.stderr
    )
    assert json.loads(run(tmp_path, "verify", "--json").stdout)["records"] == 1

    rotated = run(tmp_path, "rotate-key", "--to", f"file:{other}", env=env)
    assert rotated.returncode == 0, rotated.stderr
    assert attest(tmp_path, "after rotation", env={"EVIDENCE_SIGNING_KEY": f"file:{other}"}).returncode == 0
    verified = run(tmp_path, "verify")
    assert verified.returncode == 0, verified.stderr


def test_remembered_key_change_is_refused(tmp_path: Path) -> None:
    store_with(tmp_path, 1)
    assert run(tmp_path, "verify").returncode == 0
    # Someone replaces the whole store with one of their own at the same place.
    (tmp_path / ".evidence").rename(tmp_path / "old-store")
    store_with(tmp_path, 1)
    result = run(tmp_path, "verify")
    assert result.returncode == 1 and "[store_identity_changed] WARNING" in result.stderr
    assert run(tmp_path, "verify", "--forget").returncode == 0


def test_deleted_head_future_observation_and_clock_going_back_exit_1(
    tmp_path: Path, test_schema: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    import evidence.store.store as store_module
    from evidence.canonical import utcnow
    from evidence.store import EvidenceStore, open_store
    from tests.support.records import make_prepared

    store_with(tmp_path, 3)
    tamper(tmp_path, "DELETE FROM tree_heads WHERE size = 2")
    deleted = run(tmp_path, "verify")
    assert deleted.returncode == 1 and "[head_chain_broken]" in deleted.stderr and "size 3" in deleted.stderr
    assert "deleted" in deleted.stderr

    (tmp_path / "b").mkdir()
    store_with(tmp_path / "b", 1)
    url = f"sqlite:///{tmp_path / 'b' / '.evidence' / 'evidence.db'}"
    key = Signer.from_file(tmp_path / "b" / ".evidence" / "signing-key.pem")
    # Written by appenders without the clock rules (a collector's clock a year ahead; a signer's clock
    # an hour behind): verify names both.
    monkeypatch.setattr(store_module, "CLOCK_SKEW", timedelta(days=1000))
    with open_store(url, signer=key, environ={}) as store:
        store.append(make_prepared(1, observed_at=utcnow() + timedelta(days=365)))
    real = store_module.utcnow
    monkeypatch.setattr(EvidenceStore, "_recorded_at", lambda self, latest: real() - timedelta(hours=1))
    with open_store(url, signer=key, environ={}) as store:
        store.append(make_prepared(2))
    monkeypatch.undo()
    result = run(tmp_path / "b", "verify")
    assert result.returncode == 1
    assert "[observed_in_future]" in result.stderr and "[head_time_backwards]" in result.stderr

"""``evidence demo`` for the PostgreSQL backup families (pgsql, pgbackrest, restic, drill), as a user
runs it: real scratch clusters, Debian's pgbackrest, restic and pgbouncer, a real restore drill; every
evidence type of those families gets a pass or fail record (never an error), the store verifies, and
no scratch cluster or demo folder outlives the run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence import registry

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = ("pgsql", "pgbackrest", "restic", "drill")
# What each demo seeds on purpose (the rest passes); a type not named here must pass.
FAILING = {
    "pgsql.server.ssl",
    "pgsql.server.replication",
    "pgbackrest.stanza.cipher",
    "pgbackrest.stanza.retention",
    "restic.repository.snapshots",
}


def evidence(cwd: Path, scratch: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", "EVIDENCE_SCRATCH_ROOT": str(scratch)}
    env.pop("EVIDENCE_STORE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "evidence.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A scratch root of its own (the server user must reach it: not under pytest's private tmp)."""
    folder = Path(tempfile.mkdtemp(prefix="evidence-pg-demos-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_the_pg_demos_give_every_type_a_verified_record(tmp_path: Path, scratch: Path) -> None:
    args = [a for name in FAMILIES for a in ("--family", name)]
    done = evidence(tmp_path, scratch, "demo", *args)
    assert done.returncode == 0, done.stderr[-3000:]
    listed = evidence(tmp_path, scratch, "list", "--json", "--limit", "1000")
    assert listed.returncode == 0, listed.stderr
    records = [r for r in json.loads(listed.stdout) if r["evidence_type"].split(".")[0] in FAMILIES]
    by_type: dict[str, set[str]] = {}
    for record in records:
        assert record["status"] != "error", record
        by_type.setdefault(record["evidence_type"], set()).add(record["status"])
    expected = {t.id for name in FAMILIES for t in registry.for_family(name)}
    assert set(by_type) == expected
    for type_id, statuses in by_type.items():
        assert ("fail" in statuses) == (type_id in FAILING), (type_id, statuses)
    assert by_type["drill.restore.postgres"] == {"pass"}  # a real restore drill of the demo's backup
    verified = evidence(tmp_path, scratch, "verify", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert not [p for p in scratch.glob("*") if p.is_dir()], "a scratch cluster outlived the demo"

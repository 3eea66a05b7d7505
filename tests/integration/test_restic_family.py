"""The restic family against real repositories: the session estate's (a snapshot of a dump), an
empty one, and a wrong password."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from collectors.core.runner import collect_all
from collectors.restic.family import RESTIC
from evidence.records import PreparedRecord, RunContext
from tests.support.pgscratch import Estate


def collect(settings: dict[str, Any]) -> dict[str, PreparedRecord]:
    config = RESTIC.configure(RESTIC.connection.resolve(settings, environ={}))
    records = collect_all(RESTIC, config, RunContext(run_id="test-restic"), run_gx=False)
    return {r.draft.evidence_type: r for r in records}


def test_estate_repository_passes(pg_estate: Estate) -> None:
    records = collect(
        {"repositories": [str(pg_estate.restic_repo)], "password_file": str(pg_estate.restic_password_file)}
    )
    assert {k: r.draft.status for k, r in records.items()} == {
        "restic.repository.snapshots": "pass",
        "restic.repository.check": "pass",
        "restic.repository.encryption": "pass",
    }


def test_empty_repository_fails_and_wrong_password_is_an_error(pg_estate: Estate) -> None:
    folder = Path(tempfile.mkdtemp(prefix="restic-empty-"))
    try:
        env = {**os.environ, "RESTIC_PASSWORD_FILE": str(pg_estate.restic_password_file)}
        subprocess.run(
            ["restic", "-q", "-r", str(folder / "repo"), "init"], check=True, env=env, capture_output=True
        )
        records = collect(
            {"repositories": [str(folder / "repo")], "password_file": str(pg_estate.restic_password_file)}
        )
        assert records["restic.repository.snapshots"].draft.status == "fail"
        wrong = folder / "wrong"
        wrong.write_text("not the password")
        denied = collect({"repositories": [str(folder / "repo")], "password_file": str(wrong)})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert denied["restic.repository.snapshots"].draft.status == "error"
    assert b"not the password" not in denied["restic.repository.snapshots"].payload

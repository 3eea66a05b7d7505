"""Restore drills end to end on real PostgreSQL, pgBackRest and restic: pass cases, and each failure
a ``fail`` record naming its cause, with no scratch cluster, port, process or folder left behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors import pgscratch as scratch
from collectors.drill import manifest as manifests
from collectors.drill.family import run_restore_drill
from evidence.records import PreparedRecord, RunContext
from tests.support.pgscratch import STANZA, Estate, copy_tree, pgbackrest_config

ROOT = Path(__file__).resolve().parents[2]


def drill(estate: Estate, **settings: Any) -> tuple[PreparedRecord, dict[str, Any]]:
    record = run_restore_drill(estate.settings(**settings), RunContext(run_id="test-drill"), run_gx=False)
    return record, json.loads(record.payload)


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture(autouse=True)
def nothing_left_behind() -> Iterator[None]:
    yield
    assert scratch.leftovers() == [], "a drill left a scratch cluster behind"


def test_basebackup_drill_passes_with_every_step_timed(pg_estate: Estate) -> None:
    record, payload = drill(pg_estate, source="basebackup", check_sql=["SELECT count(*) = 500 FROM accounts"])
    assert record.draft.status == "pass", record.draft.reason
    names = [s["name"] for s in payload["steps"]]
    assert names == [
        "reap",
        "locate",
        "verify_backup",
        "restore",
        "start",
        "verify_data",
        "check_sql",
        "cleanup",
    ]
    assert all(s["outcome"] == "ok" for s in payload["steps"]), payload["steps"]
    assert payload["tables_checked"] == 2 and payload["rows_checked"] == 1500
    assert 0 < payload["rto_seconds"] <= payload["rto_target_seconds"]
    assert 0 <= payload["rpo_seconds"] <= payload["rpo_target_seconds"]
    assert record.draft.population.total == 2
    assert record.draft.target["source"] == "basebackup"
    assert any(c.service == "basebackup" for c in record.draft.provenance.api_calls)


def test_pgbackrest_drill_passes(pg_estate: Estate) -> None:
    record, payload = drill(pg_estate, source="pgbackrest")
    assert record.draft.status == "pass", record.draft.reason
    names = [s["name"] for s in payload["steps"]]
    # the restore checks every file against the set's manifest: recorded after it, nothing read twice
    assert names.index("verify_backup") == names.index("restore") + 1
    assert next(s["detail"] for s in payload["steps"] if s["name"] == "verify_backup").startswith(
        "pgbackrest restore checked each file"
    )
    assert not any(c.operation == "verify" for c in record.draft.provenance.api_calls)
    assert payload["backup_consistent_at"] is not None


def test_pgbackrest_drill_can_verify_the_whole_repository(pg_estate: Estate) -> None:
    record, payload = drill(pg_estate, source="pgbackrest", verify_repository=True)
    assert record.draft.status == "pass", record.draft.reason
    names = [s["name"] for s in payload["steps"]]
    assert names.index("verify_backup") < names.index("restore")  # alongside it
    assert next(s["detail"] for s in payload["steps"] if s["name"] == "verify_backup").startswith(
        "pgbackrest verify"
    )
    assert any(c.operation == "verify" for c in record.draft.provenance.api_calls)


def test_restic_drill_passes(pg_estate: Estate) -> None:
    record, payload = drill(pg_estate, source="restic")
    assert record.draft.status == "pass", record.draft.reason
    names = [s["name"] for s in payload["steps"]]
    assert names.index("load") > names.index("restore") > names.index("start")
    # the empty cluster the dump loads into was made and started while the dump was fetched
    start = next(s for s in payload["steps"] if s["name"] == "start")
    assert start["outcome"] == "ok" and start["detail"].endswith("(alongside the restore)")
    assert payload["rows_checked"] == 1500


def test_impossible_rto_is_a_fail_with_the_figures(pg_estate: Estate) -> None:
    record, payload = drill(pg_estate, source="basebackup", rto=0.001)
    assert record.draft.status == "fail"
    assert "RTO" in record.draft.reason and "exceeds the target 0.001 s" in record.draft.reason
    assert payload["rto_met"] is False


def test_corrupt_basebackup_file_fails_verification(pg_estate: Estate) -> None:
    folder = copy_tree(pg_estate.basebackup_dir, "drill-corrupt-")
    try:
        backup = sorted(p for p in folder.iterdir() if p.is_dir())[-1]
        victim = next(
            p for p in sorted((backup / "base").rglob("*")) if p.is_file() and p.stat().st_size > 8192
        )
        with victim.open("r+b") as handle:
            handle.seek(100)
            handle.write(b"\xff" * 64)
        record, _ = drill(pg_estate, source="basebackup", basebackup_dir=str(folder))
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)
    assert record.draft.status == "fail"
    assert record.draft.reason.startswith("verify_backup failed: pg_verifybackup"), record.draft.reason
    assert "checksum mismatch" in record.draft.reason


def test_checksum_mismatch_after_restore_fails_naming_the_table(pg_estate: Estate) -> None:
    folder = copy_tree(pg_estate.basebackup_dir, "drill-mismatch-")
    try:
        side = sorted(folder.glob("*.manifest.json"))[-1]
        held = json.loads(side.read_text())
        held["databases"]["app"]["public.accounts"]["checksum"] = "0" * 32
        side.write_text(json.dumps(held))
        record, payload = drill(pg_estate, source="basebackup", basebackup_dir=str(folder))
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)
    assert record.draft.status == "fail"
    assert "app/public.accounts (checksum mismatch" in record.draft.reason
    assert record.draft.population.by_status == {"pass": 1, "fail": 1}
    assert [s["outcome"] for s in payload["steps"] if s["name"] == "verify_data"] == ["failed"]


def test_a_manifest_with_the_older_checksum_is_compared_with_it(pg_estate: Estate) -> None:
    """Manifests written before ``checksum_algorithm`` (md5 over the sorted row md5s) still verify."""
    folder = copy_tree(pg_estate.basebackup_dir, "drill-legacy-")
    try:
        side = sorted(folder.glob("*.manifest.json"))[-1]
        held = json.loads(side.read_text())
        assert held["checksum_algorithm"] == "hash-sum"
        live = pg_estate.cluster.conninfo()
        assert manifests.take(live)["databases"] == held["databases"]  # unchanged since the backup
        held["databases"] = manifests.take(live, None, "md5-sorted")["databases"]
        del held["checksum_algorithm"]
        side.write_text(json.dumps(held))
        record, payload = drill(pg_estate, source="basebackup", basebackup_dir=str(folder))
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)
    assert record.draft.status == "pass", record.draft.reason
    assert payload["tables_checked"] == 2 and all(r["checksum_match"] for r in payload["rows"])


def _damaged_pgbackrest(estate: Estate, prefix: str) -> tuple[Path, Path]:
    repo = copy_tree(estate.repo, prefix)
    config = pgbackrest_config(repo.parent, estate.cluster, repo)
    scratch.give_to_server_user(repo.parent)
    return repo, config


def test_missing_wal_segment_fails_the_pgbackrest_drill(pg_estate: Estate) -> None:
    repo, config = _damaged_pgbackrest(pg_estate, "drill-nowal-")
    try:
        segments = sorted((repo / "archive" / STANZA).rglob("0000000100000000000000*"))
        needed = [s for s in segments if not s.name.endswith(".backup")]
        for segment in needed:
            segment.unlink()
        record, _payload = drill(pg_estate, source="pgbackrest", pgbackrest_config=str(config))
    finally:
        shutil.rmtree(repo.parent, ignore_errors=True)
    assert record.draft.status == "fail", record.draft.reason
    assert record.draft.reason.startswith("start failed:"), record.draft.reason
    assert "FATAL" in record.draft.reason  # the server's own words: recovery could not find the WAL


def _corrupt_a_pgbackrest_file(repo: Path) -> Path:
    victim = next(
        f
        for f in sorted((repo / "backup" / STANZA).rglob("*.lz4"))
        if f.is_file() and f.stat().st_size > 4000
    )
    with victim.open("r+b") as handle:
        handle.seek(50)
        handle.write(b"\xff" * 32)
    return victim


def test_corrupt_pgbackrest_file_fails_the_restore(pg_estate: Estate) -> None:
    repo, config = _damaged_pgbackrest(pg_estate, "drill-corrupt-repo-")
    try:
        victim = _corrupt_a_pgbackrest_file(repo)
        record, payload = drill(pg_estate, source="pgbackrest", pgbackrest_config=str(config))
    finally:
        shutil.rmtree(repo.parent, ignore_errors=True)
    assert record.draft.status == "fail"
    # the restore stops on the bad file; the verifier, run only then, names it
    assert [s["outcome"] for s in payload["steps"] if s["name"] == "restore"] == ["failed"]
    assert record.draft.reason.startswith("verify_backup failed: pgbackrest verify"), record.draft.reason
    assert "invalid checksum '" in record.draft.reason and victim.name in record.draft.reason


def test_corrupt_pgbackrest_file_fails_the_repository_verify(pg_estate: Estate) -> None:
    repo, config = _damaged_pgbackrest(pg_estate, "drill-corrupt-verify-")
    try:
        victim = _corrupt_a_pgbackrest_file(repo)
        record, _ = drill(
            pg_estate, source="pgbackrest", pgbackrest_config=str(config), verify_repository=True
        )
    finally:
        shutil.rmtree(repo.parent, ignore_errors=True)
    assert record.draft.status == "fail"
    assert record.draft.reason.startswith("verify_backup failed: pgbackrest verify"), record.draft.reason
    assert "invalid checksum '" in record.draft.reason and victim.name in record.draft.reason


def test_empty_restic_repository_fails(pg_estate: Estate) -> None:
    empty = Path(tempfile.mkdtemp(prefix="drill-restic-empty-")) / "repo"
    try:
        env = {**os.environ, "RESTIC_PASSWORD_FILE": str(pg_estate.restic_password_file)}
        subprocess.run(["restic", "-q", "-r", str(empty), "init"], check=True, env=env, capture_output=True)
        record, _ = drill(pg_estate, source="restic", restic_repository=str(empty))
    finally:
        shutil.rmtree(empty.parent, ignore_errors=True)
    assert record.draft.status == "fail"
    assert "has no snapshots" in record.draft.reason


def test_a_restic_snapshot_without_a_dump_fails_and_stops_the_cluster_made_beside_it(
    pg_estate: Estate,
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="drill-restic-nodump-"))
    try:
        env = {**os.environ, "RESTIC_PASSWORD_FILE": str(pg_estate.restic_password_file)}
        repo, files = folder / "repo", folder / "dumps"
        files.mkdir()
        (files / "notes.txt").write_text("not a database dump\n")
        subprocess.run(["restic", "-q", "-r", str(repo), "init"], check=True, env=env, capture_output=True)
        subprocess.run(
            ["restic", "-q", "-r", str(repo), "backup", "--tag", "evidence-dump", str(files)],
            check=True,
            env=env,
            capture_output=True,
        )
        record, payload = drill(pg_estate, source="restic", restic_repository=str(repo))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert record.draft.status == "fail"
    assert record.draft.reason.startswith("restore failed: snapshot"), record.draft.reason
    assert "holds no database dump" in record.draft.reason
    outcomes = {s["name"]: s["outcome"] for s in payload["steps"]}
    assert outcomes["start"] == "ok" and outcomes["restore"] == "failed" and outcomes["cleanup"] == "ok"
    port = int(next(s for s in payload["steps"] if s["name"] == "start")["detail"].split(":")[-1].split()[0])
    assert port_free(port)  # the cluster started beside the restore was stopped with it


@pytest.mark.parametrize("source", ["restic", "pgbackrest"])
def test_a_drill_whose_tool_is_not_installed_is_an_error_not_a_fail(
    pg_estate: Estate, source: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a host without the backup tool
    record, payload = drill(pg_estate, source=source)
    assert record.draft.status == "error", record.draft.reason
    assert f"{source} is not installed on this host" in record.draft.reason
    assert payload["error"]["code"] == "ToolNotFound"
    assert [(c.operation, c.error_code) for c in record.draft.provenance.api_calls][-1][1] == "ToolNotFound"


def test_a_source_without_its_settings_is_an_error_not_a_fail(pg_estate: Estate) -> None:
    record = run_restore_drill({"source": "pgbackrest"}, RunContext(run_id="t"), run_gx=False)
    assert record.draft.status == "error"
    assert "stanza" in record.draft.reason


def test_keep_leaves_the_restored_cluster_serving(pg_estate: Estate) -> None:
    record, payload = drill(pg_estate, source="basebackup", keep=True)
    kept = payload["kept"]
    try:
        assert record.draft.status == "pass"
        assert not port_free(kept["port"])
        assert scratch.reap() == []  # a kept cluster is not reaped
    finally:
        scratch.ScratchCluster(folder=Path(kept["folder"]), port=kept["port"]).destroy()
    assert port_free(kept["port"])


KILLED = """
import os, sys
from collectors import pgscratch as scratch
cluster = scratch.initdb("killed")
cluster.start()
print(cluster.folder, cluster.port, flush=True)
os.kill(os.getpid(), 9)
"""


def test_a_killed_drill_is_reaped_by_the_next(pg_estate: Estate) -> None:
    done = subprocess.run([sys.executable, "-c", KILLED], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == -signal.SIGKILL
    folder, port = done.stdout.split()
    assert Path(folder).exists() and not port_free(int(port))
    record, payload = drill(pg_estate, source="basebackup")
    assert payload["steps"][0]["name"] == "reap" and "removed 1" in payload["steps"][0]["detail"]
    assert not Path(folder).exists() and port_free(int(port))
    assert record.draft.status == "pass"


def test_cli_runs_a_drill_appends_its_record_and_exits_1_on_fail(pg_estate: Estate, tmp_path: Path) -> None:
    env = {**os.environ, "EVIDENCE_STORE_URL": f"sqlite:///{tmp_path}/store.db"}
    argv = [
        str(ROOT / ".venv/bin/evidence"),
        "drill",
        "restore",
        "--source",
        "basebackup",
        "--basebackup-dir",
        str(pg_estate.basebackup_dir),
        "--rto",
        "0.001",
        "--rpo",
        "3600",
        "--check-sql",
        "SELECT true",
        "--json",
    ]
    failing = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert failing.returncode == 1, failing.stderr
    out = json.loads(failing.stdout)
    assert out["status"] == "fail" and "RTO" in out["reason"] and out["seq"] == 0
    assert out["tables_checked"] == 2 and [s["name"] for s in out["steps"]][-1] == "cleanup"

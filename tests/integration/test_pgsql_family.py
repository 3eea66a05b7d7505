"""The postgres family against the session's scratch cluster, a pgbouncer in front of it and its
pg_basebackup folder: what passes, what fails (ssl off, no standby, a corrupt backup), and an
unreachable server as ``error`` records."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors.core.runner import collect_all
from collectors.pgscratch import as_server_user, free_port, give_to_server_user
from collectors.pgsql.family import POSTGRES
from evidence.records import PreparedRecord, RunContext
from tests.support.pgscratch import Estate, copy_tree


def collect(settings: dict[str, Any]) -> dict[str, PreparedRecord]:
    config = POSTGRES.configure(POSTGRES.connection.resolve(settings, environ={}))
    records = collect_all(POSTGRES, config, RunContext(run_id="test-postgres"), run_gx=False)
    return {r.draft.evidence_type: r for r in records}


def rows(record: PreparedRecord) -> list[dict[str, Any]]:
    return list(json.loads(record.payload)["rows"])


@pytest.fixture(scope="module")
def pgbouncer(pg_estate: Estate) -> Iterator[int]:
    folder = Path(tempfile.mkdtemp(prefix="evidence-pgbouncer-"))
    port = free_port()
    (folder / "users.txt").write_text('"postgres" ""\n')
    (folder / "pgbouncer.ini").write_text(
        f"[databases]\napp = host=127.0.0.1 port={pg_estate.cluster.port} dbname=app\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'users.txt'}\n"
        "admin_users = postgres\nstats_users = postgres\n"
        f"pool_mode = transaction\ndefault_pool_size = 5\nlogfile = {folder / 'pgbouncer.log'}\n"
    )
    give_to_server_user(folder)
    process = subprocess.Popen(as_server_user(["pgbouncer", str(folder / "pgbouncer.ini")]))
    try:
        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def test_scratch_server_evidence(pg_estate: Estate, pgbouncer: int) -> None:
    records = collect(
        {
            "host": "127.0.0.1",
            "port": pg_estate.cluster.port,
            "user": "postgres",
            "pgbouncer_port": pgbouncer,
            "basebackup_dir": str(pg_estate.basebackup_dir),
        }
    )
    status = {k: r.draft.status for k, r in records.items()}
    assert status == {
        "pgsql.server.ssl": "fail",  # the scratch cluster runs without TLS: a finding
        "pgsql.server.connections": "pass",
        "pgsql.server.replication": "fail",  # no standby
        "pgsql.pooler.pgbouncer": "pass",
        "pgsql.basebackup.verified": "pass",
    }, {k: r.draft.reason for k, r in records.items()}
    assert rows(records["pgsql.server.ssl"])[0]["reason"] == "ssl is off: connections are in clear"
    assert rows(records["pgsql.pooler.pgbouncer"])[0]["pool_mode"] == "transaction"


def test_corrupt_basebackup_fails_and_unset_sources_do_not_apply(pg_estate: Estate) -> None:
    folder = copy_tree(pg_estate.basebackup_dir, "pg-corrupt-")
    try:
        backup = sorted(p for p in folder.iterdir() if p.is_dir())[-1]
        (backup / "PG_VERSION").write_text("99\n")
        records = collect(
            {
                "host": "127.0.0.1",
                "port": pg_estate.cluster.port,
                "basebackup_dir": str(folder),
                "require_standby": False,
            }
        )
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)
    backups = records["pgsql.basebackup.verified"].draft
    assert backups.status == "fail" and "pg_verifybackup" in backups.reason
    assert records["pgsql.pooler.pgbouncer"].draft.status == "not_applicable"
    assert records["pgsql.server.replication"].draft.status == "not_applicable"


def test_unreachable_server_is_an_error_naming_it() -> None:
    records = collect({"host": "127.0.0.1", "port": free_port(), "password": "s3cret-value"})
    ssl = records["pgsql.server.ssl"]
    assert ssl.draft.status == "error" and "127.0.0.1" in ssl.draft.reason
    assert b"s3cret-value" not in ssl.payload


def test_a_streaming_standby_makes_replication_pass(pg_estate: Estate) -> None:
    from collectors import pgscratch as scratch

    standby = scratch.new_cluster("standby")
    try:
        primary = pg_estate.cluster
        scratch.run(
            [
                scratch.tool("pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(primary.port),
                "-U",
                "postgres",
                "-D",
                str(standby.datadir),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ]
        )
        standby.configure()
        standby.start()
        for _ in range(100):
            if pg_estate.sql(
                "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", "postgres"
            )[0][0]:
                break
            time.sleep(0.1)
        records = collect({"host": "127.0.0.1", "port": primary.port, "user": "postgres"})
    finally:
        standby.destroy()
    replication = records["pgsql.server.replication"]
    assert replication.draft.status == "pass", replication.draft.reason
    row = rows(replication)[0]
    assert row["standbys"] == 1 and row["sync_standbys"] == 0 and row["max_lag_bytes"] is not None

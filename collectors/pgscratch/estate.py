"""Building blocks for small PostgreSQL estates on scratch clusters (the families' demos and the tests):
sample data, a pgBackRest stanza archiving the cluster's WAL, a ``pg_basebackup``, a ``pg_dump`` in a
restic repository and a pgbouncer in front of the cluster. Every tool is the host's own (Debian's
postgresql, pgbackrest, restic, pgbouncer); nothing here is a fake.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from collectors.core.commands import stop_process
from collectors.pgscratch import (
    SERVER_USER,
    ScratchCluster,
    ScratchError,
    as_server_user,
    free_port,
    give_to_server_user,
    run,
    tool,
)

STANZA = "main"


def sql(cluster: ScratchCluster, statement: str, dbname: str = "app") -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(cluster.dsn(dbname), autocommit=True) as conn:
        cur = conn.execute(statement)
        return list(cur.fetchall()) if cur.description else []


def seed(cluster: ScratchCluster, rows: int = 500) -> None:
    """An ``app`` database with two small tables."""
    sql(cluster, "CREATE DATABASE app", dbname="postgres")
    sql(
        cluster,
        "CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric NOT NULL);"
        f"INSERT INTO accounts SELECT g, 'owner-' || g, g * 1.5 FROM generate_series(1, {rows}) g;"
        "CREATE TABLE events (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), kind text);"
        f"INSERT INTO events (kind) SELECT 'kind-' || (g % 7) FROM generate_series(1, {rows * 2}) g;",
    )


def pgbackrest_config(
    folder: Path,
    cluster: ScratchCluster,
    repo: Path,
    cipher_pass: str | None = None,
    retention_full: int = 2,
    stanza: str = STANZA,
) -> Path:
    """A pgbackrest.conf for one stanza of ``cluster`` with its repository in ``repo`` (encrypted when
    ``cipher_pass`` is given)."""
    for sub in ("log", "lock", "spool"):
        (folder / sub).mkdir(exist_ok=True)
    cipher_lines = f"repo1-cipher-type=aes-256-cbc\nrepo1-cipher-pass={cipher_pass}\n" if cipher_pass else ""
    path = folder / "pgbackrest.conf"
    path.write_text(
        "[global]\n"
        f"repo1-path={repo}\nrepo1-retention-full={retention_full}\n{cipher_lines}"
        f"log-path={folder / 'log'}\nlock-path={folder / 'lock'}\nspool-path={folder / 'spool'}\n"
        "log-level-file=off\nstart-fast=y\ncompress-type=lz4\n\n"
        f"[{stanza}]\npg1-path={cluster.datadir}\npg1-port={cluster.port}\n"
        f"pg1-socket-path={cluster.socket_dir}\npg1-user={SERVER_USER}\n"
    )
    path.chmod(0o600)
    return path


def archive_to(cluster: ScratchCluster, config: Path, stanza: str = STANZA) -> None:
    """Configure ``cluster`` (not yet started) to archive its WAL into the stanza."""
    cluster.configure(
        {
            "wal_level": "replica",
            "archive_mode": "on",
            "archive_command": f"'pgbackrest --config={config} --stanza={stanza} archive-push %p'",
        }
    )


def pgbackrest(config: Path, stanza: str, *args: str) -> str:
    return run(["pgbackrest", f"--config={config}", f"--stanza={stanza}", "--log-level-console=warn", *args])


def basebackup(cluster: ScratchCluster, dest: Path) -> Path:
    """One ``pg_basebackup`` (with its backup_manifest and WAL) into ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    run(
        [
            tool("pg_basebackup"),
            "-h",
            "127.0.0.1",
            "-p",
            str(cluster.port),
            "-U",
            SERVER_USER,
            "-D",
            str(dest),
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        ],
        as_server=False,
        timeout=300,
    )
    return dest


def restic_env(repo: Path, password_file: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    env["RESTIC_REPOSITORY"] = str(repo)
    env["RESTIC_PASSWORD_FILE"] = str(password_file)
    env["RESTIC_CACHE_DIR"] = str(repo.parent / "restic-cache")
    return env


def restic_init(repo: Path, password_file: Path) -> None:
    run(["restic", "-q", "init"], as_server=False, env=restic_env(repo, password_file), timeout=120)


def restic_dump(cluster: ScratchCluster, repo: Path, password_file: Path, dbname: str = "app") -> None:
    """``pg_dump -Fc`` of ``dbname`` into a snapshot of ``repo``."""
    work = repo.parent / "dump"
    work.mkdir(exist_ok=True)
    dump = work / f"{dbname}.dump"
    run(
        [
            tool("pg_dump"),
            "-Fc",
            "-h",
            "127.0.0.1",
            "-p",
            str(cluster.port),
            "-U",
            SERVER_USER,
            "-f",
            str(dump),
            dbname,
        ],
        as_server=False,
        timeout=300,
    )
    run(
        ["restic", "-q", "backup", "--tag", "pg_dump", "."],
        as_server=False,
        env=restic_env(repo, password_file),
        cwd=str(work),
        timeout=300,
    )


@contextlib.contextmanager
def pgbouncer(
    cluster: ScratchCluster, folder: Path, dbname: str = "app", stats_user: str = SERVER_USER
) -> Iterator[int]:
    """A pgbouncer on a free loopback port pooling ``dbname`` of ``cluster`` in transaction mode, with
    ``stats_user`` allowed on its console; yields the port, stopped (by its own process id) on exit."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "userlist.txt").write_text(f'"{SERVER_USER}" ""\n"{stats_user}" ""\n')
    ini = folder / "pgbouncer.ini"
    ini.write_text(
        f"[databases]\n{dbname} = host=127.0.0.1 port={cluster.port} dbname={dbname}\n\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'userlist.txt'}\n"
        f"admin_users = {SERVER_USER}\nstats_users = {stats_user}\n"
        "pool_mode = transaction\ndefault_pool_size = 10\nmax_client_conn = 100\n"
        "logfile =\nsyslog = 0\n"
    )
    give_to_server_user(folder)
    process = subprocess.Popen(
        as_server_user([binary, str(ini)]), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                err = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise ScratchError(f"pgbouncer exited: {' '.join(err.split())[-300:]}")
            try:
                import socket

                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise ScratchError(f"pgbouncer did not listen on 127.0.0.1:{port} within 10 s") from None
                time.sleep(0.05)
        yield port
    finally:
        stop_process(process)

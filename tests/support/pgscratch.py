"""Scratch PostgreSQL estates for tests: a source cluster with sample data, archiving its WAL to a
pgBackRest repository (encrypted), with pg_basebackup and restic backups beside it.

Built on ``collectors.pgscratch`` (the scratch clusters drills and demos share), so tests, demos and
drills reap the same way. One estate per test session (``tests/integration/conftest.py``): building
it costs a few seconds; each test restores from it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collectors.drill.sources import BaseBackup, PgBackRest, Restic
from collectors.pgscratch import ScratchCluster, give_to_server_user, initdb, run
from collectors.pgscratch import estate as shared
from collectors.pgscratch.estate import STANZA

CIPHER_PASS = "test-cipher-passphrase"
RESTIC_PASSWORD = "test-restic-password"


@dataclass
class Estate:
    cluster: ScratchCluster
    folder: Path  # repositories and configuration
    pgbackrest_config: Path
    repo: Path
    manifest_dir: Path
    basebackup_dir: Path
    restic_repo: Path
    restic_password_file: Path

    def settings(self, **extra: Any) -> dict[str, Any]:
        return {
            "stanza": STANZA,
            "pgbackrest_config": str(self.pgbackrest_config),
            "manifest_dir": str(self.manifest_dir),
            "basebackup_dir": str(self.basebackup_dir),
            "restic_repository": str(self.restic_repo),
            "restic_password_file": str(self.restic_password_file),
            **extra,
        }

    def sql(self, statement: str, dbname: str = "app") -> list[tuple[Any, ...]]:
        return shared.sql(self.cluster, statement, dbname)

    def pgbackrest(self) -> PgBackRest:
        return PgBackRest(self.settings())

    def basebackup(self) -> BaseBackup:
        return BaseBackup(self.settings())

    def restic(self) -> Restic:
        return Restic(self.settings())


def pgbackrest_config(folder: Path, cluster: ScratchCluster, repo: Path, cipher: bool = True) -> Path:
    return shared.pgbackrest_config(folder, cluster, repo, cipher_pass=CIPHER_PASS if cipher else None)


def seed(estate: Estate, rows: int = 500) -> None:
    shared.seed(estate.cluster, rows)


WIDE_ROW_BYTES = 1170  # one ``documents`` row on disk: 7 tuples of ~1 KB (31 md5 hex strings) per 8 KB page


def fill(estate: Estate, megabytes: int) -> None:
    """A ``documents`` table of about ``megabytes`` (wide rows of hex text, about as compressible as
    real text), inserted set-wise so a 1 GB database takes a minute or two, not hours."""
    rows = int(megabytes * 2**20 / WIDE_ROW_BYTES)
    body = " || ".join(f"md5(g::text || '{i}')" for i in range(31))
    estate.sql("CREATE TABLE documents (id bigint PRIMARY KEY, body text NOT NULL)")
    step = 200_000
    for lo in range(1, rows + 1, step):
        hi = min(lo + step - 1, rows)
        estate.sql(f"INSERT INTO documents SELECT g, {body} FROM generate_series({lo}, {hi}) g")
    estate.sql("VACUUM ANALYZE documents")


@contextmanager
def estate(rows: int = 500, megabytes: int = 0) -> Iterator[Estate]:
    """A running source cluster archiving to pgBackRest, with one backup of each kind taken (plus a
    ``documents`` table of ``megabytes`` when asked: the benchmark's big database)."""
    folder = Path(tempfile.mkdtemp(prefix="evidence-estate-"))
    folder.chmod(0o755)
    cluster = initdb("estate", settings={"wal_level": "replica", "max_wal_senders": "4"})
    try:
        repo = folder / "pgbackrest-repo"
        repo.mkdir()
        config = pgbackrest_config(folder, cluster, repo)
        cluster.configure(
            {
                "archive_mode": "on",
                "archive_command": f"'pgbackrest --config={config} --stanza={STANZA} archive-push %p'",
            }
        )
        give_to_server_user(folder)
        cluster.start()
        restic_pw = folder / "restic-password"
        restic_pw.write_text(RESTIC_PASSWORD)
        restic_pw.chmod(0o600)
        built = Estate(
            cluster=cluster,
            folder=folder,
            pgbackrest_config=config,
            repo=repo,
            manifest_dir=folder / "manifests",
            basebackup_dir=folder / "basebackups",
            restic_repo=folder / "restic-repo",
            restic_password_file=restic_pw,
        )
        seed(built, rows)
        if megabytes:
            fill(built, megabytes)
        run(
            [
                "pgbackrest",
                f"--config={config}",
                f"--stanza={STANZA}",
                "--log-level-console=warn",
                "stanza-create",
            ]
        )
        built.manifest_dir.mkdir()
        give_to_server_user(built.manifest_dir)
        built.pgbackrest().take(cluster.conninfo())
        built.basebackup().take(cluster.conninfo())
        restic = built.restic()
        restic.restic("init", "init")
        restic.take(cluster.conninfo(), ["app"])
        yield built
    finally:
        cluster.destroy()
        shutil.rmtree(folder, ignore_errors=True)


def copy_tree(source: Path, prefix: str) -> Path:
    """A copy of a repository or backup folder that a test may damage."""
    dest = Path(tempfile.mkdtemp(prefix=prefix)) / source.name
    shutil.copytree(source, dest, symlinks=True)
    give_to_server_user(dest.parent)
    return dest


def environ_without_restic() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}


def _fixture() -> Any:
    import pytest

    @pytest.fixture(scope="session")
    def pg_estate() -> Iterator[Estate]:
        """One source cluster with a pgBackRest, a pg_basebackup and a restic backup, per session."""
        with estate() as built:
            yield built

    return pg_estate


pg_estate = _fixture()

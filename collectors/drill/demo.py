"""The drill demo estate: a scratch PostgreSQL cluster on loopback with sample data and one
``pg_basebackup`` of it (with the manifest of row counts and checksums the drill compares against);
the drill then restores that backup into its own scratch cluster, verifies it and times RTO/RPO; a
failover and a replication drill then run on a scratch primary and standby pair of their own.
The source cluster is stopped right after the backup; everything is removed on exit.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from collectors.drill.sources import BaseBackup
from collectors.pgscratch import scratch_cluster
from collectors.pgscratch.estate import seed
from evidence.family import DemoEstate

CHECKS = ("SELECT count(*) = 200 FROM accounts", "SELECT sum(balance) > 0 FROM accounts")


@contextmanager
def demo_estate() -> Iterator[DemoEstate]:
    folder = Path(tempfile.mkdtemp(prefix="evidence-drill-demo-"))
    folder.chmod(0o755)
    try:
        settings = {
            "source": "basebackup",
            "basebackup_dir": str(folder / "basebackups"),
            "check_sql": list(CHECKS),
            "database": "app",
            "rto": 600.0,
            "rpo": 3600.0,
            # The demo shows every drill: the restore of this backup, and a failover and a
            # replication drill on a scratch primary and standby of their own.
            "kinds": ["restore", "failover", "replication"],
        }
        with scratch_cluster(
            "demo-drill", settings={"wal_level": "replica", "max_wal_senders": "4"}
        ) as cluster:
            seed(cluster, rows=200)
            backup = BaseBackup(settings).take(cluster.conninfo())
        yield DemoEstate(
            settings=settings,
            description=f"pg_basebackup {backup} of a scratch cluster (app: 200 accounts) to restore-drill",
            extra={"backup": backup},
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)

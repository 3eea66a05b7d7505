"""The pgsql demo estate: one scratch PostgreSQL cluster on loopback with sample data, a pgbouncer
pooling it and a ``pg_basebackup`` of it; stopped and removed on exit.

Compliant: the pooler, the verified base backup, the collector's least-privilege role. Not compliant,
on purpose: no TLS, password-less (trust) pg_hba lines and no streaming standby.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from collectors.pgscratch import scratch_cluster
from collectors.pgscratch.estate import basebackup, pgbouncer, seed, sql
from collectors.pgsql.family import COLLECTOR_ROLE, POSTGRES
from evidence.family import DemoEstate


@contextmanager
def demo_estate() -> Iterator[DemoEstate]:
    folder = Path(tempfile.mkdtemp(prefix="evidence-pgsql-demo-"))
    folder.chmod(0o755)
    try:
        with scratch_cluster(
            "demo-pgsql", settings={"wal_level": "replica", "max_wal_senders": "4"}
        ) as cluster:
            seed(cluster, rows=200)
            sql(cluster, POSTGRES.policy(), "postgres")  # the collector role, least privilege
            basebackup(cluster, folder / "basebackups" / "nightly")
            with pgbouncer(cluster, folder / "pgbouncer", stats_user=COLLECTOR_ROLE) as port:
                yield DemoEstate(
                    settings={
                        "host": "127.0.0.1",
                        "port": cluster.port,
                        "user": COLLECTOR_ROLE,
                        "dbname": "postgres",
                        "pgbouncer_host": "127.0.0.1",
                        "pgbouncer_port": port,
                        "basebackup_dir": str(folder / "basebackups"),
                    },
                    description=(
                        f"PostgreSQL scratch cluster on 127.0.0.1:{cluster.port} (no TLS, trust auth, "
                        f"no standby), pgbouncer on 127.0.0.1:{port}, one pg_basebackup"
                    ),
                    extra={"cluster": str(cluster.folder)},
                )
    finally:
        shutil.rmtree(folder, ignore_errors=True)

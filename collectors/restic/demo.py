"""The restic demo estate: a scratch PostgreSQL cluster on loopback whose ``pg_dump`` is backed up
into one restic repository (Debian's restic), beside a second repository that was initialised but
never received a snapshot; the cluster is stopped and everything removed on exit.

Compliant: the ``payments`` repository (a fresh snapshot, sound, encrypted). Not compliant, on
purpose: the ``archive`` repository holds no snapshot.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from collectors.pgscratch import scratch_cluster
from collectors.pgscratch.estate import restic_dump, restic_init, seed
from evidence.family import DemoEstate


@contextmanager
def demo_estate() -> Iterator[DemoEstate]:
    folder = Path(tempfile.mkdtemp(prefix="evidence-restic-demo-"))
    try:
        password_file = folder / "restic-password"
        password_file.write_text(secrets.token_urlsafe(24))
        password_file.chmod(0o600)
        good, empty = folder / "payments" / "repo", folder / "archive" / "repo"
        for repo in (good, empty):
            repo.parent.mkdir(parents=True)
            restic_init(repo, password_file)
        with scratch_cluster("demo-restic") as cluster:
            seed(cluster, rows=200)
            restic_dump(cluster, good, password_file)
        yield DemoEstate(
            settings={"repositories": [str(good), str(empty)], "password_file": str(password_file)},
            description="restic repositories: payments (pg_dump of a scratch cluster) and archive (empty)",
            extra={"compliant": str(good), "empty": str(empty)},
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)

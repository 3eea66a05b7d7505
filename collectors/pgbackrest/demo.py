"""The pgBackRest demo estate: one scratch PostgreSQL cluster on loopback archiving its WAL into a
pgBackRest repository (Debian's pgbackrest), with one full backup taken; stopped and removed on exit.

Compliant: the stanza check, a recent full backup, a continuous WAL archive. Not compliant, on
purpose: the repository is not encrypted and keeps a single full backup (``repo1-retention-full=1``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from collectors.pgscratch import SERVER_USER, give_to_server_user, initdb
from collectors.pgscratch.estate import STANZA, archive_to, pgbackrest, pgbackrest_config, seed
from evidence.family import DemoEstate


@contextmanager
def demo_estate() -> Iterator[DemoEstate]:
    folder = Path(tempfile.mkdtemp(prefix="evidence-pgbackrest-demo-"))
    folder.chmod(0o755)
    cluster = initdb("demo-pgbackrest")
    try:
        repo = folder / "repo"
        repo.mkdir()
        config = pgbackrest_config(folder, cluster, repo, cipher_pass=None, retention_full=1)
        archive_to(cluster, config)
        give_to_server_user(folder)
        cluster.start()
        seed(cluster, rows=200)
        pgbackrest(config, STANZA, "stanza-create")
        pgbackrest(config, STANZA, "--type=full", "backup")
        settings: dict[str, object] = {"stanzas": [STANZA], "config": str(config)}
        if os.geteuid() == 0:
            settings["user"] = SERVER_USER  # the repository owner runs pgbackrest
        yield DemoEstate(
            settings=settings,
            description=(
                f"pgBackRest stanza {STANZA!r} of a scratch cluster on 127.0.0.1:{cluster.port}: one "
                "full backup, WAL archived; repository unencrypted, retention-full=1"
            ),
            extra={"repository": str(repo)},
        )
    finally:
        cluster.destroy()
        shutil.rmtree(folder, ignore_errors=True)

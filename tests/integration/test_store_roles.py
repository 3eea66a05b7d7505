"""Least privilege in PostgreSQL, set up by deploy/postgres-init.sql: the owner role creates the schema,
the application role can only INSERT and SELECT (so its credential cannot drop the append-only triggers),
the auditor role only SELECT."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from evidence.signing import Signer
from evidence.store import open_store
from evidence.store.config import init_schema
from tests.support.records import make_batch
from tests.support.servers import PG_ADMIN_URL

pytestmark = pytest.mark.integration

DEPLOY_SQL = Path(__file__).resolve().parents[2] / "deploy" / "postgres-init.sql"


@pytest.fixture
def roles(pg_admin: str) -> Iterator[dict[str, str]]:
    suffix = uuid.uuid4().hex[:8]
    names = {
        "owner": f"ev_owner_{suffix}",
        "app": f"ev_app_{suffix}",
        "auditor": f"ev_auditor_{suffix}",
        "db": f"ev_roles_{suffix}",
    }
    args = [arg for key, value in names.items() for arg in ("-v", f"{key}={value}")]
    refused = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", *args, "-f", str(DEPLOY_SQL), PG_ADMIN_URL],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0 and "no password for the owner role" in refused.stderr
    args += [f"-v{key}_password={uuid.uuid4().hex}" for key in ("owner", "app", "auditor")]
    result = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", *args, "-f", str(DEPLOY_SQL), PG_ADMIN_URL],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    base = PG_ADMIN_URL.rsplit("@", 1)[1].rsplit("/", 1)[0]
    urls = {role: f"postgresql://{names[role]}@{base}/{names['db']}" for role in ("owner", "app", "auditor")}
    try:
        yield urls
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{names["db"]}" WITH (FORCE)')
            for role in ("owner", "app", "auditor"):
                conn.execute(f'DROP ROLE IF EXISTS "{names[role]}"')


def test_application_role_appends_but_cannot_alter_the_tables(
    roles: dict[str, str], tmp_path: Path, test_schema: Path
) -> None:
    from evidence.errors import StoreError

    signer = Signer.generate()
    blobs = f"file://{tmp_path / 'blobs'}"
    with pytest.raises(StoreError, match="permission denied for schema public"):
        open_store(roles["app"], blob_url=blobs, signer=signer, environ={})  # only the owner creates it
    init_schema(roles["owner"], environ={}).close()
    with open_store(
        roles["app"], blob_url=f"file://{tmp_path / 'blobs'}", signer=signer, environ={}
    ) as store:
        store.append_batch(make_batch(0, 3))
        assert store.verify().ok
    refused = [
        "ALTER TABLE records DISABLE TRIGGER USER",
        "DROP TRIGGER records_append_only ON records",
        "DROP TABLE tree_heads",
        "ALTER TABLE records ADD COLUMN x int",
        "UPDATE records SET status = 'fail'",
        "DELETE FROM tree_heads",
        "TRUNCATE blob_refs",
        "CREATE TABLE shadow (x int)",
        "CREATE OR REPLACE FUNCTION evidence_append_only() RETURNS trigger LANGUAGE plpgsql "
        "AS 'BEGIN RETURN NEW; END'",
    ]
    with psycopg.connect(roles["app"], autocommit=True) as conn:
        for statement in refused:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        assert conn.execute("SELECT count(*) FROM records").fetchone() == (3,)
    with psycopg.connect(roles["auditor"], autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM tree_heads").fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO meta (name, value, added_at) VALUES ('x', 'y', 'z')")
    with open_store(
        roles["auditor"], blob_url=f"file://{tmp_path / 'blobs'}", create=False, environ={}
    ) as store:
        assert store.verify().ok

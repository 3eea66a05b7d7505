"""PostgreSQL store: database-enforced append-only tables, configuration errors, crashes, concurrency."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

from evidence.errors import ConfigError, StoreError
from evidence.signing import Signer
from evidence.store import open_store
from tests.support.records import make_batch, make_prepared
from tests.support.servers import free_port
from tests.support.store_backends import Backend, pg_driver_url
from tests.support.store_crash import run_concurrent_appenders, run_kill_and_rerun

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_folder_backend(pg_url: str, tmp_path: Path, test_schema: Path) -> Backend:
    """PostgreSQL with a file:// blob folder (the kill test watches files, not S3)."""
    return Backend(
        name="postgres",
        url=pg_url,
        blob_url=f"file://{tmp_path / 'blobs'}",
        signer=Signer.generate(),
        tmp=tmp_path,
    )


def test_postgres_refuses_update_delete_truncate_on_every_table(pg_folder_backend: Backend) -> None:
    store = pg_folder_backend.open()
    store.append(make_prepared(1))
    statements = [
        "UPDATE records SET status = 'fail'",
        "DELETE FROM records WHERE seq = 0",
        "TRUNCATE records",
        "UPDATE tree_heads SET root_hash = 'x'",
        "DELETE FROM tree_heads",
        "TRUNCATE tree_heads CASCADE",
        "UPDATE signing_keys SET public_pem = 'x'",
        "TRUNCATE signing_keys",
        "DELETE FROM blob_refs",
        "TRUNCATE blob_refs",
        "DELETE FROM meta",
        "TRUNCATE meta",
    ]
    with psycopg.connect(pg_driver_url(pg_folder_backend.url), autocommit=True) as conn:
        for statement in statements:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(statement)
    assert store.count() == 1
    assert store.verify().ok


def test_disabled_trigger_is_reported_and_reenabled_by_open(pg_folder_backend: Backend) -> None:
    store = pg_folder_backend.open()
    store.append(make_prepared(1))
    pg_folder_backend.sql("ALTER TABLE records DISABLE TRIGGER records_append_only")
    problems = store.verify().problems
    assert [p.kind for p in problems] == ["append_only_trigger_missing"]
    assert "records.records_append_only" in problems[0].message
    reopened = pg_folder_backend.open()  # create=True restores the protection
    assert reopened.verify().ok


def test_postgres_and_file_blobs_round_trip(pg_folder_backend: Backend) -> None:
    store = pg_folder_backend.open()
    results = store.append_batch(make_batch(0, 20))
    assert [r.record.seq for r in results] == list(range(20))
    assert store.read_blob(results[3].record.payload_sha256)
    report = store.verify()
    assert report.ok and report.records == 20 and report.blobs == 20


def test_postgres_without_blob_url_names_the_variable(pg_url: str) -> None:
    with pytest.raises(ConfigError, match="EVIDENCE_BLOB_URL"):
        open_store(pg_url, signer=Signer.generate(), environ={})


def test_postgres_without_signing_key_names_the_variable(pg_url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="EVIDENCE_SIGNING_KEY"):
        open_store(pg_url, blob_url=f"file://{tmp_path}", environ={})


def test_postgres_settings_from_environment(pg_url: str, tmp_path: Path, test_schema: Path) -> None:
    signer = Signer.generate()
    env = {
        "EVIDENCE_STORE_URL": pg_url,
        "EVIDENCE_BLOB_URL": f"file://{tmp_path / 'env-blobs'}",
        "EVIDENCE_SIGNING_KEY": signer.private_pem().decode().replace("\n", "\\n"),  # a flattened secret
    }
    with open_store(environ=env) as store:
        assert store.signer is not None and store.signer.key_id == signer.key_id
        store.append(make_prepared(1))
        assert store.verify().ok
    bad = {**env, "EVIDENCE_SIGNING_KEY": "not a key"}
    with pytest.raises(ConfigError, match="EVIDENCE_SIGNING_KEY"):
        open_store(environ=bad)


def test_reader_opens_without_key(pg_folder_backend: Backend) -> None:
    pg_folder_backend.open().append(make_prepared(1))
    reader = open_store(pg_folder_backend.url, blob_url=pg_folder_backend.blob_url, create=False, environ={})
    try:
        assert reader.signer is None and reader.verify().ok
        with pytest.raises(ConfigError, match="EVIDENCE_SIGNING_KEY"):
            reader.append(make_prepared(2))
    finally:
        reader.close()


def test_unreachable_database_names_the_url_and_masks_the_password(tmp_path: Path) -> None:
    url = f"postgresql://auditor:s3cret-pw@127.0.0.1:{free_port()}/evidence"
    with pytest.raises(StoreError) as caught:
        open_store(url, blob_url=f"file://{tmp_path}", signer=Signer.generate(), environ={})
    message = str(caught.value)
    assert "s3cret-pw" not in message
    assert "auditor:***@127.0.0.1" in message


def test_missing_database_is_a_store_error(pg_url: str, tmp_path: Path) -> None:
    url = pg_url.rsplit("/", 1)[0] + "/no_such_database_here"
    with pytest.raises(StoreError, match="no_such_database_here"):
        open_store(url, blob_url=f"file://{tmp_path}", signer=Signer.generate(), environ={})


def test_create_false_on_an_empty_database(pg_url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not an evidence store"):
        open_store(pg_url, blob_url=f"file://{tmp_path}", create=False, environ={})


def test_id_prefix_lookup_under_a_linguistic_collation(
    pg_admin: str, tmp_path: Path, test_schema: Path
) -> None:
    """Under ICU en-US, '~' sorts before letters: ids must still compare as bytes."""
    from tests.support.servers import PG_ADMIN_URL

    name = f"evtest_icu_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(
            f'CREATE DATABASE "{name}" TEMPLATE template0 '
            "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        )
    url = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    try:
        with open_store(url, blob_url=f"file://{tmp_path}", signer=Signer.generate(), environ={}) as store:
            records = [r.record for r in store.append_batch(make_batch(0, 3))]
            assert store.get(records[2].id[:20]) == records[2]
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
def test_sigkill_during_batch_append_then_rerun(pg_folder_backend: Backend, test_schema: Path) -> None:
    run_kill_and_rerun(pg_folder_backend, test_schema)


@pytest.mark.slow
def test_two_processes_append_concurrently(pg_folder_backend: Backend, test_schema: Path) -> None:
    run_concurrent_appenders(pg_folder_backend, test_schema)

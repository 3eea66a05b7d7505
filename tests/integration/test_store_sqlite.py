"""The embedded store: SQLite + a blob folder under ``.evidence/``, and its failure paths.

The SIGKILL and concurrency tests for both databases live here and in test_store_postgres.py; they
share ``tests.support.store_crash``'s scenarios.
"""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from evidence.errors import ConfigError
from evidence.signing import Signer
from evidence.store import open_store
from tests.support.records import make_batch, make_prepared
from tests.support.store_backends import sqlite_backend
from tests.support.store_crash import run_concurrent_appenders, run_kill_and_rerun

pytestmark = pytest.mark.integration


def test_embedded_default_under_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, test_schema: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("EVIDENCE_STORE_URL", "EVIDENCE_BLOB_URL", "EVIDENCE_SIGNING_KEY"):
        monkeypatch.delenv(var, raising=False)
    with open_store() as store:
        result = store.append(make_prepared(1))
        assert store.url == f"sqlite:///{tmp_path / '.evidence' / 'evidence.db'}"
        key_id = store.signer.key_id if store.signer else None
    folder = tmp_path / ".evidence"
    assert (folder / "evidence.db").is_file()
    digest = result.record.payload_sha256
    blob = folder / "blobs" / digest[:2] / digest
    assert blob.is_file() and stat.S_IMODE(blob.stat().st_mode) == 0o400  # private (issue 13)
    key = folder / "signing-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    public = (folder / "signing-key.pub.pem").read_bytes()
    assert public == Signer.from_file(key).public_pem()
    # The next process finds the same key and the same store.
    with open_store() as again:
        assert again.signer is not None and again.signer.key_id == key_id
        assert again.count() == 1 and again.verify().ok


def test_environment_beats_default_and_argument_beats_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, test_schema: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    env_signer = Signer.generate()
    key_file = tmp_path / "env-key.pem"
    key_file.write_bytes(env_signer.private_pem())
    key_file.chmod(0o600)
    monkeypatch.setenv("EVIDENCE_STORE_URL", f"sqlite:///{tmp_path / 'env' / 'ev.db'}")
    monkeypatch.setenv("EVIDENCE_BLOB_URL", f"file://{tmp_path / 'env-blobs'}")
    monkeypatch.setenv("EVIDENCE_SIGNING_KEY", f"file:{key_file}")
    with open_store() as store:
        store.append(make_prepared(1))
        assert store.url.endswith("/env/ev.db")
        assert store.signer is not None and store.signer.key_id == env_signer.key_id
    assert (tmp_path / "env-blobs").is_dir() and not (tmp_path / ".evidence").exists()
    # PEM text in the variable works too.
    monkeypatch.setenv("EVIDENCE_SIGNING_KEY", env_signer.private_pem().decode())
    arg_signer = Signer.generate()
    with open_store(f"sqlite:///{tmp_path / 'arg.db'}", signer=arg_signer) as store:
        assert store.signer is arg_signer
        assert store.blobs.url == f"file://{tmp_path / 'env-blobs'}"


def test_sqlite_refuses_update_and_delete_on_every_table(tmp_path: Path, test_schema: Path) -> None:
    backend = sqlite_backend(tmp_path)
    store = backend.open()
    store.append(make_prepared(1))
    conn = sqlite3.connect(tmp_path / "store" / "evidence.db")
    try:
        for statement in (
            "UPDATE records SET status = 'fail'",
            "DELETE FROM records",
            "UPDATE tree_heads SET root_hash = 'x'",
            "DELETE FROM tree_heads",
            "DELETE FROM signing_keys",
            "UPDATE blob_refs SET sha256 = 'x'",
            "DELETE FROM meta",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)
        conn.rollback()
    finally:
        conn.close()
    assert store.verify().ok
    backend.close()


def test_in_memory_and_malformed_urls_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="in-memory"):
        open_store("sqlite://", environ={})
    with pytest.raises(ConfigError, match="not a database URL"):
        open_store("no-scheme-here", environ={})
    with pytest.raises(ConfigError, match="unsupported database 'mysql'"):
        open_store("mysql://root:hunter2@localhost/db", environ={})


def test_unwritable_folder_is_a_config_error_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match=str(blocker)):
        open_store(f"sqlite:///{blocker / 'store' / 'evidence.db'}", environ={})


def test_create_false_needs_an_existing_store(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no evidence store"):
        open_store(f"sqlite:///{tmp_path / 'missing.db'}", create=False, environ={})
    assert not (tmp_path / "missing.db").exists()


def test_reader_without_a_key_cannot_append(tmp_path: Path, test_schema: Path) -> None:
    backend = sqlite_backend(tmp_path)
    backend.open().append(make_prepared(1))
    reader = backend.open(create=False, signer=None)
    assert reader.signer is None and reader.verify().ok
    with pytest.raises(ConfigError, match="EVIDENCE_SIGNING_KEY"):
        reader.append(make_prepared(2))
    backend.close()


def test_append_refuses_a_store_whose_heads_and_records_disagree(tmp_path: Path, test_schema: Path) -> None:
    from evidence.errors import StoreError

    backend = sqlite_backend(tmp_path)
    store = backend.open()
    store.append_batch(make_batch(0, 3))
    backend.sql("DELETE FROM tree_heads", bypass_triggers=True)
    with pytest.raises(StoreError, match="refusing to append"):
        store.append(make_prepared(3))
    backend.close()


@pytest.mark.slow
def test_sigkill_during_batch_append_then_rerun(tmp_path: Path, test_schema: Path) -> None:
    backend = sqlite_backend(tmp_path)
    run_kill_and_rerun(backend, test_schema)


@pytest.mark.slow
def test_two_processes_append_concurrently(tmp_path: Path, test_schema: Path) -> None:
    backend = sqlite_backend(tmp_path)
    run_concurrent_appenders(backend, test_schema)

"""Evidence store backends for tests, and the tools to tamper with them from outside our code.

``tests/integration/conftest.py`` exposes the fixtures. ``backend`` is parametrised over the two
production pairings: ``sqlite`` (SQLite + a blob folder) and ``postgres`` (PostgreSQL + S3 on the moto
server, bucket with Object Lock). Tampering goes through the database driver or the filesystem/S3
directly, the way an attacker (or an operator's slip) would.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import evidence.validation as validation
from evidence.signing import Signer
from evidence.store import EvidenceStore, open_store
from tests.support.records import install_test_schema

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def test_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point ``evidence.validation`` at a folder holding the test-only ``test.sample`` schema."""
    folder = tmp_path / "schemas"
    monkeypatch.setattr(validation, "SCHEMA_DIR", validation.SCHEMA_DIR)  # restored afterwards
    install_test_schema(folder)
    yield folder
    validation._registry.cache_clear()
    validation._validator.cache_clear()


def pg_driver_url(url: str) -> str:
    """The SQLAlchemy URL as a plain libpq URL (for psycopg.connect)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@dataclass
class Backend:
    name: str
    url: str
    blob_url: str
    signer: Signer
    tmp: Path
    s3: Any = None
    bucket: str | None = None
    opened: list[EvidenceStore] = field(default_factory=list)

    def open(self, **kwargs: Any) -> EvidenceStore:
        kwargs.setdefault("blob_url", self.blob_url)
        kwargs.setdefault("signer", self.signer)
        store = open_store(self.url, environ={}, **kwargs)
        self.opened.append(store)
        return store

    # -- raw database access (the driver, not our code) ----------------------------------------

    def sql(
        self, statement: str, params: tuple[Any, ...] = (), *, bypass_triggers: bool = False
    ) -> list[Any]:
        """Run one statement through the driver and commit; optionally with append-only triggers off."""
        if self.name == "sqlite":
            conn = sqlite3.connect(self.url.removeprefix("sqlite:///"))
            try:
                if bypass_triggers:
                    names = [
                        r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")
                    ]
                    for name in names:
                        conn.execute(f"DROP TRIGGER {name}")
                rows = conn.execute(statement, params).fetchall()
                conn.commit()
                return rows
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(pg_driver_url(self.url)) as conn:
            if bypass_triggers:
                from evidence.store.schema import APPEND_ONLY_TABLES

                for table in APPEND_ONLY_TABLES:
                    conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            cursor = conn.execute(statement.replace("?", "%s"), params)
            rows = cursor.fetchall() if cursor.description else []
            conn.commit()
            return rows

    # -- raw blob access -----------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        assert self.name == "sqlite"
        return Path(self.blob_url.removeprefix("file://")) / digest[:2] / digest

    def edit_blob(self, digest: str, data: bytes) -> None:
        if self.s3 is not None:
            self.s3.put_object(Bucket=self.bucket, Key=digest, Body=data)
            return
        path = self.blob_path(digest)
        path.chmod(0o644)
        path.write_bytes(data)

    def delete_blob(self, digest: str) -> None:
        if self.s3 is not None:
            self.s3.delete_object(Bucket=self.bucket, Key=digest)
            return
        self.blob_path(digest).unlink()

    def blob_exists(self, digest: str) -> bool:
        if self.s3 is not None:
            try:
                self.s3.head_object(Bucket=self.bucket, Key=digest)
                return True
            except Exception:
                return False
        return self.blob_path(digest).exists()

    def close(self) -> None:
        for store in self.opened:
            store.close()


def make_locked_bucket(s3: Any, *, days: int | None = 1) -> str:
    bucket = f"evidence-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    if days is not None:
        s3.put_object_lock_configuration(
            Bucket=bucket,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": days}},
            },
        )
    return bucket


def sqlite_backend(tmp_path: Path) -> Backend:
    folder = tmp_path / "store"
    return Backend(
        name="sqlite",
        url=f"sqlite:///{folder / 'evidence.db'}",
        blob_url=f"file://{folder / 'blobs'}",
        signer=Signer.generate(),
        tmp=tmp_path,
    )


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, test_schema: Path) -> Iterator[Backend]:
    """SQLite + blob folder, or PostgreSQL + S3 (moto, Object Lock)."""
    if request.param == "sqlite":
        chosen = sqlite_backend(tmp_path)
        yield chosen
        chosen.close()
        return
    import boto3

    moto = request.getfixturevalue("moto")
    pg_url = request.getfixturevalue("pg_url")
    s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
    bucket = make_locked_bucket(s3)
    chosen = Backend(
        name="postgres",
        url=pg_url,
        blob_url=f"s3://{bucket}?endpoint_url={moto.url}&region=us-east-1",
        signer=Signer.generate(),
        tmp=tmp_path,
        s3=s3,
        bucket=bucket,
    )
    yield chosen
    chosen.close()


# -- child processes ---------------------------------------------------------------------------


def worker_command(
    *,
    url: str,
    blob_url: str,
    key_file: Path,
    schema_dir: Path,
    seed: str,
    count: int,
    batch: int,
    payload_size: int = 512,
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tests.support.store_worker",
        "--url",
        url,
        "--blob-url",
        blob_url,
        "--key-file",
        str(key_file),
        "--schema-dir",
        str(schema_dir),
        "--seed",
        seed,
        "--count",
        str(count),
        "--batch",
        str(batch),
        "--payload-size",
        str(payload_size),
    ]


def start_worker(command: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def kill_hard(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

"""S3 blob storage on the moto server: Object Lock retention, plain buckets, tamper detection.

moto does not implement GetObjectRetention, so retention is read back from HeadObject's
``ObjectLockMode``/``ObjectLockRetainUntilDate``, which S3 returns as well.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from evidence.errors import ConfigError
from evidence.signing import Signer
from evidence.store import EvidenceStore, S3BlobStore, open_store
from tests.support.records import make_batch, make_prepared
from tests.support.servers import MotoServer
from tests.support.store_backends import make_locked_bucket

pytestmark = pytest.mark.integration


@pytest.fixture
def s3(moto: MotoServer) -> Any:
    return boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")


@pytest.fixture
def open_with_bucket(moto: MotoServer, pg_url: str, test_schema: Path) -> Iterator[Any]:
    opened: list[EvidenceStore] = []

    def _open(bucket: str, *, environ: dict[str, str] | None = None, prefix: str = "") -> EvidenceStore:
        url = f"s3://{bucket}/{prefix}?endpoint_url={moto.url}&region=us-east-1"
        store = open_store(pg_url, blob_url=url, signer=Signer.generate(), environ=environ or {})
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()


def _retention(s3: Any, bucket: str, key: str) -> tuple[str | None, datetime | None]:
    head = s3.head_object(Bucket=bucket, Key=key)
    return head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate")


def test_locked_bucket_gets_retention_from_its_default(s3: Any, open_with_bucket: Any) -> None:
    bucket = make_locked_bucket(s3, days=3)
    store = open_with_bucket(bucket)
    assert isinstance(store.blobs, S3BlobStore)
    assert store.blobs.retention is not None and store.blobs.retention.days == 3
    before = datetime.now(UTC)
    result = store.append(make_prepared(1, attachments={"doc": b"attested document"}))
    for digest in (result.record.payload_sha256, result.record.attachments[0].sha256):
        mode, until = _retention(s3, bucket, digest)
        assert mode == "COMPLIANCE"
        assert until is not None
        assert (
            before + timedelta(days=3) - timedelta(minutes=1)
            <= until
            <= datetime.now(UTC) + timedelta(days=3)
        )
    assert store.verify().ok


def test_retention_days_from_environment_override_the_bucket_default(s3: Any, open_with_bucket: Any) -> None:
    bucket = make_locked_bucket(s3, days=1)
    store = open_with_bucket(bucket, environ={"EVIDENCE_BLOB_RETENTION_DAYS": "400"})
    result = store.append(make_prepared(1))
    _, until = _retention(s3, bucket, result.record.payload_sha256)
    assert until is not None and until > datetime.now(UTC) + timedelta(days=399)


def test_plain_bucket_gets_plain_puts(s3: Any, open_with_bucket: Any) -> None:
    bucket = f"plain-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    store = open_with_bucket(bucket, prefix="evidence/blobs")
    assert isinstance(store.blobs, S3BlobStore) and store.blobs.retention is None
    result = store.append(make_prepared(1))
    key = f"evidence/blobs/{result.record.payload_sha256}"
    assert _retention(s3, bucket, key) == (None, None)
    assert store.read_blob(result.record.payload_sha256) == make_prepared(1).payload
    assert store.verify().ok


def test_locked_bucket_without_default_retention_needs_the_setting(s3: Any, open_with_bucket: Any) -> None:
    bucket = make_locked_bucket(s3, days=None)
    with pytest.raises(ConfigError, match="EVIDENCE_BLOB_RETENTION_DAYS"):
        open_with_bucket(bucket)
    store = open_with_bucket(bucket, environ={"EVIDENCE_BLOB_RETENTION_DAYS": "7"})
    result = store.append(make_prepared(1))
    assert _retention(s3, bucket, result.record.payload_sha256)[0] == "COMPLIANCE"


def test_bad_retention_setting_and_missing_bucket_are_config_errors(s3: Any, open_with_bucket: Any) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        open_with_bucket(f"missing-{uuid.uuid4().hex[:8]}")
    bucket = make_locked_bucket(s3, days=1)
    with pytest.raises(ConfigError, match="EVIDENCE_BLOB_RETENTION_DAYS must be a whole number"):
        open_with_bucket(bucket, environ={"EVIDENCE_BLOB_RETENTION_DAYS": "ten"})


def test_deleted_and_edited_objects_are_found_by_verify(s3: Any, open_with_bucket: Any) -> None:
    bucket = make_locked_bucket(s3, days=1)
    store = open_with_bucket(bucket)
    records = [r.record for r in store.append_batch(make_batch(0, 4))]
    # A delete on a versioned (Object Lock) bucket adds a delete marker; the data is gone for readers.
    s3.delete_object(Bucket=bucket, Key=records[1].payload_sha256)
    # An overwrite adds a new version under the same key.
    s3.put_object(Bucket=bucket, Key=records[3].payload_sha256, Body=b"{}")
    report = store.verify()
    by_kind = {p.kind: p for p in report.problems}
    assert set(by_kind) == {"blob_missing", "blob_mismatch"}
    assert by_kind["blob_missing"].record_id == records[1].id
    assert by_kind["blob_mismatch"].record_id == records[3].id


def test_orphan_objects_are_notices(s3: Any, open_with_bucket: Any) -> None:
    bucket = make_locked_bucket(s3, days=1)
    store = open_with_bucket(bucket)
    store.append(make_prepared(1))
    stray = make_prepared(2)
    store.blobs.put_many({stray.draft.payload_sha256: stray.payload})
    report = store.verify()
    assert report.ok and report.orphan_blobs == 1
    assert report.notices[0].blob == stray.draft.payload_sha256


def test_sqlite_index_with_s3_blobs(s3: Any, moto: MotoServer, tmp_path: Path, test_schema: Path) -> None:
    bucket = make_locked_bucket(s3, days=1)
    url = f"s3://{bucket}?endpoint_url={moto.url}&region=us-east-1"
    with open_store(f"sqlite:///{tmp_path / 'ev.db'}", blob_url=url, environ={}) as store:
        store.append_batch(make_batch(0, 3))
        assert store.verify().ok

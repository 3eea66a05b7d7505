"""The content-addressed blob folder and blob URL parsing (no servers)."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from evidence.errors import BlobError, ConfigError
from evidence.store.blobs import FolderBlobStore, check_digest, open_blob_store, write_temp_files


def _blob(text: str) -> tuple[str, bytes]:
    data = text.encode()
    return hashlib.sha256(data).hexdigest(), data


@pytest.mark.parametrize("sync", ["batch", "file", "off"])
def test_put_get_check_and_list(tmp_path: Path, sync: str) -> None:
    store = FolderBlobStore(tmp_path / "blobs", sync=sync)  # type: ignore[arg-type]
    blobs = dict(_blob(f"blob {i}") for i in range(20))
    assert store.put_many(blobs) == 20
    assert store.put_many(blobs) == 0  # idempotent: already there
    for digest, data in blobs.items():
        assert store.get(digest) == data
        path = store.path_for(digest)
        assert path.parent.name == digest[:2]
        assert stat.S_IMODE(path.stat().st_mode) == 0o400  # private (issue 13)
    assert list(store.iter_digests()) == sorted(blobs)
    assert all(check.ok for check in store.check_many(list(blobs)))
    assert not list((tmp_path / "blobs").rglob("*.tmp"))


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 65537, 300_000])
def test_get_reads_whole_blobs_of_any_size(tmp_path: Path, size: int) -> None:
    """get() reads with os.read in 64 KiB steps: empty blobs, blobs of exactly one step and of
    several come back whole."""
    store = FolderBlobStore(tmp_path)
    data = bytes(i % 251 for i in range(size))
    digest = hashlib.sha256(data).hexdigest()
    store.put_many({digest: data})
    assert store.get(digest) == data


def test_a_directory_where_a_blob_should_be_is_a_blob_error(tmp_path: Path) -> None:
    store = FolderBlobStore(tmp_path)
    digest, _ = _blob("a directory")
    store.path_for(digest).mkdir(parents=True)
    with pytest.raises(BlobError, match="cannot read blob"):
        store.get(digest)


def test_altered_and_missing_blobs(tmp_path: Path) -> None:
    store = FolderBlobStore(tmp_path)
    (digest, data), (other, _) = _blob("kept"), _blob("never written")
    store.put_many({digest: data})
    path = store.path_for(digest)
    path.chmod(0o644)
    path.write_bytes(b"altered")
    with pytest.raises(BlobError, match="does not match its digest"):
        store.get(digest)
    with pytest.raises(BlobError, match="missing"):
        store.get(other)
    mismatch, missing = store.check_many([digest, other])
    assert (mismatch.status, missing.status) == ("mismatch", "missing")
    assert str(path) in mismatch.detail


@pytest.mark.parametrize("bad", ["../../etc/passwd", "ABCDEF" + "0" * 58, "0" * 63, "", "g" * 64])
def test_digests_that_are_not_sha256_hex_are_refused(bad: str) -> None:
    with pytest.raises(BlobError, match="not a SHA-256"):
        check_digest(bad)


def test_bytes_must_hash_to_their_name(tmp_path: Path) -> None:
    digest, _ = _blob("one")
    with pytest.raises(BlobError, match="do not hash"):
        FolderBlobStore(tmp_path).put_many({digest: b"two"})
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_staged_files_are_invisible_until_published_and_discard_cleans_up(tmp_path: Path) -> None:
    store = FolderBlobStore(tmp_path)
    digest, data = _blob("staged")
    staged = store.stage({digest: data})
    assert not store.path_for(digest).exists()
    assert list(store.iter_digests()) == []  # temp files are not blobs
    store.discard(staged)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    store.publish(store.stage({digest: data}))
    assert store.get(digest) == data


def test_write_temp_files_skips_blobs_already_stored(tmp_path: Path) -> None:
    digest, data = _blob("x")
    FolderBlobStore(tmp_path).put_many({digest: data})
    assert write_temp_files(str(tmp_path), {digest: data}, "token") == []


def test_folder_blob_urls(tmp_path: Path) -> None:
    store = open_blob_store(f"file://{tmp_path / 'a'}?sync=off")
    assert isinstance(store, FolderBlobStore) and store.sync == "off" and store.root == tmp_path / "a"
    assert isinstance(open_blob_store(str(tmp_path / "bare")), FolderBlobStore)
    with pytest.raises(ConfigError, match="three slashes"):
        open_blob_store("file://relative/path")
    with pytest.raises(ConfigError, match="sync must be"):
        open_blob_store(f"file://{tmp_path}?sync=sometimes")
    with pytest.raises(ConfigError, match="unsupported scheme"):
        open_blob_store("gs://bucket/prefix")
    with pytest.raises(ConfigError, match="names no bucket"):
        open_blob_store("s3:///prefix")
    with pytest.raises(ConfigError, match="does not exist"):
        open_blob_store(f"file://{tmp_path / 'missing'}", create=False)


def test_unwritable_blob_folder_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match=str(blocker)):
        open_blob_store(f"file://{blocker / 'blobs'}")

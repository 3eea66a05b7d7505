"""Content-addressed blob storage: a local folder, or an S3 bucket (with Object Lock when it has it).

A blob's name is the SHA-256 of its bytes, so writing is idempotent and reading can always be checked.
Blobs are written before the database transaction that references them: an append killed in between
leaves unreferenced ("orphan") blobs, which ``verify`` reports as information, never as a failure, and
never a record that points at a blob that is not there.

Folder durability. A blob is written to a temporary file, made durable, then renamed into place, so a
crash can never leave a half-written file under a blob's name (an idempotent re-append would then skip
it). Measured on this machine's ext4 volume: 48 us per 2 KB file without any sync, 360 us with one
``fsync`` per file (2,800 files/s: too slow for the 5,000 records/s target on its own), 77 us with one
``syncfs`` per batch. So the default ``sync=batch`` writes every temporary file of a batch, calls
``syncfs(2)`` once, renames them all, and calls ``syncfs`` again (the renames) before the database
commit. That is the method PostgreSQL offers as ``recovery_init_sync_method=syncfs``. A batch of at
most ``SYNCFS_MIN_BLOBS`` new blobs (a single append) fsyncs its own files and directories instead:
syncfs also flushes whatever other processes left dirty on the filesystem. ``sync=file``
does one fsync per file (and per directory), for filesystems where syncfs is unavailable or costly
(a busy shared volume: syncfs flushes everything on it); ``sync=off`` skips durability (tests, benchmarks
of other parts). Choose with ``file:///path?sync=file``.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import errno
import hashlib
import os
import re
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from evidence.errors import BlobError, BlobWriteError, ConfigError, StoreError

BLOB_URL_ENV = "EVIDENCE_BLOB_URL"
RETENTION_DAYS_ENV = "EVIDENCE_BLOB_RETENTION_DAYS"

_DIGEST = re.compile(r"[0-9a-f]{64}")

SyncMode = Literal["batch", "file", "off"]
SYNCFS_MIN_BLOBS = 8  # batch mode: up to this many new blobs are fsynced one by one instead
STAGING_DIR = ".staging"  # temporary files of appends in flight, renamed into place on publish
_READ_SIZE = 1 << 16  # per os.read of a blob file: below malloc's mmap threshold
STALE_TEMP_SECONDS = 600  # no append stages a file for this long: older ones were left by a crash


def check_digest(digest: str) -> str:
    """Refuse anything but 64 lowercase hex characters (it becomes a file name or an object key)."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise BlobError(f"not a SHA-256 hex digest: {digest!r}")
    return digest


@dataclass(frozen=True)
class BlobCheck:
    """The outcome of checking one blob: ``ok``, ``missing``, ``mismatch`` or ``unreadable``."""

    digest: str
    status: Literal["ok", "missing", "mismatch", "unreadable"]
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class BlobStore(ABC):
    """Where the store keeps payloads and attachments, by SHA-256."""

    url: str

    @abstractmethod
    def put_many(self, blobs: Mapping[str, bytes]) -> int:
        """Store every blob (digest -> bytes, digests already checked); return how many were new."""

    @abstractmethod
    def get(self, digest: str) -> bytes:
        """The blob's bytes, checked against its digest; BlobError if missing or altered."""

    @abstractmethod
    def check_many(self, digests: Sequence[str]) -> list[BlobCheck]:
        """Read and hash each blob (in order); never raises for a bad blob, reports it."""

    @abstractmethod
    def iter_digests(self) -> Iterator[str]:
        """Every stored blob's digest, in ascending order (for the orphan scan)."""

    def describe(self) -> str:
        return self.url

    def temp_files(self) -> list[tuple[str, float]]:
        """Temporary files left by interrupted appends: (path, age in seconds). None for S3."""
        return []

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients and file descriptors."""


class NoBlobStore(BlobStore):
    """No blobs: a store opened only to create its schema (``evidence init``)."""

    url = "none"

    def _refuse(self) -> BlobError:
        return BlobError("this store was opened to create its schema only; it has no blob store")

    def put_many(self, blobs: Mapping[str, bytes]) -> int:
        raise self._refuse()

    def get(self, digest: str) -> bytes:
        raise self._refuse()

    def check_many(self, digests: Sequence[str]) -> list[BlobCheck]:
        raise self._refuse()

    def iter_digests(self) -> Iterator[str]:
        raise self._refuse()


# --------------------------------------------------------------------------------------------------
# Local folder


def _load_syncfs() -> Any:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.syncfs
    except (OSError, AttributeError):
        return None


_SYNCFS = _load_syncfs()


def read_verified(path: str, digest: str) -> BlobCheck:
    """Read ``path`` and compare its SHA-256 with ``digest`` (the verify hot path for folders)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return BlobCheck(digest, "missing", f"{path} does not exist")
    except OSError as exc:
        return BlobCheck(digest, "unreadable", f"{path}: {exc.strerror or exc}")
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest:
        return BlobCheck(digest, "mismatch", f"{path} now hashes to {actual}")
    return BlobCheck(digest, "ok")


FILE_MODE = 0o400  # blobs are private and never rewritten
DIR_MODE = 0o700  # blob folders: only the store's owner


def private_dirs(path: str | os.PathLike[str]) -> None:
    """``mkdir -p`` where every folder created gets mode 0700 whatever the umask (existing ones are
    left as they are: they may be a user's own folders)."""
    missing: list[str] = []
    current = os.path.abspath(path)  # noqa: PTH100
    while not os.path.isdir(current):  # noqa: PTH112
        missing.append(current)
        parent = os.path.dirname(current)  # noqa: PTH120
        if parent == current:
            break
        current = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)  # noqa: PTH102
        except FileExistsError:
            continue  # another process made it meanwhile
        os.chmod(folder, DIR_MODE)  # noqa: PTH101 - the umask may have removed bits


def new_token() -> str:
    return f"{os.getpid()}.{secrets.token_hex(4)}"


def write_temp_files(
    root: str, blobs: Mapping[str, bytes], token: str, *, fsync_each: bool = False
) -> list[tuple[str, str]]:
    """Write each blob that is not stored yet to ``<root>/<xx>/.<digest>.<token>.tmp``.

    Module level and string paths so worker processes can run it (see ``evidence.store.prepare``).
    Returns (temporary path, final path) pairs; on error removes what it wrote and re-raises OSError.
    The bytes are hashed again here: a blob's name must be its content's digest, whoever computed it.
    """
    pending: list[tuple[str, str]] = []
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        for digest, data in blobs.items():
            if hashlib.sha256(data).hexdigest() != digest:
                raise OSError(errno.EINVAL, f"bytes do not hash to {digest}", digest)
            directory = f"{root}/{digest[:2]}"
            final = f"{directory}/{digest}"
            if os.path.exists(final):  # noqa: PTH110
                continue  # content addressed: the same name is the same bytes (verify checks)
            # One staging folder (not beside the final name): a later append finds what a killed one
            # left by listing this one small folder, and verify reports it.
            tmp = f"{root}/{STAGING_DIR}/{digest}.{token}.tmp"
            try:
                fd = os.open(tmp, flags, FILE_MODE)
            except FileNotFoundError:
                private_dirs(f"{root}/{STAGING_DIR}")
                fd = os.open(tmp, flags, FILE_MODE)
            pending.append((tmp, final))
            try:
                os.fchmod(fd, FILE_MODE)  # whatever the umask
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if fsync_each:
                    os.fsync(fd)
            finally:
                os.close(fd)
    except OSError:
        FolderBlobStore.discard(pending)
        raise
    return pending


class FolderBlobStore(BlobStore):
    """Blobs as read-only files ``<root>/<first two hex chars>/<digest>``."""

    def __init__(self, root: Path, *, sync: SyncMode = "batch", create: bool = True) -> None:
        self.root = Path(root).resolve()
        self.url = f"file://{self.root}"
        if sync not in ("batch", "file", "off"):
            raise ConfigError(f"blob folder {self.url}: sync must be batch, file or off, got {sync!r}")
        if sync == "batch" and _SYNCFS is None:
            sync = "file"  # no syncfs(2) on this platform: one fsync per file is the durable fallback
        self.sync: SyncMode = sync
        try:
            if create:
                private_dirs(self.root)
            elif not self.root.is_dir():
                raise ConfigError(f"blob folder {self.root} does not exist (set {BLOB_URL_ENV})")
        except OSError as exc:
            raise ConfigError(f"cannot create blob folder {self.root}: {exc.strerror or exc}") from exc
        if create and not os.access(self.root, os.W_OK | os.X_OK):
            raise ConfigError(f"blob folder {self.root} is not writable")

    def path_for(self, digest: str) -> Path:
        check_digest(digest)
        return self.root / digest[:2] / digest

    def _syncfs(self) -> None:
        fd = os.open(self.root, os.O_RDONLY)
        try:
            if _SYNCFS(fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err), str(self.root))
        finally:
            os.close(fd)

    @staticmethod
    def _fsync_path(path: str | Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def stage(self, blobs: Mapping[str, bytes]) -> list[tuple[str, str]]:
        """Write every blob not stored yet to a temporary file beside its final name (not durable)."""
        for digest in blobs:
            check_digest(digest)
        try:
            return write_temp_files(str(self.root), blobs, new_token(), fsync_each=self.sync == "file")
        except OSError as exc:
            raise BlobWriteError(
                f"cannot write blob to {exc.filename or self.root}: {exc.strerror or exc}"
            ) from exc

    def temp_files(self) -> list[tuple[str, float]]:
        now = time.time()
        found = []
        try:
            entries = list(os.scandir(self.root / STAGING_DIR))
        except FileNotFoundError:
            return []
        for entry in entries:
            try:
                found.append((entry.path, max(0.0, now - entry.stat().st_mtime)))
            except FileNotFoundError:
                continue  # published or removed meanwhile
        return sorted(found)

    def remove_stale_temp_files(self) -> int:
        """Remove temporary files older than any append takes (left by a killed one)."""
        removed = 0
        for path, age in self.temp_files():
            if age > STALE_TEMP_SECONDS:
                with contextlib.suppress(OSError):
                    os.unlink(path)  # noqa: PTH108
                    removed += 1
        return removed

    def publish(self, pending: Sequence[tuple[str, str]]) -> None:
        """Make staged blobs durable and give them their names (then durable again). Before COMMIT."""
        if not pending:
            return
        # syncfs flushes everything dirty on the filesystem, other writers' data included: for a few
        # blobs (a single append) fsyncing just ours is cheaper and its cost does not depend on them.
        use_syncfs = self.sync == "batch" and len(pending) > SYNCFS_MIN_BLOBS
        per_file = self.sync == "file" or (self.sync == "batch" and not use_syncfs)
        try:
            if use_syncfs:
                self._syncfs()
            elif per_file and self.sync == "batch":
                for tmp, _ in pending:
                    self._fsync_path(tmp)  # "file" mode fsynced each one as it was written
            for tmp, final in pending:
                try:
                    os.replace(tmp, final)  # noqa: PTH105 - plain strings from the staging step
                except FileNotFoundError:
                    private_dirs(os.path.dirname(final))  # noqa: PTH120
                    os.replace(tmp, final)  # noqa: PTH105
            if use_syncfs:
                self._syncfs()
            elif per_file:
                for directory in {os.path.dirname(final) for _, final in pending}:  # noqa: PTH120
                    self._fsync_path(directory)
        except OSError as exc:
            self.discard(pending)
            raise BlobWriteError(
                f"cannot write blob to {exc.filename or self.root}: {exc.strerror or exc}"
            ) from exc

    @staticmethod
    def discard(pending: Sequence[tuple[str, str]]) -> None:
        """Remove staged temporary files (an append that failed before publishing)."""
        for tmp, _ in pending:
            with contextlib.suppress(OSError):
                os.unlink(tmp)  # noqa: PTH108

    def put_many(self, blobs: Mapping[str, bytes]) -> int:
        pending = self.stage(blobs)
        self.publish(pending)
        return len(pending)

    def get(self, digest: str) -> bytes:
        # A plain string path and os.open/os.read: pathlib's joins cost as much as reading a 2 KB blob,
        # and a buffered file object as much again (a bundle export reads one blob per record).
        path = f"{self.root}/{check_digest(digest)[:2]}/{digest}"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                chunk = os.read(fd, _READ_SIZE)
                parts = [chunk]
                while chunk:
                    chunk = os.read(fd, _READ_SIZE)
                    parts.append(chunk)
            finally:
                os.close(fd)
            data = parts[0] if len(parts) <= 2 else b"".join(parts)
        except FileNotFoundError:
            raise BlobError(f"blob {digest} is missing from {self.url}") from None
        except OSError as exc:
            raise BlobError(f"cannot read blob {path}: {exc.strerror or exc}") from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise BlobError(f"blob {path} does not match its digest: it hashes to {actual}")
        return data

    def check_many(self, digests: Sequence[str]) -> list[BlobCheck]:
        root = str(self.root)
        return [read_verified(f"{root}/{d[:2]}/{d}", d) for d in digests]

    def iter_digests(self) -> Iterator[str]:
        try:
            subdirs = sorted(e.name for e in os.scandir(self.root) if e.is_dir() and len(e.name) == 2)
        except FileNotFoundError:
            return
        for sub in subdirs:
            for name in sorted(entry.name for entry in os.scandir(self.root / sub)):
                if _DIGEST.fullmatch(name):
                    yield name


# --------------------------------------------------------------------------------------------------
# S3


def _client_error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


@dataclass(frozen=True)
class Retention:
    """Object Lock retention applied to each new blob."""

    mode: str  # COMPLIANCE or GOVERNANCE
    days: int

    def until(self) -> datetime:
        return datetime.now(UTC) + timedelta(days=self.days)


class S3BlobStore(BlobStore):
    """Blobs as objects ``<prefix><digest>`` in one bucket.

    When the bucket has Object Lock enabled (checked once with GetObjectLockConfiguration), every new
    object is written with ``ObjectLockMode``/``ObjectLockRetainUntilDate``: the days come from
    ``retention_days`` (``EVIDENCE_BLOB_RETENTION_DAYS``) or else the bucket's default retention, the
    mode from the bucket's default rule (COMPLIANCE when it has none). Each put carries the SHA-256
    checksum, so S3 itself refuses bytes that do not match the name.
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        *,
        retention_days: int | None = None,
        url: str | None = None,
        max_workers: int = 16,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.url = url or f"s3://{bucket}/{prefix}"
        self.max_workers = max_workers
        self.retention = self._detect_retention(retention_days)
        self._pool: ThreadPoolExecutor | None = None

    def _detect_retention(self, retention_days: int | None) -> Retention | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            config = self.client.get_object_lock_configuration(Bucket=self.bucket)["ObjectLockConfiguration"]
        except ClientError as exc:
            code = _client_error_code(exc)
            if code == "ObjectLockConfigurationNotFoundError":
                return None
            if code == "NoSuchBucket":
                raise ConfigError(f"blob bucket {self.bucket} does not exist ({self.url})") from exc
            raise ConfigError(
                f"cannot read the Object Lock configuration of bucket {self.bucket} ({self.url}): "
                f"{code or exc} (needs s3:GetBucketObjectLockConfiguration)"
            ) from exc
        except BotoCoreError as exc:
            raise StoreError(f"cannot reach blob store {self.url}: {exc}") from exc
        if config.get("ObjectLockEnabled") != "Enabled":
            return None
        default = (config.get("Rule") or {}).get("DefaultRetention") or {}
        mode = default.get("Mode") or "COMPLIANCE"
        days = retention_days
        if days is None:
            days = int(default.get("Days") or 0) or int(default.get("Years") or 0) * 365 or None
        if days is None:
            raise ConfigError(
                f"bucket {self.bucket} has Object Lock enabled but no default retention; "
                f"set {RETENTION_DAYS_ENV} to the number of days blobs must be kept"
            )
        return Retention(mode=mode, days=days)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="evidence-s3")
        return self._pool

    def key_for(self, digest: str) -> str:
        return f"{self.prefix}{check_digest(digest)}"

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as exc:
            if _client_error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def _put_one(self, digest: str, data: bytes) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.key_for(digest)
        try:
            if self._exists(key):
                return False
            args: dict[str, Any] = {
                "Bucket": self.bucket,
                "Key": key,
                "Body": data,
                "ContentType": "application/octet-stream",
                "ChecksumAlgorithm": "SHA256",
                "ChecksumSHA256": base64.b64encode(bytes.fromhex(digest)).decode("ascii"),
            }
            if self.retention is not None:
                args["ObjectLockMode"] = self.retention.mode
                args["ObjectLockRetainUntilDate"] = self.retention.until()
            self.client.put_object(**args)
        except (ClientError, BotoCoreError) as exc:
            code = _client_error_code(exc) or type(exc).__name__
            raise BlobWriteError(f"cannot write blob {digest} to {self.url}: {code}: {exc}") from exc
        return True

    def put_many(self, blobs: Mapping[str, bytes]) -> int:
        items = list(blobs.items())
        if len(items) == 1:
            return int(self._put_one(*items[0]))
        return sum(self._executor().map(lambda item: self._put_one(*item), items))

    def _get_bytes(self, digest: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key_for(digest))
        except ClientError as exc:
            if _client_error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        data: bytes = response["Body"].read()
        return data

    def get(self, digest: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            data = self._get_bytes(digest)
        except (ClientError, BotoCoreError) as exc:
            raise BlobError(f"cannot read blob {digest} from {self.url}: {exc}") from exc
        if data is None:
            raise BlobError(f"blob {digest} is missing from {self.url}")
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise BlobError(f"blob {self.url}{digest} does not match its digest: it hashes to {actual}")
        return data

    def _check_one(self, digest: str) -> BlobCheck:
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"s3://{self.bucket}/{self.key_for(digest)}"
        try:
            data = self._get_bytes(digest)
        except (ClientError, BotoCoreError) as exc:
            return BlobCheck(digest, "unreadable", f"{where}: {exc}")
        if data is None:
            return BlobCheck(digest, "missing", f"{where} does not exist")
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            return BlobCheck(digest, "mismatch", f"{where} now hashes to {actual}")
        return BlobCheck(digest, "ok")

    def check_many(self, digests: Sequence[str]) -> list[BlobCheck]:
        return list(self._executor().map(self._check_one, digests))

    def iter_digests(self) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        cut = len(self.prefix)
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", ()):
                name = item["Key"][cut:]
                if _DIGEST.fullmatch(name):
                    yield name

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


# --------------------------------------------------------------------------------------------------
# Opening from a URL


def _retention_days(value: str | None, source: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        days = int(value)
    except ValueError:
        raise ConfigError(f"{source} must be a whole number of days, got {value!r}") from None
    if days <= 0:
        raise ConfigError(f"{source} must be a positive number of days, got {days}")
    return days


# An endpoint that accepts and never answers must not hang a run: each attempt is bounded (connect,
# then every read of the answer), and so is the number of attempts. Worst case with the defaults:
# 3 attempts x (5 s + 30 s) plus backoff, about 2 minutes instead of botocore's 5 x 60 s reads.
S3_CONNECT_TIMEOUT_S = 5.0
S3_READ_TIMEOUT_S = 30.0
S3_MAX_ATTEMPTS = 3


def _positive(query: Mapping[str, str], name: str, default: float, url: str) -> float:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"URL {url!r}: {name} must be a number of seconds, got {raw!r}") from None
    if not 0 < value <= 3600:
        raise ConfigError(f"URL {url!r}: {name} must be between 0 and 3600, got {raw!r}")
    return value


def s3_client_from_query(query: Mapping[str, str], url: str, *, max_pool_connections: int = 10) -> Any:
    """A boto3 S3 client for a URL's ``endpoint_url``, ``region`` and bounded ``connect_timeout``,
    ``read_timeout`` (seconds) and ``max_attempts``."""
    import boto3
    from botocore.config import Config

    attempts = int(_positive(query, "max_attempts", S3_MAX_ATTEMPTS, url))
    if attempts > 10:
        raise ConfigError(f"URL {url!r}: max_attempts must be at most 10")
    config = Config(
        connect_timeout=_positive(query, "connect_timeout", S3_CONNECT_TIMEOUT_S, url),
        read_timeout=_positive(query, "read_timeout", S3_READ_TIMEOUT_S, url),
        retries={"total_max_attempts": attempts, "mode": "standard"},
        max_pool_connections=max_pool_connections,
    )
    return boto3.client(
        "s3", endpoint_url=query.get("endpoint_url"), region_name=query.get("region"), config=config
    )


def open_blob_store(
    url: str, *, create: bool = True, environ: Mapping[str, str] | None = None, s3_client: Any = None
) -> BlobStore:
    """``file:///abs/path[?sync=batch|file|off]``, a bare path, or
    ``s3://bucket[/prefix][?endpoint_url=...&region=...&retention_days=N]`` (also ``connect_timeout``,
    ``read_timeout`` in seconds and ``max_attempts``: bounded by default, see ``S3_*``)."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if parts.scheme in ("", "file"):
        if parts.scheme == "file" and parts.netloc not in ("", "localhost"):
            raise ConfigError(
                f"blob URL {url!r}: use file:///absolute/path (three slashes) or file:relative/path"
            )
        if not parts.path:
            raise ConfigError(f"blob URL {url!r} names no folder")
        sync = query.get("sync", "batch")
        if sync not in ("batch", "file", "off"):
            raise ConfigError(f"blob URL {url!r}: sync must be batch, file or off")
        return FolderBlobStore(Path(parts.path), sync=sync, create=create)  # type: ignore[arg-type]
    if parts.scheme == "s3":
        bucket = parts.netloc
        if not bucket:
            raise ConfigError(f"blob URL {url!r} names no bucket (s3://bucket/prefix)")
        prefix = parts.path.lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        days = _retention_days(query.get("retention_days"), f"blob URL {url!r} retention_days")
        if days is None:
            days = _retention_days(env.get(RETENTION_DAYS_ENV), RETENTION_DAYS_ENV)
        client = (
            s3_client if s3_client is not None else s3_client_from_query(query, url, max_pool_connections=32)
        )
        clean = f"s3://{bucket}/{prefix}"
        return S3BlobStore(client, bucket, prefix, retention_days=days, url=clean)
    raise ConfigError(f"blob URL {url!r}: unsupported scheme {parts.scheme!r} (use file:// or s3://)")

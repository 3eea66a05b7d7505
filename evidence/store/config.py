"""Opening a store: which database, which blob store, which signing key.

Resolution order, for each of the three (the Airflow AWS hook's shape: argument, then environment,
then a documented default):

1. the argument to :func:`open_store` (``url``, ``blob_url``, ``signer``);
2. the environment: ``EVIDENCE_STORE_URL``, ``EVIDENCE_BLOB_URL``, ``EVIDENCE_SIGNING_KEY`` (PEM text,
   or ``file:/path/to/key.pem``);
3. the embedded default, under ``.evidence/`` in the working directory:
   ``sqlite:///.evidence/evidence.db``, blobs in ``.evidence/blobs/``, and the signing key
   ``.evidence/signing-key.pem`` (created mode 0600 on first use, public key beside it as
   ``signing-key.pub.pem``). Any other SQLite database gets the same layout beside its file.

PostgreSQL has no default for the blob store or the key: the store refuses to guess where WORM
storage is, or to invent a key nobody backs up (ConfigError naming the variable to set). With
``create=False`` nothing is created, and a missing key is allowed: the store opens for reading and
verifying (what an auditor does) and refuses to append.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy import exc as sa_exc

from evidence.errors import ConfigError, SigningError, StoreError
from evidence.signing import SIGNING_KEY_ENV, Signer, load_or_create_signer
from evidence.store.blobs import BLOB_URL_ENV, open_blob_store
from evidence.store.store import EvidenceStore

STORE_URL_ENV = "EVIDENCE_STORE_URL"
DEFAULT_DIR = ".evidence"
DEFAULT_DB_NAME = "evidence.db"
KEY_FILE = "signing-key.pem"
PUBLIC_KEY_FILE = "signing-key.pub.pem"
SQLITE_BUSY_TIMEOUT_S = 60


def mask_url(url: str | URL) -> str:
    """The URL with any password replaced by ``***`` (for messages and logs)."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except sa_exc.ArgumentError:
        text = str(url)
        # Not an SQLAlchemy URL: still never echo what looks like user:password@.
        if "@" in text and "://" in text:
            scheme, rest = text.split("://", 1)
            return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
        return text
    return parsed.render_as_string(hide_password=True)


def default_store_url(cwd: Path | None = None) -> str:
    base = (cwd or Path.cwd()) / DEFAULT_DIR / DEFAULT_DB_NAME
    return f"sqlite:///{base}"


def _parse_db_url(raw: str) -> URL:
    try:
        url = make_url(raw)
    except sa_exc.ArgumentError as exc:
        raise ConfigError(
            f"evidence store URL {mask_url(raw)!r} is not a database URL "
            "(expected sqlite:///path/evidence.db or postgresql://user@host/db)"
        ) from exc
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        elif url.drivername != "postgresql+psycopg":
            raise ConfigError(
                f"evidence store URL {mask_url(url)}: use the psycopg driver (postgresql://...)"
            )
    elif backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise ConfigError(
                f"evidence store URL {raw!r} is an in-memory SQLite database; evidence must outlive "
                "the process (use sqlite:///path/evidence.db)"
            )
    else:
        raise ConfigError(
            f"evidence store URL {mask_url(url)}: unsupported database {backend!r} (sqlite or postgresql)"
        )
    return url


def _sqlite_engine(url: URL) -> Engine:
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (below), so appends can take the write lock up front (IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the appender, and vice versa
        cursor.execute("PRAGMA synchronous=FULL")  # a committed append survives power loss
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("evidence_sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _postgres_engine(url: URL) -> Engine:
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 10, "application_name": "evidence-store"},
    )


def _signer_from_env(env: Mapping[str, str]) -> Signer | None:
    if not env.get(SIGNING_KEY_ENV):
        return None
    try:
        return Signer.from_env(SIGNING_KEY_ENV, environ=env)
    except SigningError as exc:
        raise ConfigError(f"{SIGNING_KEY_ENV}: {exc}") from exc


def _embedded_signer(folder: Path, *, create: bool) -> Signer | None:
    key_path = folder / KEY_FILE
    try:
        if not create:
            return Signer.from_file(key_path) if key_path.exists() else None
        signer = load_or_create_signer(key_path)
    except SigningError as exc:
        raise ConfigError(str(exc)) from exc
    public_path = folder / PUBLIC_KEY_FILE
    if not public_path.exists():
        tmp = public_path.with_name(f".{public_path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(signer.public_pem())
            tmp.chmod(0o644)
            tmp.replace(public_path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise ConfigError(f"cannot write public key {public_path}: {exc.strerror or exc}") from exc
    return signer


def open_store(
    url: str | None = None,
    *,
    blob_url: str | None = None,
    signer: Signer | None = None,
    create: bool = True,
    environ: Mapping[str, str] | None = None,
    s3_client: Any = None,
) -> EvidenceStore:
    """Open (and with ``create``, create) an evidence store. See the module docstring for the order.

    ``environ`` replaces ``os.environ`` (tests); ``s3_client`` injects a boto3 S3 client for an
    ``s3://`` blob URL instead of building one from the URL's ``endpoint_url``/``region``.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    raw = url or env.get(STORE_URL_ENV) or default_store_url()
    db_url = _parse_db_url(raw)
    display = mask_url(db_url)
    backend = db_url.get_backend_name()

    if backend == "sqlite":
        assert db_url.database is not None  # checked by _parse_db_url
        db_path = Path(db_url.database).expanduser().resolve()
        db_url = db_url.set(database=str(db_path))
        display = f"sqlite:///{db_path}"
        folder = db_path.parent
        if create:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"cannot create the store folder {folder} for {display}: {exc.strerror or exc}"
                ) from exc
            if not os.access(folder, os.W_OK | os.X_OK):
                raise ConfigError(f"the store folder {folder} for {display} is not writable")
        elif not db_path.exists():
            raise ConfigError(f"no evidence store at {display} (set {STORE_URL_ENV} or create one)")
        blob_location = blob_url or env.get(BLOB_URL_ENV) or f"file://{folder / 'blobs'}"
        key = signer or _signer_from_env(env) or _embedded_signer(folder, create=create)
        engine = _sqlite_engine(db_url)
    else:
        blob_location = blob_url or env.get(BLOB_URL_ENV) or ""
        if not blob_location:
            raise ConfigError(
                f"evidence store {display} is PostgreSQL: set {BLOB_URL_ENV} to where blobs go "
                "(s3://bucket/prefix, or file:///path for a local folder)"
            )
        key = signer or _signer_from_env(env)
        if key is None and create:
            raise ConfigError(
                f"evidence store {display} is PostgreSQL: set {SIGNING_KEY_ENV} to the Ed25519 signing key "
                "(PEM text or file:/path/to/key.pem) that signs its tree heads"
            )
        engine = _postgres_engine(db_url)

    blobs = open_blob_store(blob_location, create=create, environ=env, s3_client=s3_client)
    store = EvidenceStore(engine, blobs, key, display_url=display)
    try:
        store._initialise(create=create)
    except (ConfigError, StoreError):
        store.close()
        raise
    return store

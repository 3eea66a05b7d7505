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
``create=False`` nothing is created and no private key is loaded (only an explicit ``signer``): the
store opens for reading and verifying, which need public keys only (what an auditor does, perhaps on a
read-only copy without the key, or with a key file they may not read), and refuses to append.

``EVIDENCE_SIGNING_KEY`` may also name a key that never leaves Vault: ``vault:<mount>/<key>`` (the
Transit engine, ``VAULT_ADDR``/``VAULT_TOKEN``; :mod:`evidence.transit`). The embedded key file is
created only with a new store: an existing store whose key file is missing is not given a fresh key
(the store is bound to its first key, and appending with another one is refused anyway).

After each append the new checkpoint goes to the witnesses (``EVIDENCE_WITNESSES``), the TSA
(``EVIDENCE_TSA_URL``) and the publication bucket (``EVIDENCE_CHECKPOINT_URL``): see
:mod:`evidence.publish`. A new store's origin is ``EVIDENCE_LOG_ORIGIN`` or a random one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy import exc as sa_exc

from evidence.errors import ConfigError, SigningError, StoreError
from evidence.files import write_atomic
from evidence.signing import SIGNING_KEY_ENV, BaseSigner, Signer, load_or_create_signer
from evidence.store.blobs import BLOB_URL_ENV, open_blob_store, private_dirs
from evidence.store.store import ORIGIN_ENV, EvidenceStore

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
    except (sa_exc.ArgumentError, ValueError):
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
    except (sa_exc.ArgumentError, ValueError) as exc:
        raise ConfigError(
            f"evidence store URL {mask_url(raw)!r} is not a database URL "
            "(expected sqlite:///path/evidence.db or postgresql://user@host:5432/db; the port is a number)"
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


def _read_only_connector(path: str) -> Any:
    """Connections that never write: ``mode=ro``, and on a copy nobody can write to (an auditor's
    ``chmod -R a-w`` copy, a read-only mount) where SQLite cannot create the WAL index it needs,
    ``immutable=1``, but only when no WAL file holds committed pages it would then miss."""
    import sqlite3
    from urllib.parse import quote

    base = f"file:{quote(path)}?mode=ro"

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(base, uri=True, timeout=SQLITE_BUSY_TIMEOUT_S, check_same_thread=False)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            wal = Path(f"{path}-wal")
            cannot_index = "unable to open" in str(exc) or "readonly" in str(exc)  # CANTOPEN, READONLY_*
            if not cannot_index or (wal.exists() and wal.stat().st_size > 0):
                raise
        return sqlite3.connect(
            f"{base}&immutable=1", uri=True, timeout=SQLITE_BUSY_TIMEOUT_S, check_same_thread=False
        )

    return connect


def _sqlite_engine(url: URL, *, read_only: bool = False) -> Engine:
    if read_only:
        assert url.database is not None
        engine = create_engine(url, creator=_read_only_connector(url.database))
    else:
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (below), so appends can take the write lock up front (IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not read_only:  # a reader must not (and on a read-only copy cannot) change the journal mode
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


DB_FILE_MODE = 0o600


def _create_private_file(path: Path) -> None:
    """Create an empty database file mode 0600 whatever the umask (SQLite then creates its -wal and
    -shm files with the same mode). An existing file is left as it is."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, DB_FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, DB_FILE_MODE)
    finally:
        os.close(fd)


def _postgres_engine(url: URL) -> Engine:
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 10, "application_name": "evidence-store"},
    )


def signer_from_spec(value: str, env: Mapping[str, str], *, source: str = SIGNING_KEY_ENV) -> BaseSigner:
    """A signer from PEM text, ``file:/path`` or ``vault:<mount>/<key>`` (Vault Transit)."""
    try:
        if value.startswith("vault:"):
            from evidence.transit import TransitSigner

            return TransitSigner.from_spec(value.removeprefix("vault:"), environ=env)
        return Signer.from_env(source, environ={source: value})
    except SigningError as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def _signer_from_env(env: Mapping[str, str]) -> BaseSigner | None:
    value = env.get(SIGNING_KEY_ENV)
    if not value:
        return None
    return signer_from_spec(value, env)


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
        try:
            write_atomic(public_path, signer.public_pem(), mode=0o644)
        except OSError as exc:
            raise ConfigError(f"cannot write public key {public_path}: {exc.strerror or exc}") from exc
    return signer


def open_store(
    url: str | None = None,
    *,
    blob_url: str | None = None,
    signer: BaseSigner | None = None,
    create: bool = True,
    environ: Mapping[str, str] | None = None,
    s3_client: Any = None,
    publisher: Any = None,
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
        new_store = not db_path.exists() or db_path.stat().st_size == 0  # an empty file: created, never used
        if create:
            try:
                private_dirs(folder)
                _create_private_file(db_path)
            except OSError as exc:
                raise ConfigError(
                    f"cannot create the store folder {folder} for {display}: {exc.strerror or exc}"
                ) from exc
            if not os.access(folder, os.W_OK | os.X_OK):
                raise ConfigError(f"the store folder {folder} for {display} is not writable")
        elif not db_path.exists():
            raise ConfigError(f"no evidence store at {display} (set {STORE_URL_ENV} or create one)")
        blob_location = blob_url or env.get(BLOB_URL_ENV) or f"file://{folder / 'blobs'}"
        key = signer
        if key is None and create:
            key = _signer_from_env(env) or _embedded_signer(folder, create=new_store)
        engine = _sqlite_engine(db_url, read_only=not create)
    else:
        blob_location = blob_url or env.get(BLOB_URL_ENV) or ""
        if not blob_location:
            raise ConfigError(
                f"evidence store {display} is PostgreSQL: set {BLOB_URL_ENV} to where blobs go "
                "(s3://bucket/prefix, or file:///path for a local folder)"
            )
        key = signer if signer is not None or not create else _signer_from_env(env)
        if key is None and create:
            raise ConfigError(
                f"evidence store {display} is PostgreSQL: set {SIGNING_KEY_ENV} to the Ed25519 signing key "
                "(PEM text or file:/path/to/key.pem) that signs its tree heads"
            )
        engine = _postgres_engine(db_url)

    if create:
        blobs = open_blob_store(blob_location, create=True, environ=env, s3_client=s3_client)
        if publisher is None:
            from evidence.publish import publisher_from_env

            publisher = publisher_from_env(env)
    else:
        from evidence.store.blobs import NoBlobStore

        blobs = NoBlobStore()  # the database is checked first: its problem is the one to report
    store = EvidenceStore(
        engine, blobs, key, display_url=display, publisher=publisher, origin=env.get(ORIGIN_ENV)
    )
    try:
        store._initialise(create=create)
        if not create:
            store.blobs = open_blob_store(blob_location, create=False, environ=env, s3_client=s3_client)
    except (ConfigError, StoreError):
        store.close()
        raise
    return store


def init_schema(url: str | None = None, *, environ: Mapping[str, str] | None = None) -> EvidenceStore:
    """Create or upgrade a store's schema without a signing key or blob store: what the schema owner
    runs once (``evidence init``); the application role then appends with INSERT and SELECT only.
    Returns the (open) store, for its origin; close it."""
    from evidence.store.blobs import NoBlobStore

    env: Mapping[str, str] = os.environ if environ is None else environ
    raw = url or env.get(STORE_URL_ENV) or default_store_url()
    db_url = _parse_db_url(raw)
    if db_url.get_backend_name() == "sqlite":
        assert db_url.database is not None
        db_path = Path(db_url.database).expanduser().resolve()
        try:
            private_dirs(db_path.parent)
            _create_private_file(db_path)
        except OSError as exc:
            raise ConfigError(f"cannot create the evidence store {db_path}: {exc.strerror or exc}") from exc
        engine = _sqlite_engine(db_url)
    else:
        engine = _postgres_engine(db_url)
    store = EvidenceStore(
        engine, NoBlobStore(), None, display_url=mask_url(db_url), origin=env.get(ORIGIN_ENV)
    )
    try:
        store._initialise(create=True)
    except (ConfigError, StoreError):
        store.close()
        raise
    return store

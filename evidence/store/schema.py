"""The store's tables (SQLAlchemy Core), the append-only triggers, and idempotent schema creation.

Every table is append-only, and the database itself enforces it: UPDATE and DELETE (and TRUNCATE on
PostgreSQL) fire a trigger that aborts the statement. Triggers do not stop the database's owner (who
can drop them); that is what ``EvidenceStore.verify`` is for. They stop everything else, including our
own code and an operator's slip in a SQL console.

Timestamps are stored as the same fixed-width ISO 8601 UTC text that the records carry
(``2025-01-31T12:00:00.000000Z``): text compares in time order, and the indexed columns can be checked
byte for byte against ``record_json`` by ``verify``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    select,
    text,
)

SCHEMA_VERSION = 2  # 2: heads are C2SP checkpoints (prev_hash), key rotations, cosignatures, timestamps
APPEND_ONLY_MESSAGE = "evidence store is append-only"

# SQLite makes an INTEGER PRIMARY KEY the rowid (no second index); PostgreSQL needs 64 bits.
SeqType = BigInteger().with_variant(Integer(), "sqlite")
# Record ids are compared as bytes (``get`` looks a prefix up as a range): under a linguistic
# collation such as en_US, PostgreSQL would ignore the '~' that closes the range. SQLite compares
# bytes already.
IdType = Text().with_variant(Text(collation="C"), "postgresql")
# Blob digests are merged against a sorted blob listing (verify's orphan scan): byte order too.
DigestType = Text().with_variant(Text(collation="C"), "postgresql")

metadata = MetaData()

records = Table(
    "records",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=False),
    Column("id", IdType, nullable=False, unique=True),
    Column("evidence_type", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("observed_at", Text, nullable=False),
    Column("recorded_at", Text, nullable=False),
    Column("target", Text, nullable=False),  # canonical JSON of the target dict
    Column("control_ids", Text, nullable=False),  # canonical JSON array
    Column("idempotency_key", Text, nullable=False, unique=True),
    Column("payload_sha256", Text, nullable=False),
    Column("leaf_hash", Text, nullable=False),  # hex of SHA-256(0x00 || record_json)
    Column("record_json", Text, nullable=False),  # the exact canonical leaf-data bytes
    Index("ix_records_type_seq", "evidence_type", "seq"),
    Index("ix_records_observed_at", "observed_at"),
    # latest(): newest record per (evidence_type, target)
    Index("ix_records_type_target_observed", "evidence_type", "target", "observed_at", "seq"),
)

# Which blobs each record references (payload = position 0, attachments 1..). Only used to tell
# orphan blobs (written by an append that never committed) from referenced ones; verify checks the
# blobs themselves from record_json.
blob_refs = Table(
    "blob_refs",
    metadata,
    Column("seq", SeqType, nullable=False),
    Column("position", Integer, nullable=False),
    Column("sha256", DigestType, nullable=False),
    PrimaryKeyConstraint("seq", "position"),
    Index("ix_blob_refs_sha256", "sha256"),
)

tree_heads = Table(
    "tree_heads",
    metadata,
    Column("size", SeqType, primary_key=True, autoincrement=False),
    Column("root_hash", Text, nullable=False),
    Column("timestamp", Text, nullable=False),
    Column("key_id", Text, nullable=False),
    Column("signature", Text, nullable=False),
    # The compact-range frontier at this size (JSON list of hex hashes): the next append extends the
    # tree from here without re-reading old leaves.
    Column("frontier", Text, nullable=False),
    # Hex SHA-256 of the previous head's checkpoint body (signed, as the checkpoint's prev-checkpoint
    # line): a deleted intermediate head breaks the chain. NULL on the first checkpoint and on heads
    # of schema version 1 (which were not checkpoints).
    Column("prev_hash", Text, nullable=True),
)

# Key rotation statements (evidence.keychain), in order: signed notes by the old and the new key.
key_rotations = Table(
    "key_rotations",
    metadata,
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("statement", Text, nullable=False),
    Column("added_at", Text, nullable=False),
)

# Witness cosignatures (tlog-cosignature v1 signature lines) on checkpoints, as the witnesses returned
# them. Verify checks them against the witness keys the verifier configures.
cosignatures = Table(
    "cosignatures",
    metadata,
    Column("size", SeqType, nullable=False),
    Column("witness", Text, nullable=False),  # the witness's vkey
    Column("signature_line", Text, nullable=False),
    Column("cosigned_at", BigInteger, nullable=False),  # the cosignature's own timestamp (POSIX s)
    Column("added_at", Text, nullable=False),
    PrimaryKeyConstraint("size", "witness"),
)

# RFC 3161 timestamp responses (DER, base64) over checkpoint bodies, from the configured TSA.
timestamps = Table(
    "timestamps",
    metadata,
    Column("size", SeqType, primary_key=True, autoincrement=False),
    Column("tsa", Text, nullable=False),
    Column("response", Text, nullable=False),
    Column("gen_time", Text, nullable=False),  # the token's genTime, ISO 8601 UTC (as reported)
    Column("added_at", Text, nullable=False),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("key_id", Text, primary_key=True),
    Column("public_pem", Text, nullable=False),
    Column("added_at", Text, nullable=False),
)

# Insert-only key/value facts about the store itself; the schema version is the highest
# ``schema_version`` row, so a migration appends a row instead of changing one.
meta = Table(
    "meta",
    metadata,
    Column("name", Text, nullable=False),
    Column("value", Text, nullable=False),
    Column("added_at", Text, nullable=False),
    PrimaryKeyConstraint("name", "value"),
)

APPEND_ONLY_TABLES = (
    "records",
    "blob_refs",
    "tree_heads",
    "signing_keys",
    "meta",
    "key_rotations",
    "cosignatures",
    "timestamps",
)

# meta rows (insert-only facts): the log's origin (checkpoint origin and note key name), its first
# signing key (vkey), and the first tree size signed as a checkpoint (0 for stores created as v2).
META_ORIGIN = "origin"
META_LOG_KEY = "log_key"
META_CHECKPOINTS_FROM = "checkpoints_from"


def _sqlite_trigger_ddl() -> list[str]:
    statements = []
    for table in APPEND_ONLY_TABLES:
        for op in ("UPDATE", "DELETE"):
            statements.append(
                f"CREATE TRIGGER IF NOT EXISTS {table}_append_only_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}: {op} on {table} refused'); END"
            )
    return statements


# %% because the DDL goes through the driver's paramstyle (psycopg: %s), which unescapes it.
_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION evidence_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}: %% on %% refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _pg_trigger_ddl() -> list[str]:
    statements = [_PG_FUNCTION]
    for table in APPEND_ONLY_TABLES:
        statements.append(
            f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION evidence_append_only()"
        )
        statements.append(
            f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION evidence_append_only()"
        )
    return statements


def expected_triggers(dialect: str) -> set[tuple[str, str]]:
    """(table, trigger name) pairs a healthy store has."""
    if dialect == "sqlite":
        return {(t, f"{t}_append_only_{op}") for t in APPEND_ONLY_TABLES for op in ("update", "delete")}
    return {(t, f"{t}_{suffix}") for t in APPEND_ONLY_TABLES for suffix in ("append_only", "no_truncate")}


def active_triggers(conn: Connection) -> set[tuple[str, str]]:
    """(table, trigger name) pairs that exist and are enabled."""
    if conn.dialect.name == "sqlite":
        rows = conn.execute(text("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'"))
        return {(r[0], r[1]) for r in rows}
    rows = conn.execute(
        text(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' AND c.relnamespace = "
            "(SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
        )
    )
    return {(r[0], r[1]) for r in rows}


def missing_triggers(conn: Connection) -> list[str]:
    missing = expected_triggers(conn.dialect.name) - active_triggers(conn)
    return sorted(f"{table}.{name}" for table, name in missing)


def stored_schema_version(conn: Connection) -> int | None:
    """The store's schema version, or None when the store has no tables yet."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        found = conn.execute(text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"))
        exists = found.first() is not None
    else:
        exists = conn.execute(text("SELECT to_regclass('meta')")).scalar() is not None
    if not exists:
        return None
    values = conn.execute(select(meta.c.value).where(meta.c.name == "schema_version")).scalars().all()
    return max((int(v) for v in values), default=None)


def meta_values(conn: Connection, name: str) -> list[str]:
    rows = conn.execute(select(meta.c.value).where(meta.c.name == name).order_by(meta.c.added_at))
    return [row[0] for row in rows]


def create_schema(conn: Connection, *, now: str, origin: str) -> None:
    """Create whatever is missing: tables, indexes, triggers, the schema_version and origin rows; upgrade
    a version 1 store (adds ``tree_heads.prev_hash`` and the new tables; its later heads are checkpoints).
    Idempotent.

    The caller holds a lock (SQLite ``BEGIN IMMEDIATE``, a PostgreSQL advisory lock) so two processes
    opening a new store at once do not race each other's DDL.
    """
    version = stored_schema_version(conn)
    metadata.create_all(conn, checkfirst=True)
    if version == 1:
        conn.exec_driver_sql("ALTER TABLE tree_heads ADD COLUMN prev_hash TEXT")
        size = conn.execute(text("SELECT coalesce(max(size), 0) FROM tree_heads")).scalar_one()
        conn.execute(meta.insert().values(name=META_CHECKPOINTS_FROM, value=str(size), added_at=now))
    ddl = _sqlite_trigger_ddl() if conn.dialect.name == "sqlite" else _pg_trigger_ddl()
    for statement in ddl:
        conn.exec_driver_sql(statement)
    if version is None:
        conn.execute(meta.insert().values(name=META_CHECKPOINTS_FROM, value="0", added_at=now))
    if version is None or version < SCHEMA_VERSION:
        conn.execute(meta.insert().values(name="schema_version", value=str(SCHEMA_VERSION), added_at=now))
    if not meta_values(conn, META_ORIGIN):
        conn.execute(meta.insert().values(name=META_ORIGIN, value=origin, added_at=now))

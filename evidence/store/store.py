"""``EvidenceStore``: one interface over SQLite or PostgreSQL (SQLAlchemy Core) plus a blob store.

Append protocol (``append_batch``):

1. check every item outside any lock: the payload's JSON Schema (unless the record is an ``error``
   record or the payload is not JSON), the payload and attachment digests and sizes;
2. write the blobs (content addressed, idempotent, durable before step 3);
3. one database transaction: take the append lock (SQLite ``BEGIN IMMEDIATE``, PostgreSQL
   ``pg_advisory_xact_lock``), read the latest signed tree head with its compact-range frontier, skip
   drafts whose idempotency key is already stored, ``seal()`` the rest with consecutive ``seq`` and one
   ``recorded_at``, insert them, extend the frontier, sign and insert the new tree head, commit.

A process killed anywhere in this leaves either nothing or the whole batch (plus, at worst, orphan
blobs from step 2). Appenders in several processes serialise on the lock, so ``seq`` is gapless and an
idempotency key is never stored twice (the unique index backs that up).

Trust rules enforced at append (``verify`` checks them again on what is stored):

- the store is bound to its first signing key; a process holding another key is refused unless the
  key was rotated with ``rotate_key`` (a statement signed by the old key, :mod:`evidence.keychain`);
- each head is a checkpoint naming the previous one (``prev-checkpoint``), so deleted heads show;
- clock: a record observed more than ``CLOCK_SKEW`` after now is refused; head times never go back
  (a clock up to ``CLOCK_SKEW`` behind the latest head is clamped to it, more is refused).

4. after the commit, the new checkpoint goes to the configured witnesses, TSA and publication bucket
   (``evidence.publish``). Their failure never loses the append: the missing cosignature or token is
   reported by ``verify`` and the next append (or ``evidence checkpoint``) catches up.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, overload

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, Row, Select, and_, func, select, text
from sqlalchemy import exc as sa_exc

from evidence import merkle
from evidence.canonical import canonical_bytes, sha256_hex, utc_iso, utcnow
from evidence.errors import (
    AppendOnlyViolation,
    ConfigError,
    RecordNotFound,
    SchemaValidationError,
    StoreError,
    VerificationError,
)
from evidence.keychain import KeyChain, Rotation, follow, sign_rotation
from evidence.merkle import CompactRange
from evidence.note import NoteError, NoteSignature, SignedNote, VerifierKey
from evidence.records import EvidenceRecord, PreparedRecord, Status, seal_with_leaf_data
from evidence.signing import BaseSigner, SignedTreeHead, TreeHead, Verifier
from evidence.store import schema
from evidence.store.blobs import BlobStore, FolderBlobStore, check_digest
from evidence.store.results import (
    AppendResult,
    ConsistencyProof,
    InclusionProof,
    SigningKeyEntry,
    VerifyReport,
)
from evidence.store.schema import (
    blob_refs,
    cosignatures,
    key_rotations,
    meta,
    records,
    signing_keys,
    timestamps,
    tree_heads,
)
from evidence.validation import check_payload

if TYPE_CHECKING:
    from evidence.publish import Publisher

# Advisory lock keys (per database): one for appends, one for schema creation.
APPEND_LOCK_KEY = 0x45564944_00000001
SCHEMA_LOCK_KEY = 0x45564944_00000002

_KEY_CHUNK = 500
# How far a record's observed_at may lie after its recorded_at, and how far a clock may lag the latest
# head before an append is refused instead of clamped: hosts' clocks differ by this much at most.
CLOCK_SKEW = timedelta(minutes=5)
ORIGIN_ENV = "EVIDENCE_LOG_ORIGIN"
_ULID_PREFIX = re.compile(r"[0-9A-HJKMNP-TV-Z]{1,26}")

_RECORD_COLUMNS = (records.c.seq, records.c.record_json, records.c.leaf_hash)
_RECORD_COLUMN_NAMES = tuple(c.name for c in records.columns)


class AmbiguousRecordId(RecordNotFound):
    """A record id prefix that matches more than one record."""


class KeyMismatch(VerificationError):
    """The process's signing key is not the key the store is bound to (a trust failure: exit 1)."""


class ClockError(StoreError):
    """This host's clock disagrees with the store (an observation in the future, or time going back)."""


def parse_utc(text: str) -> datetime:
    """A stored ISO 8601 UTC time (``...Z``) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def new_origin() -> str:
    """A unique log origin (checkpoint origin line and note key name) for a new store."""
    return f"evidence.invalid/{uuid.uuid4().hex}"


def _is_json_media_type(media_type: str) -> bool:
    base = media_type.split(";", 1)[0].strip().lower()
    return base == "application/json" or base.endswith("+json")


def _first_line(exc: BaseException) -> str:
    message = str(getattr(exc, "orig", None) or exc).strip()
    return message.splitlines()[0] if message else type(exc).__name__


def _record_from_row(record_json: str, leaf_hash: str, seq: int | None = None) -> EvidenceRecord:
    try:
        data = json.loads(record_json)
        data["leaf_hash"] = leaf_hash
        return EvidenceRecord.model_validate(data)
    except (ValueError, TypeError, ValidationError) as exc:
        where = f"record at seq {seq}" if seq is not None else "a stored record"
        raise StoreError(f"{where} cannot be read back ({exc}); run `evidence verify`") from exc


def sth_from_row(row: Any, origin: str | None, checkpoints_from: int) -> SignedTreeHead:
    """A head from its row: (size, root_hash, timestamp, key_id, signature, ..., prev_hash by name)."""
    size = int(row[0])
    prev_hash = getattr(row, "prev_hash", None)
    head = TreeHead(
        size=size,
        root_hash=row[1],
        timestamp=row[2],
        key_id=row[3],
        origin=origin if size > checkpoints_from else None,
        prev_hash=prev_hash,
    )
    return SignedTreeHead(head=head, signature=row[4])


class _StoredLeaves(Sequence[bytes]):
    """Leaf hashes ``[start, stop)`` of the store, read lazily.

    ``merkle.inclusion_proof``/``consistency_proof`` slice this and hash each slice once while streaming
    it from the database, so a proof over a million records never holds them in memory.
    """

    def __init__(self, store: EvidenceStore, start: int, stop: int) -> None:
        self._store = store
        self._start = start
        self._stop = stop

    def __len__(self) -> int:
        return self._stop - self._start

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> _StoredLeaves: ...

    def __getitem__(self, index: int | slice) -> bytes | _StoredLeaves:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                raise ValueError("stored leaves support contiguous slices only")
            return _StoredLeaves(self._store, self._start + start, self._start + max(start, stop))
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError(index)
        return next(iter(_StoredLeaves(self._store, self._start + position, self._start + position + 1)))

    def __iter__(self) -> Iterator[bytes]:
        if self._start >= self._stop:
            return
        stmt = (
            select(records.c.leaf_hash)
            .where(records.c.seq >= self._start, records.c.seq < self._stop)
            .order_by(records.c.seq)
        )
        with self._store._read() as conn:
            for row in conn.execution_options(yield_per=5000).execute(stmt):
                yield bytes.fromhex(row[0])


class EvidenceStore:
    """The tamper-evident evidence store. Open it with :func:`evidence.store.open_store`."""

    def __init__(
        self,
        engine: Engine,
        blobs: BlobStore,
        signer: BaseSigner | None,
        *,
        display_url: str,
        publisher: Publisher | None = None,
        origin: str | None = None,
    ) -> None:
        self.engine = engine
        self.blobs = blobs
        self.signer = signer
        self.url = display_url  # password masked; safe for messages
        self.dialect = engine.dialect.name
        self.publisher = publisher
        self._new_origin = origin  # for a store created now (EVIDENCE_LOG_ORIGIN), else generated
        self.origin: str = ""
        self.checkpoints_from = 0
        self._key_registered = False

    # ------------------------------------------------------------------------------------------------
    # connections and errors

    def _translate(self, exc: sa_exc.DBAPIError, action: str) -> StoreError:
        message = _first_line(exc)
        if schema.APPEND_ONLY_MESSAGE in str(exc.orig):
            return AppendOnlyViolation(f"{action} refused by {self.url}: {message}")
        if isinstance(exc, sa_exc.IntegrityError):
            return StoreError(f"{action} on {self.url} violates a uniqueness rule: {message}")
        return StoreError(f"{action} failed on {self.url}: {message}")

    @contextmanager
    def _db_errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except sa_exc.DBAPIError as exc:
            raise self._translate(exc, action) from exc

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read transaction on one consistent snapshot."""
        with self._db_errors("reading the evidence store"), self.engine.connect() as conn:
            if self.dialect == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @contextmanager
    def _locked(self, key: int) -> Iterator[Connection]:
        """A write transaction holding the store's append (or schema) lock until commit."""
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn = conn.execution_options(evidence_sqlite_begin="IMMEDIATE")
            with conn.begin():
                if self.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
                yield conn

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A SQLAlchemy connection in one transaction, for reporting queries of other modules.

        Database errors become StoreError; a write refused by the append-only triggers raises
        AppendOnlyViolation (and the transaction is rolled back).
        """
        with self._db_errors("statement"), self.engine.connect() as conn, conn.begin():
            yield conn

    # ------------------------------------------------------------------------------------------------
    # schema and keys

    def _initialise(self, *, create: bool) -> None:
        try:
            with self.engine.connect() as conn:
                version = schema.stored_schema_version(conn)
                missing = schema.missing_triggers(conn) if version is not None else ["all"]
                conn.rollback()
        except sa_exc.DBAPIError as exc:
            raise StoreError(f"cannot open evidence store {self.url}: {_first_line(exc)}") from exc
        if version is not None and version > schema.SCHEMA_VERSION:
            raise ConfigError(
                f"evidence store {self.url} has schema version {version}; this code supports up to "
                f"{schema.SCHEMA_VERSION}: upgrade the evidence package"
            )
        if version is None and not create:
            raise ConfigError(f"{self.url} is not an evidence store (no schema); open it with create=True")
        outdated = version is not None and version < schema.SCHEMA_VERSION
        if outdated and not create:
            raise ConfigError(
                f"evidence store {self.url} has schema version {version}: upgrade it once with write "
                "access (`evidence init` as the schema owner)"
            )
        if create and (missing or outdated):
            action = "creating the evidence store schema"
            with self._db_errors(action), self._locked(SCHEMA_LOCK_KEY) as conn:
                schema.create_schema(conn, now=utc_iso(utcnow()), origin=self._new_origin or new_origin())
                if self.dialect == "postgresql":
                    for table, name in sorted(schema.expected_triggers("postgresql")):
                        conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER {name}")
        with self._read() as conn:
            self._load_identity(conn)
        if create and self.signer is not None:
            with self._read() as conn:
                bound = schema.meta_values(conn, schema.META_LOG_KEY)
                known = conn.execute(
                    select(signing_keys.c.key_id).where(signing_keys.c.key_id == self.signer.key_id)
                ).first()
                chain = self._key_chain(conn) if bound else None
            if chain is not None and known is not None:
                self._check_signer(chain)
                self._key_registered = True
                return
            # Under the append lock: a deferred SQLite transaction that reads and then writes fails
            # at once (no busy wait) if another process committed in between.
            with self._db_errors("registering the signing key"), self._locked(APPEND_LOCK_KEY) as conn:
                self._bind_key(conn)

    def _load_identity(self, conn: Connection) -> None:
        origins = schema.meta_values(conn, schema.META_ORIGIN)
        self.origin = origins[0] if origins else ""
        starts = schema.meta_values(conn, schema.META_CHECKPOINTS_FROM)
        self.checkpoints_from = int(starts[0]) if starts else 0

    def _key_chain(self, conn: Connection) -> KeyChain | None:
        """The store's key chain: its first key, followed through the rotation statements."""
        bound = schema.meta_values(conn, schema.META_LOG_KEY)
        first: VerifierKey | None = None
        if bound:
            try:
                first = VerifierKey.parse(bound[0])
            except NoteError as exc:
                raise StoreError(f"evidence store {self.url}: its bound key is unreadable: {exc}") from exc
        else:  # a store of schema version 1: the key of its first head
            row = conn.execute(
                select(signing_keys.c.public_pem)
                .join(tree_heads, tree_heads.c.key_id == signing_keys.c.key_id)
                .order_by(tree_heads.c.size)
                .limit(1)
            ).first()
            if row is None:
                return None
            first = Verifier.from_pem(row[0].encode("ascii")).note_key(self.origin)
        statements = conn.execute(select(key_rotations.c.statement).order_by(key_rotations.c.position))
        chain = follow(self.origin, first, [r[0] for r in statements])
        if len(bound) > 1:
            chain.problems.append(
                f"the store names {len(bound)} first keys ({', '.join(b.split('+')[1] for b in bound)}): "
                "rows were added to its meta table"
            )
        return chain

    def key_chain(self) -> KeyChain | None:
        """The keys this store's heads may be signed with (None: no key bound yet)."""
        with self._read() as conn:
            return self._key_chain(conn)

    def _check_signer(self, chain: KeyChain) -> None:
        assert self.signer is not None
        mine = self.signer.note_key(self.origin)
        if mine != chain.current:
            bound = Verifier(chain.current.ed25519()).key_id
            raise KeyMismatch(
                f"evidence store {self.url} is bound to signing key {bound} "
                f"({chain.current.encode()}); this process signs with {self.signer.describe()}, "
                "which the store refuses. Set EVIDENCE_SIGNING_KEY to the store's key, "
                "or move the store to the new key with `evidence rotate-key` (signed by the current key)"
            )

    def _bind_key(self, conn: Connection) -> None:
        """Bind a new store to the signer's key, or check the signer is the bound key; register it."""
        assert self.signer is not None
        chain = self._key_chain(conn)
        if chain is None:
            conn.execute(
                meta.insert().values(
                    name=schema.META_LOG_KEY,
                    value=self.signer.note_key(self.origin).encode(),
                    added_at=utc_iso(utcnow()),
                )
            )
        else:
            self._check_signer(chain)
        self._register_key(conn)

    def _register_key(self, conn: Connection, signer: BaseSigner | None = None) -> None:
        """Record a public key (insert-only; concurrent openers may race: first wins)."""
        if signer is None:
            if self._key_registered or self.signer is None:
                return
            signer = self.signer
        found = conn.execute(
            select(signing_keys.c.key_id).where(signing_keys.c.key_id == signer.key_id)
        ).first()
        if found is None:
            row = {
                "key_id": signer.key_id,
                "public_pem": signer.public_pem().decode("ascii"),
                "added_at": utc_iso(utcnow()),
            }
            if self.dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as pg_insert

                conn.execute(pg_insert(signing_keys).values(row).on_conflict_do_nothing())
            else:
                from sqlalchemy.dialects.sqlite import insert as sqlite_insert

                conn.execute(sqlite_insert(signing_keys).values(row).on_conflict_do_nothing())
        if signer is self.signer:
            self._key_registered = True

    def rotate_key(self, new: BaseSigner) -> Rotation:
        """Move the store to ``new``: append a rotation statement signed by the current key and ``new``.

        Heads up to the current tree size stay signed by the old key; every later head must be signed
        by ``new`` (this store object switches to it).
        """
        old = self._require_signer()
        with self._db_errors("rotating the signing key"), self._locked(APPEND_LOCK_KEY) as conn:
            chain = self._key_chain(conn)
            if chain is None:
                raise ConfigError(f"evidence store {self.url} has no key yet: there is nothing to rotate")
            self._check_signer(chain)
            if new.note_key(self.origin) == chain.current:
                raise ConfigError(f"the new key is the store's current key {chain.current.key_id}")
            size = conn.execute(select(func.coalesce(func.max(tree_heads.c.size), 0))).scalar_one()
            rotation = Rotation(
                origin=self.origin,
                size=int(size),
                old=chain.current,
                new=new.note_key(self.origin),
                time=utc_iso(utcnow()),
            )
            statement = sign_rotation(rotation, old, new).encode()
            position = conn.execute(select(func.count()).select_from(key_rotations)).scalar_one()
            conn.execute(
                key_rotations.insert().values(
                    position=int(position), statement=statement, added_at=rotation.time
                )
            )
            self._register_key(conn, new)
        self.signer = new
        self._key_registered = True
        return rotation

    def schema_version(self) -> int | None:
        with self._read() as conn:
            return schema.stored_schema_version(conn)

    # ------------------------------------------------------------------------------------------------
    # append

    def _require_signer(self) -> BaseSigner:
        if self.signer is None:
            chain = self.key_chain()
            bound = f" (it is bound to key {chain.current.encode()})" if chain is not None else ""
            raise ConfigError(
                f"evidence store {self.url} was opened without a signing key, so it cannot append{bound}; "
                "set EVIDENCE_SIGNING_KEY (PEM text, file:/path or vault:<mount>/<key>)"
            )
        return self.signer

    @staticmethod
    def _needs_schema_check(prepared: PreparedRecord) -> bool:
        """Error records carry the source's failure, not evidence; non-JSON payloads have no schema."""
        draft = prepared.draft
        return draft.status != Status.ERROR and _is_json_media_type(draft.payload_media_type)

    @staticmethod
    def _schema_error(prepared: PreparedRecord, problems: list[str]) -> SchemaValidationError:
        error = SchemaValidationError(prepared.draft.evidence_type, problems)
        error.add_note(f"record {prepared.draft.id} was not appended (nothing was written)")
        return error

    def _check_schema(self, prepared: PreparedRecord) -> None:
        draft = prepared.draft
        try:
            document = json.loads(prepared.payload)
        except ValueError as exc:
            raise self._schema_error(prepared, [f"payload: not valid JSON ({exc})"]) from exc
        try:
            check_payload(draft.evidence_type, document)
        except SchemaValidationError as exc:
            exc.add_note(f"record {draft.id} was not appended (nothing was written)")
            raise

    def _check_digests(self, prepared: PreparedRecord) -> dict[str, bytes]:
        """Refuse an item whose bytes and draft disagree; return the blobs it needs (digest -> bytes)."""
        draft = prepared.draft
        payload_digest = sha256_hex(prepared.payload)
        if payload_digest != draft.payload_sha256:
            raise StoreError(
                f"record {draft.id} ({draft.evidence_type}): payload bytes hash to {payload_digest}, "
                f"but the draft says payload_sha256={draft.payload_sha256}"
            )
        if len(prepared.payload) != draft.payload_size:
            raise StoreError(
                f"record {draft.id}: payload is {len(prepared.payload)} bytes, "
                f"the draft says {draft.payload_size}"
            )
        needed = {draft.payload_sha256: prepared.payload}
        referenced = set()
        for ref in draft.attachments:
            referenced.add(ref.sha256)
            data = prepared.attachments.get(ref.sha256)
            if data is None:
                # A reference to a blob stored earlier (e.g. a shared document): it must be there, intact.
                self.blobs.get(ref.sha256)
                continue
            actual = sha256_hex(data)
            if actual != ref.sha256:
                raise StoreError(f"record {draft.id}: attachment {ref.name or ref.sha256} hashes to {actual}")
            if len(data) != ref.size:
                raise StoreError(
                    f"record {draft.id}: attachment {ref.sha256} is {len(data)} bytes, "
                    f"its reference says {ref.size}"
                )
            needed[ref.sha256] = data
        extra = set(prepared.attachments) - referenced
        if extra:
            raise StoreError(
                f"record {draft.id}: attachment bytes {sorted(extra)} are not referenced "
                "by the draft's attachments"
            )
        return needed

    def append(self, prepared: PreparedRecord) -> AppendResult:
        return self.append_batch([prepared])[0]

    def append_batch(self, items: Sequence[PreparedRecord]) -> list[AppendResult]:
        """Append many records in one transaction (one signed tree head). Results in input order.

        Nothing is written when any item is refused (schema, digests). The same idempotency key twice
        in one batch makes one record; a key already stored returns the stored record.
        """
        if not items:
            return []
        signer = self._require_signer()
        unique: dict[str, PreparedRecord] = {}
        blobs_per_item: list[dict[str, bytes]] = []
        for prepared in items:
            key = prepared.draft.idempotency_key
            if key in unique:
                continue  # the same key twice in one batch: one record (the first)
            blobs_per_item.append(self._check_digests(prepared))
            unique[key] = prepared
        todo = list(unique.values())
        self._check_observed(todo, utcnow())
        staged = self._check_and_stage(todo, blobs_per_item)
        folder = self.blobs if isinstance(self.blobs, FolderBlobStore) else None
        if folder is not None:
            folder.publish(staged)  # durable and named before the transaction that references them
            folder.remove_stale_temp_files()
        with self._db_errors("appending to the evidence store"), self._locked(APPEND_LOCK_KEY) as conn:
            results, head = self._append_locked(conn, signer, todo)
        if head is not None and self.publisher is not None:
            self.publisher.after_append(self, head)
        first_seen: set[str] = set()
        out: list[AppendResult] = []
        for prepared in items:
            key = prepared.draft.idempotency_key
            result = results[key]
            if key in first_seen and result.created:
                result = AppendResult(record=result.record, created=False)
            first_seen.add(key)
            out.append(result)
        return out

    def _check_and_stage(
        self, todo: list[PreparedRecord], blobs_per_item: list[dict[str, bytes]]
    ) -> list[tuple[str, str]]:
        """Schema-check every item, then write the blobs: staged only for a folder (the caller
        publishes them right before the transaction), put for S3 (each put is durable on its own).

        The JSON Schema check is the largest cost of an append (jsonschema: about 30 us per payload
        row here, 100-160 us for a 3-row record). Worker processes were tried and measured: no gain on
        this 2-core machine (the database and other processes compete for the second core), and
        ``spawn`` re-imports an unguarded ``__main__``; so it runs here, in order.
        """
        for prepared in todo:
            if self._needs_schema_check(prepared):
                self._check_schema(prepared)
        all_blobs: dict[str, bytes] = {}
        for blobs in blobs_per_item:
            all_blobs.update(blobs)
        if isinstance(self.blobs, FolderBlobStore):
            return self.blobs.stage(all_blobs)
        self.blobs.put_many(all_blobs)
        return []

    @staticmethod
    def _check_observed(items: Sequence[PreparedRecord], recorded_at: datetime) -> None:
        """Refuse evidence observed in the future: it would win ``latest()`` until that date."""
        limit = recorded_at + CLOCK_SKEW
        for prepared in items:
            draft = prepared.draft
            if draft.observed_at > limit:
                raise ClockError(
                    f"record {draft.id} ({draft.evidence_type}) was observed at "
                    f"{utc_iso(draft.observed_at)}, after the time of this append ({utc_iso(recorded_at)}) "
                    "plus the allowed clock skew "
                    f"({int(CLOCK_SKEW.total_seconds())} s): nothing was appended (check the clock of the "
                    "host that observed it)"
                )

    def _recorded_at(self, latest: SignedTreeHead | None) -> datetime:
        """Now, never before the latest head: a slightly late clock is clamped, a clock gone back refused."""
        now = utcnow()
        if latest is None:
            return now
        last = parse_utc(latest.head.timestamp)
        if now >= last:
            return now
        if last - now <= CLOCK_SKEW:
            return last
        raise ClockError(
            f"this host's clock ({utc_iso(now)}) is {last - now} behind the latest tree head of "
            f"{self.url} (size {latest.head.size}, signed at {latest.head.timestamp}): head times must "
            "not go backwards; fix the clock (NTP) and append again (nothing was appended)"
        )

    def _append_locked(
        self, conn: Connection, signer: BaseSigner, items: list[PreparedRecord]
    ) -> tuple[dict[str, AppendResult], SignedTreeHead | None]:
        chain = self._key_chain(conn)
        if chain is None or not self._key_registered:
            self._bind_key(conn)
        else:
            self._check_signer(chain)
        compact, latest = self._current_frontier(conn)
        results: dict[str, AppendResult] = {}
        keys = [p.draft.idempotency_key for p in items]
        for start in range(0, len(keys), _KEY_CHUNK):
            chunk = keys[start : start + _KEY_CHUNK]
            stmt = select(records.c.idempotency_key, *_RECORD_COLUMNS).where(
                records.c.idempotency_key.in_(chunk)
            )
            for row in conn.execute(stmt):
                results[row.idempotency_key] = AppendResult(
                    _record_from_row(row.record_json, row.leaf_hash, row.seq), created=False
                )
        recorded_at = self._recorded_at(latest)
        self._check_observed([p for p in items if p.draft.idempotency_key not in results], recorded_at)
        recorded_text = utc_iso(recorded_at)
        record_rows: list[tuple[Any, ...]] = []
        ref_rows: list[tuple[int, int, str]] = []
        for prepared in items:
            key = prepared.draft.idempotency_key
            if key in results:
                continue
            seq = compact.size
            record, leaf_data = seal_with_leaf_data(prepared.draft, seq=seq, recorded_at=recorded_at)
            compact.append(bytes.fromhex(record.leaf_hash))
            record_rows.append(
                (
                    seq,
                    record.id,
                    record.evidence_type,
                    record.status.value,
                    utc_iso(record.observed_at),
                    recorded_text,
                    canonical_bytes(record.target).decode("utf-8"),
                    canonical_bytes(list(record.control_ids)).decode("utf-8"),
                    key,
                    record.payload_sha256,
                    record.leaf_hash,
                    leaf_data.decode("utf-8"),
                )
            )
            ref_rows.append((seq, 0, record.payload_sha256))
            for position, ref in enumerate(record.attachments, start=1):
                ref_rows.append((seq, position, ref.sha256))
            results[key] = AppendResult(record=record, created=True)
        sth: SignedTreeHead | None = None
        if record_rows:
            self._insert_rows(conn, record_rows, ref_rows)
            prev_hash = latest.head.body_hash() if latest is not None and latest.head.origin else None
            sth = signer.sign_head(
                compact.size, compact.root(), timestamp=recorded_at, origin=self.origin, prev_hash=prev_hash
            )
            conn.execute(
                tree_heads.insert(),
                {
                    "size": sth.head.size,
                    "root_hash": sth.head.root_hash,
                    "timestamp": sth.head.timestamp,
                    "key_id": sth.head.key_id,
                    "signature": sth.signature,
                    "frontier": json.dumps([h.hex() for h in compact.to_list()]),
                    "prev_hash": sth.head.prev_hash,
                },
            )
        return results, sth

    def _insert_rows(
        self, conn: Connection, record_rows: list[tuple[Any, ...]], ref_rows: list[tuple[int, int, str]]
    ) -> None:
        """Bulk insert. PostgreSQL: COPY (measured 30 us/row against 60 for pipelined executemany and
        290 for one multi-row VALUES statement); SQLite: executemany (already a tight C loop)."""
        if self.dialect == "postgresql":
            dbapi = conn.connection.driver_connection
            assert dbapi is not None
            with dbapi.cursor() as cursor:
                with cursor.copy(f"COPY records ({', '.join(_RECORD_COLUMN_NAMES)}) FROM STDIN") as copy:
                    for row in record_rows:
                        copy.write_row(row)
                with cursor.copy("COPY blob_refs (seq, position, sha256) FROM STDIN") as copy:
                    for ref in ref_rows:
                        copy.write_row(ref)
            return
        conn.execute(
            records.insert(), [dict(zip(_RECORD_COLUMN_NAMES, row, strict=True)) for row in record_rows]
        )
        conn.execute(blob_refs.insert(), [{"seq": s, "position": p, "sha256": d} for s, p, d in ref_rows])

    def _current_frontier(self, conn: Connection) -> tuple[CompactRange, SignedTreeHead | None]:
        """The frontier of the latest signed head, after checking it agrees with the records table."""
        head = conn.execute(select(tree_heads).order_by(tree_heads.c.size.desc()).limit(1)).first()
        max_seq = conn.execute(select(func.max(records.c.seq))).scalar()
        stored = 0 if max_seq is None else int(max_seq) + 1
        size = 0 if head is None else int(head.size)
        if stored != size:
            raise StoreError(
                f"evidence store {self.url} is inconsistent: its records end at seq {stored - 1} but the "
                f"latest signed tree head covers {size} records; refusing to append (run `evidence verify`)"
            )
        if head is None:
            return CompactRange(), None
        try:
            compact = CompactRange.from_list(size, [bytes.fromhex(h) for h in json.loads(head.frontier)])
        except (ValueError, TypeError) as exc:
            raise StoreError(
                f"tree head of size {size} in {self.url} has an unreadable frontier: {exc}"
            ) from exc
        if compact.root().hex() != head.root_hash:
            raise StoreError(
                f"tree head of size {size} in {self.url}: its frontier does not produce its root; "
                "refusing to append (run `evidence verify`)"
            )
        return compact, self._sth(head)

    def _sth(self, row: Row[Any]) -> SignedTreeHead:
        return sth_from_row(row, self.origin, self.checkpoints_from)

    # ------------------------------------------------------------------------------------------------
    # reads

    def get(self, record_id: str) -> EvidenceRecord:
        """A record by its id or by a unique prefix of it (case-insensitive)."""
        wanted = record_id.strip().upper()
        if not _ULID_PREFIX.fullmatch(wanted):
            raise RecordNotFound(f"{record_id!r} is not a record id (ids are 26-character ULIDs)")
        with self._read() as conn:
            if len(wanted) == 26:
                row = conn.execute(select(*_RECORD_COLUMNS).where(records.c.id == wanted)).first()
                if row is None:
                    raise RecordNotFound(f"no record {wanted} in {self.url}")
                return _record_from_row(row.record_json, row.leaf_hash, row.seq)
            stmt = (
                select(records.c.id, *_RECORD_COLUMNS)
                .where(records.c.id >= wanted, records.c.id < wanted + "~")
                .order_by(records.c.id)
                .limit(6)
            )
            rows = conn.execute(stmt).all()
        if not rows:
            raise RecordNotFound(f"no record id starts with {wanted} in {self.url}")
        if len(rows) > 1:
            shown = ", ".join(r.id for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
            raise AmbiguousRecordId(f"record id prefix {wanted} is ambiguous: it matches {shown}")
        return _record_from_row(rows[0].record_json, rows[0].leaf_hash, rows[0].seq)

    def _select_records(
        self,
        *,
        evidence_type: str | None,
        status: Status | str | None,
        control_id: str | None,
        since: datetime | None,
        until: datetime | None,
        target: Mapping[str, str] | None,
    ) -> Select[Any]:
        conditions = []
        if evidence_type is not None:
            conditions.append(records.c.evidence_type == evidence_type)
        if status is not None:
            conditions.append(records.c.status == Status(status).value)
        if control_id is not None:
            conditions.append(records.c.control_ids.contains(json.dumps(control_id), autoescape=True))
        if since is not None:
            conditions.append(records.c.observed_at >= utc_iso(since))
        if until is not None:
            conditions.append(records.c.observed_at < utc_iso(until))
        if target is not None:
            conditions.append(records.c.target == canonical_bytes(dict(target)).decode("utf-8"))
        stmt = select(*_RECORD_COLUMNS)
        if conditions:
            stmt = stmt.where(and_(*conditions))
        return stmt

    def iter_records(
        self,
        *,
        evidence_type: str | None = None,
        status: Status | str | None = None,
        control_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        target: Mapping[str, str] | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> Iterator[EvidenceRecord]:
        """Stream records in log order (``newest_first`` reverses it), a few hundred rows at a time.

        ``since``/``until`` bound ``observed_at`` (since inclusive, until exclusive); ``target`` matches
        the whole target dict; ``control_id`` matches records serving that control (case-insensitive,
        like the catalog: control ids are stored upper-cased).
        """
        if control_id is not None:
            control_id = control_id.strip().upper()
        stmt = self._select_records(
            evidence_type=evidence_type,
            status=status,
            control_id=control_id,
            since=since,
            until=until,
            target=target,
        )
        stmt = stmt.order_by(records.c.seq.desc() if newest_first else records.c.seq)
        if limit is not None and control_id is None:
            stmt = stmt.limit(limit)
        produced = 0
        if limit is not None and limit <= 0:
            return
        with self._read() as conn:
            for row in conn.execution_options(yield_per=500).execute(stmt):
                record = _record_from_row(row.record_json, row.leaf_hash, row.seq)
                if control_id is not None and control_id not in record.control_ids:
                    continue  # the SQL filter is a substring match on JSON text; this one is exact
                yield record
                produced += 1
                if limit is not None and produced >= limit:
                    return

    def latest(self, evidence_type: str | None = None) -> list[EvidenceRecord]:
        """The newest record (by ``observed_at``, then ``seq``) per (evidence_type, target)."""
        rank = (
            func.row_number()
            .over(
                partition_by=(records.c.evidence_type, records.c.target),
                order_by=(records.c.observed_at.desc(), records.c.seq.desc()),
            )
            .label("rank")
        )
        inner = select(*_RECORD_COLUMNS, records.c.evidence_type, records.c.target, rank)
        if evidence_type is not None:
            inner = inner.where(records.c.evidence_type == evidence_type)
        ranked = inner.subquery()
        stmt = (
            select(ranked.c.seq, ranked.c.record_json, ranked.c.leaf_hash)
            .where(ranked.c.rank == 1)
            .order_by(ranked.c.evidence_type, ranked.c.target)
        )
        with self._read() as conn:
            return [_record_from_row(r.record_json, r.leaf_hash, r.seq) for r in conn.execute(stmt)]

    def count(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(records)).scalar_one())

    def read_blob(self, sha256: str) -> bytes:
        """A payload or attachment by digest, checked against it (BlobError if missing or altered)."""
        return self.blobs.get(check_digest(sha256))

    def tree_head(self) -> SignedTreeHead | None:
        """The latest signed tree head (None for an empty store)."""
        with self._read() as conn:
            row = conn.execute(select(tree_heads).order_by(tree_heads.c.size.desc()).limit(1)).first()
        return None if row is None else self._sth(row)

    def tree_heads(self) -> Iterator[SignedTreeHead]:
        """Every signed tree head, oldest (smallest) first."""
        with self._read() as conn:
            for row in conn.execution_options(yield_per=1000).execute(
                select(tree_heads).order_by(tree_heads.c.size)
            ):
                yield self._sth(row)

    def _head_at(self, conn: Connection, size: int | None) -> SignedTreeHead:
        stmt = select(tree_heads)
        stmt = (
            stmt.order_by(tree_heads.c.size.desc()).limit(1)
            if size is None
            else stmt.where(tree_heads.c.size == size)
        )
        row = conn.execute(stmt).first()
        if row is None:
            if size is None:
                raise StoreError(f"evidence store {self.url} has no signed tree head yet (it is empty)")
            near = conn.execute(
                select(tree_heads.c.size).order_by(func.abs(tree_heads.c.size - size)).limit(3)
            ).scalars()
            sizes = ", ".join(str(s) for s in sorted(near)) or "none"
            raise StoreError(f"no signed tree head of size {size} in {self.url} (nearest sizes: {sizes})")
        return self._sth(row)

    def inclusion_proof(self, record_id: str, tree_size: int | None = None) -> InclusionProof:
        """Prove that a record is in the tree signed at ``tree_size`` (default: the latest head)."""
        record = self.get(record_id)
        with self._read() as conn:
            head = self._head_at(conn, tree_size)
            record_json = conn.execute(
                select(records.c.record_json).where(records.c.seq == record.seq)
            ).scalar_one()
        size = head.head.size
        if record.seq >= size:
            raise StoreError(
                f"record {record.id} (seq {record.seq}) was appended after the tree head of size {size}"
            )
        path = merkle.inclusion_proof(record.seq, _StoredLeaves(self, 0, size))
        return InclusionProof(
            record_id=record.id,
            leaf_index=record.seq,
            tree_size=size,
            leaf_hash=record.leaf_hash,
            hashes=tuple(h.hex() for h in path),
            tree_head=head,
            record_json=record_json,
        )

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """Prove that the tree signed at ``new_size`` (default: latest) extends the one at ``old_size``."""
        with self._read() as conn:
            old_head = self._head_at(conn, old_size)
            new_head = self._head_at(conn, new_size)
        if old_head.head.size > new_head.head.size:
            raise StoreError(
                f"cannot prove consistency from {old_head.head.size} to the smaller tree {new_head.head.size}"
            )
        size = new_head.head.size
        path = merkle.consistency_proof(old_head.head.size, size, _StoredLeaves(self, 0, size))
        return ConsistencyProof(
            old_size=old_head.head.size,
            new_size=size,
            hashes=tuple(h.hex() for h in path),
            old_head=old_head,
            new_head=new_head,
        )

    def consistency_hashes(self, old_size: int, new_size: int) -> list[bytes]:
        """The RFC 9162 consistency proof ``old_size -> new_size`` from the old head's stored compact
        range and the leaves appended since: O(new - old) reads, not O(new) (witnesses ask per append).
        """
        ranges = merkle.consistency_proof_ranges(old_size, new_size)
        if not ranges:
            return []
        with self._read() as conn:
            row = conn.execute(select(tree_heads.c.frontier).where(tree_heads.c.size == old_size)).first()
        known: dict[tuple[int, int], bytes] = {}
        if row is not None:
            nodes = merkle.compact_range_nodes(old_size)
            known = dict(zip(nodes, (bytes.fromhex(h) for h in json.loads(row[0])), strict=True))
        newer = list(_StoredLeaves(self, old_size, new_size))
        proof = []
        for start, end in ranges:
            if (start, end) in known:
                proof.append(known[(start, end)])
            elif start >= old_size:
                proof.append(merkle.subtree_hash(newer, start - old_size, end - old_size))
            else:  # no stored frontier for old_size: read those leaves
                proof.append(merkle.subtree_hash(_StoredLeaves(self, 0, new_size), start, end))
        return proof

    # ------------------------------------------------------------------------------------------------
    # checkpoints, cosignatures, timestamps

    def log_key(self, size: int | None = None) -> VerifierKey:
        """The note key of the key that signs (or signed) the head of ``size`` (default: now)."""
        chain = self.key_chain()
        if chain is None:
            raise StoreError(f"evidence store {self.url} has no signing key bound yet (it is empty)")
        return chain.current if size is None else chain.key_for_size(size)

    def checkpoint_note(self, head: SignedTreeHead | None = None, *, cosigned: bool = True) -> SignedNote:
        """A head (default: the latest) as a signed note, with the witnesses' cosignatures kept for it."""
        if head is None:
            head = self.tree_head()
            if head is None:
                raise StoreError(f"evidence store {self.url} has no signed tree head yet (it is empty)")
        note = head.note(self.log_key(head.head.size))
        if not cosigned:
            return note
        with self._read() as conn:
            lines = conn.execute(
                select(cosignatures.c.signature_line)
                .where(cosignatures.c.size == head.head.size)
                .order_by(cosignatures.c.witness)
            ).scalars()
            extra = []
            for line in lines:
                try:
                    extra.append(NoteSignature.parse_line(line.rstrip("\n")))
                except NoteError:
                    continue  # verify reports unreadable cosignatures
        return note.with_signatures(extra)

    def cosigned_size(self, witness: VerifierKey) -> int:
        """The largest tree size this store holds a cosignature of ``witness`` for (0: none)."""
        with self._read() as conn:
            size = conn.execute(
                select(func.max(cosignatures.c.size)).where(cosignatures.c.witness == witness.encode())
            ).scalar()
        return int(size or 0)

    def _insert_ignoring_duplicates(self, table: Any, row: dict[str, Any], action: str) -> None:
        with self._db_errors(action), self.engine.connect() as conn, conn.begin():
            if self.dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as pg_insert

                conn.execute(pg_insert(table).values(row).on_conflict_do_nothing())
            else:
                from sqlalchemy.dialects.sqlite import insert as sqlite_insert

                conn.execute(sqlite_insert(table).values(row).on_conflict_do_nothing())

    def add_cosignature(self, size: int, witness: VerifierKey, signature: NoteSignature, when: int) -> None:
        self._insert_ignoring_duplicates(
            cosignatures,
            {
                "size": size,
                "witness": witness.encode(),
                "signature_line": signature.line(),
                "cosigned_at": when,
                "added_at": utc_iso(utcnow()),
            },
            "keeping a witness cosignature",
        )

    def add_timestamp(self, size: int, tsa: str, stamp: Any) -> None:
        import base64

        self._insert_ignoring_duplicates(
            timestamps,
            {
                "size": size,
                "tsa": tsa,
                "response": base64.b64encode(stamp.response).decode("ascii"),
                "gen_time": utc_iso(stamp.gen_time),
                "added_at": utc_iso(utcnow()),
            },
            "keeping a timestamp token",
        )

    def publish(self) -> Any:
        """Catch up: send the latest checkpoint to the configured witnesses and TSA (a PublishReport)."""
        head = self.tree_head()
        if head is None or self.publisher is None:
            return None
        return self.publisher.publish(self, head)

    def public_keys(self) -> list[SigningKeyEntry]:
        """Every key that has signed (or may sign) this store's tree heads, oldest first."""
        with self._read() as conn:
            rows = conn.execute(select(signing_keys).order_by(signing_keys.c.added_at, signing_keys.c.key_id))
            return [SigningKeyEntry(r.key_id, r.public_pem, r.added_at) for r in rows]

    def verify(
        self,
        *,
        trusted_keys: Sequence[Verifier] | None = None,
        check_blobs: bool = True,
        progress: Callable[[int, int], None] | None = None,
        **trust: Any,
    ) -> VerifyReport:
        """Check the whole store, streaming; see :mod:`evidence.store.verify` (``anchors``,
        ``witness_keys``, ``witness_quorum``, ``tsa_roots``, ``timestamp_lag``)."""
        from evidence.store.verify import verify_store

        return verify_store(
            self, trusted_keys=trusted_keys, check_blobs=check_blobs, progress=progress, **trust
        )

    # ------------------------------------------------------------------------------------------------

    def close(self) -> None:
        if self.publisher is not None and not self.publisher.flush():
            import logging

            logging.getLogger("evidence.publish").warning(
                "closing %s before its latest checkpoint was published (verify reports it; "
                "`evidence checkpoint` catches up)",
                self.url,
            )
        self.blobs.close()
        self.engine.dispose()

    def __enter__(self) -> EvidenceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EvidenceStore({self.url!r}, blobs={self.blobs.describe()!r})"

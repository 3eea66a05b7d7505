"""``EvidenceStore.verify``: check every record, blob and signed tree head, streaming.

One pass over the records in ``seq`` order (a server-side cursor on PostgreSQL, SQLite's own cursor),
with a second cursor walking the tree heads in size order, inside one read snapshot:

- ``seq`` is contiguous from 0 (a deleted row or a gap is reported with the neighbouring seqs and ids);
- the leaf hash recomputed from ``record_json`` (``SHA-256(0x00 || record_json)``) equals ``leaf_hash``;
- every indexed column equals the value inside ``record_json`` (an edited column is caught), and the
  ``seq`` inside it equals the row's (swapped rows are caught);
- every blob (payload and attachments) exists and hashes to its digest;
- the streaming Merkle root equals each tree head's root at that head's size, and the head's stored
  frontier equals the streaming frontier. Every head is thereby a prefix of one and the same leaf
  sequence, which is what "the heads are consistent with each other" means (a consistency proof
  between any two of them would verify);
- every head's Ed25519 signature verifies against the key the log's key chain assigns to its size
  (``evidence.keychain``: the first key, then keys reached by rotation statements signed by their
  predecessor; a key merely added to ``signing_keys`` is not trusted), or against the
  ``trusted_keys`` an auditor pinned (and the keys rotated to from them);
- heads form a chain: each checkpoint names the previous one (a deleted head breaks it), and head
  times never go back; every record was observed at most ``CLOCK_SKEW`` after it was recorded, and
  ``recorded_at`` never goes back along the log;
- each record's ``blob_refs`` index rows are present (deleted rows are reported);
- witness cosignatures verify against the checkpoints they were given for (a head rewritten after a
  witness cosigned it fails), and with ``witness_keys`` the latest head carries ``witness_quorum`` of
  them; timestamp tokens cover their checkpoint, agree with its time, and with ``tsa_roots`` verify
  against the TSA's certificates (and the latest head has one);
- ``anchors`` (checkpoints held outside the store: a trusted head file, the checkpoint this machine
  verified last) are prefixes of the log: a smaller log is truncated, a different root is a fork;
- the latest head covers every record (an unsigned tail, or a head beyond the end of the log, is
  reported);
- the append-only triggers are present and enabled.

Memory stays flat: rows are fetched a few thousand at a time, the Merkle state is O(log n), recently
checked blob digests are remembered in a bounded LRU, and at most ``MAX_LISTED`` problems of a kind are
listed (the rest are counted). Orphan blobs and temporary files (written by an append that never
committed) are notices.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from evidence.errors import SigningError, VerificationError
from evidence.keychain import KeyChain
from evidence.merkle import EMPTY_ROOT, CompactRange
from evidence.note import Checkpoint, NoteError, NoteSignature, VerifierKey, verify_cosignature
from evidence.signing import SignedTreeHead, Verifier, key_id_for
from evidence.store import schema
from evidence.store.results import Problem, SigningKeyEntry, VerifyReport

if TYPE_CHECKING:
    from evidence.store.store import EvidenceStore

MAX_LISTED = 50  # problems listed per kind; the rest are counted in omitted_problems
MAX_ORPHANS_LISTED = 100
FETCH_ROWS = 2000
BLOB_LRU = 16384
PROGRESS_EVERY = 1000

RECORD_SQL = (
    "SELECT seq, id, evidence_type, status, observed_at, recorded_at, target, control_ids, "
    "idempotency_key, payload_sha256, leaf_hash, record_json FROM records ORDER BY seq"
)
HEAD_SQL = (
    "SELECT size, root_hash, timestamp, key_id, signature, frontier, prev_hash FROM tree_heads ORDER BY size"
)
ORPHAN_SQL = "SELECT DISTINCT sha256 FROM blob_refs ORDER BY sha256"
REF_SQL = "SELECT seq, position, sha256 FROM blob_refs ORDER BY seq, position"
DEFAULT_TIMESTAMP_LAG = timedelta(hours=1)


def _utc(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Anchor:
    """A checkpoint held outside the store, and where it came from (for messages)."""

    checkpoint: Checkpoint
    source: str


# canonical_bytes() as text, with one encoder instead of one per call (twice per record here).
_canonical_text = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode

# (column position in RECORD_SQL, field in record_json) compared as text
_TEXT_COLUMNS = (
    (1, "id"),
    (2, "evidence_type"),
    (3, "status"),
    (4, "observed_at"),
    (5, "recorded_at"),
    (8, "idempotency_key"),
    (9, "payload_sha256"),
)


def stream_rows(conn: Connection, sql: str, *, name: str, batch: int = FETCH_ROWS) -> Iterator[list[Any]]:
    """Yield lists of raw DBAPI rows for ``sql``, never holding more than ``batch`` at once.

    PostgreSQL: a named (server-side) cursor inside the caller's transaction. SQLite: a plain cursor on
    the same connection (its own stepping is already incremental).
    """
    dbapi = conn.connection.driver_connection
    if dbapi is None:  # pragma: no cover - a live connection always has one
        raise RuntimeError("connection has no DBAPI connection")
    if conn.dialect.name == "postgresql":
        cursor = dbapi.cursor(name=name)
        cursor.itersize = batch
        factory = None
    else:
        # SQLite stores whatever bytes a writer put in a TEXT column; by default one row that is not
        # UTF-8 aborts the whole scan. Undecodable bytes become lone surrogates instead (the exact bytes
        # come back with encode("utf-8", "surrogateescape")), and the checks name the row.
        factory = dbapi.text_factory
        dbapi.text_factory = _lenient_text
        cursor = dbapi.cursor()
    try:
        cursor.execute(sql)
        while True:
            rows = cursor.fetchmany(batch)
            if not rows:
                return
            yield rows
    finally:
        cursor.close()
        if factory is not None:
            dbapi.text_factory = factory


def _lenient_text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _stored_bytes(text: str) -> tuple[bytes, bool]:
    """The bytes a TEXT value was stored as, and whether they were valid UTF-8."""
    try:
        return text.encode("utf-8"), True
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape"), False


class _Problems:
    def __init__(self) -> None:
        self.listed: list[Problem] = []
        self.per_kind: dict[str, int] = {}
        self.omitted: dict[str, int] = {}

    def add(
        self,
        kind: str,
        message: str,
        *,
        seq: int | None = None,
        record_id: str | None = None,
        blob: str | None = None,
    ) -> None:
        seen = self.per_kind.get(kind, 0)
        self.per_kind[kind] = seen + 1
        if seen >= MAX_LISTED:
            self.omitted[kind] = self.omitted.get(kind, 0) + 1
            return
        self.listed.append(Problem(kind=kind, message=message, seq=seq, record_id=record_id, blob=blob))

    def __bool__(self) -> bool:
        return bool(self.per_kind)


@dataclass
class _Trust:
    """Which key may sign a head of a given size."""

    chain: KeyChain | None
    pinned: dict[str, Verifier] | None  # key_id -> verifier; None: follow the store's key chain
    description: str
    key_ids: tuple[str, ...] = ()
    verifiers: dict[str, Verifier] = field(default_factory=dict)

    def verifier_for(self, size: int, key_id: str) -> tuple[Verifier | None, str]:
        if self.pinned is not None:
            found = self.pinned.get(key_id)
            trusted = ", ".join(sorted(self.pinned)) or "none"
            return found, f"which is not trusted (trusted: {trusted})"
        if self.chain is None:
            return None, "but the store has no bound signing key"
        expected = self.chain.key_for_size(size)
        verifier = Verifier(expected.ed25519())
        if verifier.key_id != key_id:
            known = " (listed in the store's key table, but no rotation signed by the log's key leads to it)"
            return None, (
                f"but the log's key for that size is {verifier.key_id} ({expected.encode()})"
                + (known if key_id in self.verifiers else "")
            )
        return verifier, ""


class _HeadWalker:
    """Checks tree heads as the streaming tree reaches their sizes."""

    def __init__(
        self,
        rows: Iterator[list[Any]],
        trust: _Trust,
        problems: _Problems,
        *,
        origin: str | None,
        checkpoints_from: int,
        on_head: Callable[[SignedTreeHead], None],
    ) -> None:
        self._rows = rows
        self._buffer: list[Any] = []
        self._trust = trust
        self._problems = problems
        self._origin = origin
        self._checkpoints_from = checkpoints_from
        self._on_head = on_head
        self.count = 0
        self.last: SignedTreeHead | None = None
        self._segment_start = 0  # first seq after the previous head
        self._segment_first_id: str | None = None
        self.last_recorded_at: str | None = None  # recorded_at of the latest record streamed

    def _head(self, row: Any) -> SignedTreeHead:
        from evidence.store.store import sth_from_row

        sth = sth_from_row((row[0], row[1], row[2], row[3], row[4]), self._origin, self._checkpoints_from)
        if sth.head.origin is not None and row[6] is not None:
            from dataclasses import replace

            sth = SignedTreeHead(replace(sth.head, prev_hash=row[6]), sth.signature)
        return sth

    def _check_chain(self, sth: SignedTreeHead) -> None:
        """prev-checkpoint links and head times, against the previous stored head."""
        size = sth.head.size
        previous = self.last
        where = f"tree head of size {size} (signed {sth.head.timestamp})"
        if sth.head.origin is not None:
            expected = None
            if previous is not None and previous.head.origin is not None:
                expected = previous.head.body_hash()
            if sth.head.prev_hash != expected:
                if expected is None:
                    what = "heads before it were deleted" if sth.head.prev_hash else "it should name none"
                    self._problems.add(
                        "head_chain_broken",
                        f"{where} names a previous checkpoint the store does not hold: {what}",
                        seq=size - 1 if size else None,
                    )
                else:
                    assert previous is not None
                    self._problems.add(
                        "head_chain_broken",
                        f"{where} does not follow the stored head of size {previous.head.size}: "
                        f"heads between size {previous.head.size} and {size} were deleted or replaced",
                        seq=size - 1 if size else None,
                    )
        if previous is not None:
            before, now = _utc(previous.head.timestamp), _utc(sth.head.timestamp)
            if before is not None and now is not None and now < before:
                self._problems.add(
                    "head_time_backwards",
                    f"{where} is older than the head before it (size {previous.head.size}, signed "
                    f"{previous.head.timestamp}): the signer's clock went back",
                    seq=size - 1 if size else None,
                )
        if self.last_recorded_at is not None and self.last_recorded_at > sth.head.timestamp and size:
            self._problems.add(
                "head_time_backwards",
                f"{where} is older than its last record (seq {size - 1}, recorded {self.last_recorded_at})",
                seq=size - 1,
            )

    def _peek(self) -> Any | None:
        if not self._buffer:
            self._buffer = list(next(self._rows, []))
            self._buffer.reverse()
        return self._buffer[-1] if self._buffer else None

    def next_size(self) -> int | None:
        row = self._peek()
        return None if row is None else int(row[0])

    def note_record(self, seq: int, record_id: str) -> None:
        if self._segment_first_id is None:
            self._segment_first_id = record_id

    def check_at(self, compact: CompactRange, last_seq: int | None, last_id: str | None) -> None:
        """Check every head whose size is the streaming tree's current size."""
        while (row := self._peek()) is not None and int(row[0]) <= compact.size:
            self._buffer.pop()
            size, root_hash, timestamp, key_id, _signature, frontier, _ = row
            size = int(size)
            sth = self._head(row)
            self.count += 1
            self._check_chain(sth)
            self.last = sth
            self._check_signature(sth)
            self._on_head(sth)
            if size < compact.size:  # only reachable for a head that sorts oddly; never silent
                self._problems.add("head_out_of_order", f"tree head of size {size} was not reached in order")
                continue
            actual = compact.root() if size else EMPTY_ROOT
            if actual.hex() != root_hash:
                span = self._span(last_seq, last_id)
                self._problems.add(
                    "head_root_mismatch",
                    f"tree head of size {size} (signed {timestamp} by key {key_id}) has root {root_hash}, "
                    "but "
                    f"the stored records {span} produce root {actual.hex()}",
                    seq=size - 1 if size else None,
                    record_id=last_id,
                )
            else:
                try:
                    stored_frontier = json.loads(frontier)
                except ValueError:
                    stored_frontier = None
                if stored_frontier != [h.hex() for h in compact.to_list()]:
                    self._problems.add(
                        "head_frontier_mismatch",
                        f"tree head of size {size}: its stored frontier does not match the tree "
                        "(the next append would extend a wrong tree)",
                        seq=size - 1 if size else None,
                    )
            self._segment_start = size
            self._segment_first_id = None

    def _span(self, last_seq: int | None, last_id: str | None) -> str:
        if last_seq is None:
            return "(none)"
        first = f"seq {self._segment_start}" + (
            f" (id {self._segment_first_id})" if self._segment_first_id else ""
        )
        return (
            f"up to seq {last_seq} (id {last_id}); changed since the previous head: {first}..seq {last_seq}"
        )

    def _check_signature(self, sth: SignedTreeHead) -> None:
        size = sth.head.size
        verifier, why = self._trust.verifier_for(size, sth.head.key_id)
        if verifier is None:
            self._problems.add(
                "head_untrusted_key",
                f"tree head of size {size} is signed by key {sth.head.key_id}, {why}",
                seq=size - 1 if size else None,
            )
            return
        try:
            verifier.verify_head(sth)
        except VerificationError as exc:
            self._problems.add(
                "head_signature_invalid",
                f"tree head of size {size}: {exc}",
                seq=size - 1 if size else None,
            )

    def remaining(self) -> Iterator[SignedTreeHead]:
        while (row := self._peek()) is not None:
            self._buffer.pop()
            sth = self._head(row)
            self.count += 1
            self._check_chain(sth)
            self.last = sth
            self._check_signature(sth)
            self._on_head(sth)
            yield sth


class _BlobChecker:
    def __init__(self, store: EvidenceStore, problems: _Problems) -> None:
        self._store = store
        self._problems = problems
        self._recent: OrderedDict[str, None] = OrderedDict()
        self.checked = 0

    def check(self, refs: Sequence[tuple[str, int, str, str]]) -> None:
        """``refs``: (digest, seq, record_id, role) for a chunk of records."""
        wanted: list[str] = []
        seen: set[str] = set()
        for digest, _, _, _ in refs:
            if digest in self._recent or digest in seen:
                continue
            seen.add(digest)
            wanted.append(digest)
        if not wanted:
            return
        results = {c.digest: c for c in self._store.blobs.check_many(wanted)}
        self.checked += len(wanted)
        for digest, seq, record_id, role in refs:
            result = results.get(digest)
            if result is None or result.ok:
                continue
            kind = {"missing": "blob_missing", "mismatch": "blob_mismatch"}.get(
                result.status, "blob_unreadable"
            )
            self._problems.add(
                kind,
                f"record {record_id} (seq {seq}): {role} blob {digest} is {result.status}: {result.detail}",
                seq=seq,
                record_id=record_id,
                blob=digest,
            )
        for digest, result in results.items():
            if result.ok:
                self._recent[digest] = None
                if len(self._recent) > BLOB_LRU:
                    self._recent.popitem(last=False)


def _trust(
    store: EvidenceStore, conn: Connection, trusted_keys: Sequence[Verifier] | None, problems: _Problems
) -> _Trust:
    try:
        chain = store._key_chain(conn)
    except Exception as exc:  # noqa: BLE001 - any unreadable key row is reported, not fatal
        problems.add("key_chain_invalid", f"the store's key chain cannot be read: {exc}")
        chain = None
    if chain is not None:
        for message in chain.problems:
            problems.add("key_chain_invalid", message)
    table = _table_keys(conn, problems)
    if trusted_keys is not None:
        pinned = {v.key_id: v for v in trusted_keys}
        if chain is not None:
            # Trust flows forward: a key rotated to by a pinned key (the rotation is signed by it).
            pinned_raw = {v.raw() for v in trusted_keys}
            start = next((i for i, k in enumerate(chain.keys) if k.public_key in pinned_raw), None)
            if start is not None:
                for key in chain.keys[start + 1 :]:
                    verifier = Verifier(key.ed25519())
                    pinned[verifier.key_id] = verifier
        names = ", ".join(sorted(pinned)) or "none"
        return _Trust(
            chain,
            pinned,
            f"pinned keys given by the verifier (and keys rotated to from them): {names}",
            tuple(sorted(pinned)),
            table,
        )
    if chain is None:
        return _Trust(None, None, "no signing key is bound to this store yet", (), table)
    ids = tuple(key_id_for(k.ed25519()) for k in chain.keys)
    for key_id in sorted(set(table) - set(ids)):
        problems.add(
            "signing_key_untrusted",
            f"signing key {key_id} is in the store's key table, but no rotation statement signed by the "
            "log's key leads to it (it was added from outside)",
        )
    return _Trust(
        chain,
        None,
        f"the store's key chain: first key {ids[0]}"
        + (f", rotated to {', '.join(ids[1:])}" if len(ids) > 1 else "")
        + "; this shows the log kept to its own key, not who holds it: pin the key "
        "(--public-key), check a trusted head, or require witnesses for that",
        ids,
        table,
    )


def _table_keys(conn: Connection, problems: _Problems) -> dict[str, Verifier]:
    verifiers = {}
    for row in conn.execute(select(schema.signing_keys)):
        entry = SigningKeyEntry(row.key_id, row.public_pem, row.added_at)
        try:
            verifier = entry.verifier()
        except SigningError as exc:
            problems.add(
                "signing_key_invalid", f"signing key {entry.key_id} in the store is unreadable: {exc}"
            )
            continue
        if verifier.key_id != entry.key_id:
            problems.add(
                "signing_key_invalid",
                f"signing key row {entry.key_id} holds a public key whose id is {verifier.key_id}",
            )
            continue
        verifiers[entry.key_id] = verifier
    return verifiers


def _check_row(row: Sequence[Any], doc: Any, problems: _Problems) -> list[tuple[str, str]]:
    """Compare the indexed columns with record_json; return the blobs (digest, role) it references."""
    seq, record_id = int(row[0]), row[1]
    if not isinstance(doc, dict):
        problems.add(
            "record_json_invalid",
            f"record {record_id} (seq {seq}): record_json is not a JSON object",
            seq=seq,
            record_id=record_id,
        )
        return []
    if doc.get("seq") != seq:
        problems.add(
            "seq_mismatch",
            f"record {doc.get('id', record_id)} sits at seq {seq} but its signed content says "
            f"seq {doc.get('seq')} "
            "(rows were moved or swapped)",
            seq=seq,
            record_id=str(doc.get("id", record_id)),
        )
    differing = [field for position, field in _TEXT_COLUMNS if doc.get(field) != row[position]]
    try:
        if _canonical_text(doc.get("target")) != row[6]:
            differing.append("target")
        if _canonical_text(doc.get("control_ids")) != row[7]:
            differing.append("control_ids")
    except (TypeError, ValueError):
        differing.append("target/control_ids")
    if differing:
        detail = ", ".join(
            f"{f} (column {row[p]!r} vs record {doc.get(f)!r})" for p, f in _TEXT_COLUMNS if f in differing
        )
        for extra in ("target", "control_ids"):
            if extra in differing:
                detail += (
                    ", " if detail else ""
                ) + f"{extra} (column {row[6 if extra == 'target' else 7]!r})"
        problems.add(
            "column_mismatch",
            f"record {doc.get('id', record_id)} (seq {seq}): indexed columns differ from the signed "
            f"record: {detail}",
            seq=seq,
            record_id=str(doc.get("id", record_id)),
        )
    blobs: list[tuple[str, str]] = []
    payload = doc.get("payload_sha256")
    if isinstance(payload, str):
        blobs.append((payload, "payload"))
    for attachment in doc.get("attachments") or ():
        if isinstance(attachment, dict) and isinstance(attachment.get("sha256"), str):
            blobs.append(
                (
                    attachment["sha256"],
                    f"attachment {attachment.get('name') or attachment.get('role') or ''}".strip(),
                )
            )
    return blobs


class _Refs:
    """Merges the blob_refs index (ordered by seq, position) against the records being streamed."""

    def __init__(self, rows: Iterator[list[Any]], problems: _Problems) -> None:
        self._rows = (row for batch in rows for row in batch)
        self._next: Any = next(self._rows, None)
        self._problems = problems

    def check(self, seq: int, record_id: str, expected: list[str]) -> None:
        while self._next is not None and int(self._next[0]) < seq:
            self._problems.add(
                "blob_ref_orphan",
                f"blob_refs row (seq {self._next[0]}, position {self._next[1]}) belongs to no record",
                seq=int(self._next[0]),
            )
            self._next = next(self._rows, None)
        found: dict[int, str] = {}
        while self._next is not None and int(self._next[0]) == seq:
            found[int(self._next[1])] = self._next[2]
            self._next = next(self._rows, None)
        for position, digest in enumerate(expected):
            if found.get(position) != digest:
                what = "missing" if position not in found else f"names {found[position]}"
                self._problems.add(
                    "blob_ref_missing",
                    f"record {record_id} (seq {seq}): index row blob_refs({seq}, {position}) for blob "
                    f"{digest} is {what} (index rows were deleted or edited)",
                    seq=seq,
                    record_id=record_id,
                    blob=digest,
                )

    def finish(self) -> None:
        while self._next is not None:
            self._problems.add(
                "blob_ref_orphan",
                f"blob_refs row (seq {self._next[0]}, position {self._next[1]}) belongs to no record",
                seq=int(self._next[0]),
            )
            self._next = next(self._rows, None)


class _Attestations:
    """Witness cosignatures and timestamp tokens, checked as their heads stream past."""

    def __init__(
        self,
        conn: Connection,
        problems: _Problems,
        notices: list[Problem],
        *,
        witness_keys: Sequence[VerifierKey] | None,
        witness_quorum: int,
        tsa_roots: Sequence[Any] | None,
        timestamp_lag: timedelta,
    ) -> None:
        self._problems = problems
        self._notices = notices
        self._witness_keys = {k.encode(): k for k in (witness_keys or ())}
        self._require_witnesses = witness_keys is not None
        self._quorum = witness_quorum
        self._roots = tsa_roots
        self._lag = timestamp_lag
        self.cosigs: dict[int, list[tuple[str, str]]] = {}
        for size, witness, line in conn.execute(
            select(
                schema.cosignatures.c.size,
                schema.cosignatures.c.witness,
                schema.cosignatures.c.signature_line,
            )
        ):
            self.cosigs.setdefault(int(size), []).append((witness, line))
        self.stamps: dict[int, tuple[str, str]] = {
            int(size): (tsa, response)
            for size, tsa, response in conn.execute(
                select(schema.timestamps.c.size, schema.timestamps.c.tsa, schema.timestamps.c.response)
            )
        }
        self.valid_cosigners: dict[int, set[str]] = {}
        self.last_witnessed: int | None = None
        self.last_stamped: int | None = None
        self.seen: set[int] = set()

    def on_head(self, sth: SignedTreeHead) -> None:
        size = sth.head.size
        self.seen.add(size)
        if sth.head.origin is None:
            return
        body = sth.head.checkpoint().body()
        for witness, line in self.cosigs.get(size, ()):
            self._check_cosignature(size, body, witness, line)
        if size in self.stamps:
            self._check_timestamp(sth, *self.stamps[size])

    def _check_cosignature(self, size: int, body: str, witness: str, line: str) -> None:
        key = self._witness_keys.get(witness)
        if key is None:
            if self._require_witnesses:
                return  # a witness the verifier does not trust: ignored, as signed-note says
            try:
                key = VerifierKey.parse(witness)
            except NoteError as exc:
                self._problems.add(
                    "cosignature_invalid", f"cosignature on size {size}: bad witness key: {exc}"
                )
                return
        try:
            verify_cosignature(key, body, NoteSignature.parse_line(line.rstrip("\n")))
        except NoteError as exc:
            self._problems.add(
                "cosignature_invalid",
                f"witness {key.name} cosigned a different checkpoint of size {size} than the store's head "
                f"of that size ({exc}): the head was rewritten after the witness saw it (a fork)",
                seq=size - 1,
            )
            return
        self.valid_cosigners.setdefault(size, set()).add(key.encode())
        self.last_witnessed = size

    def _check_timestamp(self, sth: SignedTreeHead, tsa: str, response: str) -> None:
        from evidence.timestamping import TimestampError, check_response

        size = sth.head.size
        try:
            stamp = check_response(base64.b64decode(response), sth.head.signed_bytes(), self._roots)
        except (TimestampError, ValueError) as exc:
            self._problems.add(
                "timestamp_invalid",
                f"timestamp token from {tsa} on the head of size {size}: {exc} (the head was rewritten "
                "after it was timestamped, or the token was altered)",
                seq=size - 1,
            )
            return
        claimed = _utc(sth.head.timestamp)
        if claimed is None:
            return
        from evidence.store.store import CLOCK_SKEW

        if stamp.gen_time < claimed - CLOCK_SKEW or stamp.gen_time > claimed + self._lag:
            self._problems.add(
                "timestamp_disagrees",
                f"the head of size {size} claims to be signed at {sth.head.timestamp}, but its timestamp "
                f"token from {tsa} says {stamp.gen_time.isoformat()}: its time is not what the TSA saw "
                "(a backdated or re-signed head)",
                seq=size - 1,
            )
            return
        self.last_stamped = size

    def finish(self, last: SignedTreeHead | None) -> None:
        for size in sorted(set(self.cosigs) - self.seen):
            self._problems.add(
                "cosignature_orphan",
                f"a witness cosigned a checkpoint of size {size}, but the store has no head of that size "
                "(heads were deleted, or the log was truncated)",
            )
        for size in sorted(set(self.stamps) - self.seen):
            self._problems.add(
                "timestamp_orphan",
                f"a timestamp token covers a checkpoint of size {size}, but the store has no head of that "
                "size (heads were deleted, or the log was truncated)",
            )
        if last is None:
            return
        size = last.head.size
        if self._require_witnesses:
            have = len(self.valid_cosigners.get(size, set()) & set(self._witness_keys))
            if have < self._quorum:
                self._problems.add(
                    "witness_quorum",
                    f"the latest head (size {size}) carries {have} of the {self._quorum} required witness "
                    f"cosignature(s); the latest witnessed head is size {self.last_witnessed or 'none'} "
                    "(a witness was down, or refused it: run `evidence checkpoint` to retry)",
                    seq=size - 1,
                )
        elif self.cosigs and self.last_witnessed != size:
            self._notices.append(
                Problem(
                    kind="unwitnessed_heads",
                    message=f"heads after size {self.last_witnessed or 0} have no witness cosignature "
                    "(`evidence checkpoint` retries)",
                )
            )
        if self._roots is not None and self.last_stamped != size:
            self._problems.add(
                "timestamp_missing",
                f"the latest head (size {size}) has no valid timestamp token; the latest timestamped head is "
                f"size {self.last_stamped or 'none'}",
                seq=size - 1,
            )
        elif self.stamps and self.last_stamped != size:
            self._notices.append(
                Problem(
                    kind="untimestamped_heads",
                    message=f"heads after size {self.last_stamped or 0} have no timestamp token",
                )
            )


def verify_store(
    store: EvidenceStore,
    *,
    trusted_keys: Sequence[Verifier] | None = None,
    check_blobs: bool = True,
    progress: Callable[[int, int], None] | None = None,
    anchors: Sequence[Anchor] = (),
    witness_keys: Sequence[VerifierKey] | None = None,
    witness_quorum: int = 1,
    tsa_roots: Sequence[Any] | None = None,
    timestamp_lag: timedelta = DEFAULT_TIMESTAMP_LAG,
) -> VerifyReport:
    from evidence.store.store import CLOCK_SKEW

    started = time.perf_counter()
    problems = _Problems()
    notices: list[Problem] = []
    orphan_count = 0
    sha256 = hashlib.sha256
    loads = json.loads
    skew = CLOCK_SKEW
    pending_anchors = sorted(anchors, key=lambda a: a.checkpoint.size)
    with store._read() as conn:
        trust = _trust(store, conn, trusted_keys, problems)
        for missing in schema.missing_triggers(conn):
            problems.add(
                "append_only_trigger_missing",
                f"append-only trigger {missing} is missing or disabled: the database no longer refuses "
                "UPDATE/DELETE on that table",
            )
        attestations = _Attestations(
            conn,
            problems,
            notices,
            witness_keys=witness_keys,
            witness_quorum=witness_quorum,
            tsa_roots=tsa_roots,
            timestamp_lag=timestamp_lag,
        )
        total = int(conn.exec_driver_sql("SELECT count(*) FROM records").scalar_one())
        heads = _HeadWalker(
            stream_rows(conn, HEAD_SQL, name="evidence_verify_heads", batch=1000),
            trust,
            problems,
            origin=store.origin or None,
            checkpoints_from=store.checkpoints_from,
            on_head=attestations.on_head,
        )
        refs_index = _Refs(stream_rows(conn, REF_SQL, name="evidence_verify_refs"), problems)
        blob_checker = _BlobChecker(store, problems)
        compact = CompactRange()
        expected = 0
        prev_seq: int | None = None
        prev_id: str | None = None
        prev_recorded: str | None = None
        done = 0

        def check_anchors() -> None:
            while pending_anchors and pending_anchors[0].checkpoint.size <= compact.size:
                anchor = pending_anchors.pop(0)
                if anchor.checkpoint.size < compact.size:
                    continue  # only reachable for size 0
                root = compact.root()
                if root != anchor.checkpoint.root:
                    problems.add(
                        "forked",
                        f"FORK: {anchor.source} says the log's first {anchor.checkpoint.size} records have "
                        f"root {anchor.checkpoint.root.hex()}, but the store's records produce "
                        f"{root.hex()}: the log was rewritten (rewound and appended to) after that "
                        "checkpoint was taken",
                        seq=anchor.checkpoint.size - 1 if anchor.checkpoint.size else None,
                    )

        check_anchors()
        heads.check_at(compact, None, None)
        for rows in stream_rows(conn, RECORD_SQL, name="evidence_verify_records"):
            refs: list[tuple[str, int, str, str]] = []
            for row in rows:
                seq = int(row[0])
                record_id = row[1]
                if seq != expected:
                    before = (
                        f"seq {prev_seq} (id {prev_id})" if prev_seq is not None else "the start of the log"
                    )
                    missing = f"seq {expected}" if seq == expected + 1 else f"seqs {expected}..{seq - 1}"
                    problems.add(
                        "seq_gap",
                        f"records {missing} are missing between {before} and seq {seq} (id {record_id}): "
                        "rows were deleted",
                        seq=expected,
                        record_id=record_id,
                    )
                expected = seq + 1
                record_json = row[11]
                stored, utf8 = _stored_bytes(record_json)
                if not utf8:
                    problems.add(
                        "not_utf8",
                        f"record {record_id} (seq {seq}): its record_json holds bytes that are not valid "
                        "UTF-8 (written outside the evidence store)",
                        seq=seq,
                        record_id=record_id,
                    )
                leaf = sha256(b"\x00" + stored).digest()
                if leaf.hex() != row[10]:
                    problems.add(
                        "leaf_hash_mismatch",
                        f"record {record_id} (seq {seq}): record_json hashes to leaf {leaf.hex()}, "
                        f"the stored leaf_hash is {row[10]} (the record or its hash was edited)",
                        seq=seq,
                        record_id=record_id,
                    )
                try:
                    doc = loads(record_json)
                except ValueError:
                    doc = None
                blobs = _check_row(row, doc, problems)
                refs_index.check(seq, record_id, [digest for digest, _ in blobs])
                for digest, role in blobs:
                    refs.append((digest, seq, record_id, role))
                observed_text, recorded_text = row[4], row[5]
                if prev_recorded is not None and recorded_text < prev_recorded:
                    problems.add(
                        "recorded_at_backwards",
                        f"record {record_id} (seq {seq}) was recorded at {recorded_text}, before the record "
                        f"before it ({prev_recorded}): the appender's clock went back",
                        seq=seq,
                        record_id=record_id,
                    )
                observed, recorded = _utc(observed_text), _utc(recorded_text)
                if observed is not None and recorded is not None and observed > recorded + skew:
                    problems.add(
                        "observed_in_future",
                        f"record {record_id} (seq {seq}) claims it was observed at {observed_text}, after it "
                        f"was recorded ({recorded_text}): evidence from the future would win latest() and "
                        "posture until that date",
                        seq=seq,
                        record_id=record_id,
                    )
                prev_recorded = recorded_text
                heads.last_recorded_at = recorded_text
                heads.note_record(seq, record_id)
                compact.append(leaf)
                prev_seq, prev_id = seq, record_id
                if pending_anchors and pending_anchors[0].checkpoint.size == compact.size:
                    check_anchors()
                if heads.next_size() == compact.size:
                    heads.check_at(compact, prev_seq, prev_id)
                done += 1
                if progress is not None and done % PROGRESS_EVERY == 0:
                    progress(done, total)
            if check_blobs and refs:
                blob_checker.check(refs)
        refs_index.finish()
        for sth in heads.remaining():
            problems.add(
                "head_beyond_log",
                f"tree head of size {sth.head.size} (signed {sth.head.timestamp}) covers more records "
                "than the "
                f"store holds ({compact.size}): records after seq {prev_seq} (id {prev_id}) were removed",
                seq=compact.size,
            )
        last = heads.last
        covered = last.head.size if last is not None else 0
        if compact.size > covered:
            problems.add(
                "unsigned_tail",
                f"records seq {covered}..{prev_seq} (last id {prev_id}) are not covered by any signed "
                "tree head",
                seq=covered,
                record_id=prev_id,
            )
        for anchor in pending_anchors:
            problems.add(
                "truncated",
                f"TRUNCATED: {anchor.source} covers {anchor.checkpoint.size} records, but the store "
                f"now holds {compact.size} (latest head: size {covered}): records after seq "
                f"{compact.size - 1} were deleted together with their heads",
                seq=compact.size,
            )
        attestations.finish(last)
        if check_blobs:
            orphan_count = _scan_orphans(store, conn, notices)
    for path, age in store.blobs.temp_files():
        notices.append(
            Problem(
                kind="orphan_temp_file",
                message=f"temporary file {path} ({age / 60:.0f} min old) was left by an interrupted append; "
                "the next append removes it once it is older than 10 minutes",
            )
        )
    if progress is not None:
        progress(done, total)
    listed = tuple(problems.listed)
    for kind, count in problems.omitted.items():
        listed += (Problem(kind=kind, message=f"... and {count} more {kind} problems (not listed)"),)
    checkpoint = None
    log_key = trust.chain.current.encode() if trust.chain is not None else None
    if last is not None and last.head.origin is not None and trust.chain is not None:
        note = last.note(trust.chain.key_for_size(last.head.size))
        extra = []
        for _, line in attestations.cosigs.get(last.head.size, ()):
            try:
                extra.append(NoteSignature.parse_line(line.rstrip("\n")))
            except NoteError:
                continue
        checkpoint = note.with_signatures(extra).encode()
    return VerifyReport(
        ok=not problems,
        records=done,
        blobs=blob_checker.checked,
        tree_heads=heads.count,
        tree_size=last.head.size if last is not None else None,
        root_hash=last.head.root_hash if last is not None else None,
        trust=trust.description,
        trusted_key_ids=trust.key_ids,
        problems=listed,
        notices=tuple(notices),
        omitted_problems=dict(problems.omitted),
        orphan_blobs=orphan_count,
        elapsed_seconds=time.perf_counter() - started,
        origin=store.origin or None,
        log_key=log_key,
        checkpoint=checkpoint,
    )


def _scan_orphans(store: EvidenceStore, conn: Connection, notices: list[Problem]) -> int:
    """Blobs no record references (an append killed after writing its blobs). Informational.

    A merge of two ascending streams, the blob store's listing and the referenced digests, so it costs
    one pass over each and no memory.
    """
    count = 0
    referenced = (
        row[0]
        for rows in stream_rows(conn, ORPHAN_SQL, name="evidence_verify_blob_refs", batch=10000)
        for row in rows
    )
    current = next(referenced, None)
    for digest in store.blobs.iter_digests():
        while current is not None and current < digest:
            current = next(referenced, None)
        if current == digest:
            continue
        count += 1
        if count <= MAX_ORPHANS_LISTED:
            notices.append(
                Problem(
                    kind="orphan_blob",
                    message=f"blob {digest} is not referenced by any record "
                    "(left by an interrupted append; harmless)",
                    blob=digest,
                )
            )
    for _ in referenced:  # drain, so the cursor closes in order
        pass
    if count > MAX_ORPHANS_LISTED:
        notices.append(
            Problem(kind="orphan_blob", message=f"... and {count - MAX_ORPHANS_LISTED} more orphan blobs")
        )
    return count

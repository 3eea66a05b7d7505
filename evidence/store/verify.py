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
- every head's Ed25519 signature verifies against the trusted keys: by default the store's own
  ``signing_keys`` table (the report says so: a forger who can write the database can add a key
  there), or the ``trusted_keys`` an auditor pinned;
- the latest head covers every record (an unsigned tail, or a head beyond the end of the log, is
  reported);
- the append-only triggers are present and enabled.

Memory stays flat: rows are fetched a few thousand at a time, the Merkle state is O(log n), recently
checked blob digests are remembered in a bounded LRU, and at most ``MAX_LISTED`` problems of a kind are
listed (the rest are counted). Orphan blobs (written by an append that never committed) are notices.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from evidence.errors import SigningError, VerificationError
from evidence.merkle import EMPTY_ROOT, CompactRange
from evidence.signing import SignedTreeHead, TreeHead, Verifier
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
HEAD_SQL = "SELECT size, root_hash, timestamp, key_id, signature, frontier FROM tree_heads ORDER BY size"
ORPHAN_SQL = "SELECT DISTINCT sha256 FROM blob_refs ORDER BY sha256"

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
    else:
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


class _HeadWalker:
    """Checks tree heads as the streaming tree reaches their sizes."""

    def __init__(
        self, rows: Iterator[list[Any]], verifiers: dict[str, Verifier], problems: _Problems
    ) -> None:
        self._rows = rows
        self._buffer: list[Any] = []
        self._verifiers = verifiers
        self._problems = problems
        self.count = 0
        self.last: SignedTreeHead | None = None
        self._segment_start = 0  # first seq after the previous head
        self._segment_first_id: str | None = None

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
            size, root_hash, timestamp, key_id, signature, frontier = row
            size = int(size)
            sth = SignedTreeHead(TreeHead(size, root_hash, timestamp, key_id), signature)
            self.count += 1
            self.last = sth
            self._check_signature(sth)
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
        verifier = self._verifiers.get(sth.head.key_id)
        size = sth.head.size
        if verifier is None:
            trusted = ", ".join(sorted(self._verifiers)) or "none"
            self._problems.add(
                "head_untrusted_key",
                f"tree head of size {size} is signed by key {sth.head.key_id}, which is not trusted "
                f"(trusted: {trusted})",
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
            size, root_hash, timestamp, key_id, signature, _ = row
            sth = SignedTreeHead(TreeHead(int(size), root_hash, timestamp, key_id), signature)
            self.count += 1
            self.last = sth
            self._check_signature(sth)
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
) -> tuple[dict[str, Verifier], str]:
    if trusted_keys is not None:
        verifiers = {v.key_id: v for v in trusted_keys}
        return verifiers, "pinned keys given by the verifier: " + (", ".join(sorted(verifiers)) or "none")
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
    keys = ", ".join(sorted(verifiers)) or "none"
    return verifiers, (
        f"the store's own signing_keys table ({keys}); this shows the log is internally consistent, "
        "not who signed it: pin an independently held public key (trusted_keys) for that"
    )


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


def verify_store(
    store: EvidenceStore,
    *,
    trusted_keys: Sequence[Verifier] | None = None,
    check_blobs: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    started = time.perf_counter()
    problems = _Problems()
    notices: list[Problem] = []
    orphan_count = 0
    sha256 = hashlib.sha256
    loads = json.loads
    with store._read() as conn:
        verifiers, trust = _trust(store, conn, trusted_keys, problems)
        for missing in schema.missing_triggers(conn):
            problems.add(
                "append_only_trigger_missing",
                f"append-only trigger {missing} is missing or disabled: the database no longer refuses "
                "UPDATE/DELETE on that table",
            )
        total = int(conn.exec_driver_sql("SELECT count(*) FROM records").scalar_one())
        heads = _HeadWalker(
            stream_rows(conn, HEAD_SQL, name="evidence_verify_heads", batch=1000), verifiers, problems
        )
        blob_checker = _BlobChecker(store, problems)
        compact = CompactRange()
        expected = 0
        prev_seq: int | None = None
        prev_id: str | None = None
        done = 0
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
                leaf = sha256(b"\x00" + record_json.encode("utf-8")).digest()
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
                for digest, role in _check_row(row, doc, problems):
                    refs.append((digest, seq, record_id, role))
                heads.note_record(seq, record_id)
                compact.append(leaf)
                prev_seq, prev_id = seq, record_id
                if heads.next_size() == compact.size:
                    heads.check_at(compact, prev_seq, prev_id)
                done += 1
                if progress is not None and done % PROGRESS_EVERY == 0:
                    progress(done, total)
            if check_blobs and refs:
                blob_checker.check(refs)
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
        if check_blobs:
            orphan_count = _scan_orphans(store, conn, notices)
    if progress is not None:
        progress(done, total)
    listed = tuple(problems.listed)
    for kind, count in problems.omitted.items():
        listed += (Problem(kind=kind, message=f"... and {count} more {kind} problems (not listed)"),)
    return VerifyReport(
        ok=not problems,
        records=done,
        blobs=blob_checker.checked,
        tree_heads=heads.count,
        tree_size=last.head.size if last is not None else None,
        root_hash=last.head.root_hash if last is not None else None,
        trust=trust,
        trusted_key_ids=tuple(sorted(verifiers)),
        problems=listed,
        notices=tuple(notices),
        omitted_problems=dict(problems.omitted),
        orphan_blobs=orphan_count,
        elapsed_seconds=time.perf_counter() - started,
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

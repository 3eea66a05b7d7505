"""Auditor bundles: one zip with everything an auditor needs to check a framework's evidence for a period
offline, without access to the store.

Layout of the zip (every path is listed with its SHA-256 and size in ``manifest.json``):

``index.html``, ``controls/<CONTROL>.html``
    the report, browsable offline: posture per control for the period, omissions, the newest records
    of each control (every piece of evidence text HTML-escaped; no script, no external resource);
``records.jsonl``
    every record of the period serving the framework, in log order, one JSON object per line: the
    stored record (its leaf data plus ``leaf_hash``), its payload, GX result and API-call log (as JSON
    when their bytes are canonical JSON, else base64; a verifier re-hashes them against the record);
``proofs.jsonl``
    one RFC 9162 inclusion proof per record, same order, against the signed checkpoint;
``attachments/<sha256>``
    documents attested records point at (attestation documents);
``oscal/assessment-results.json``
    an OSCAL 1.2 assessment-results document (compliance-trestle models; validated before writing);
``checkpoint.txt``, ``tree-head.json``
    the signed tree head the proofs are against, as a C2SP checkpoint (with witness cosignatures) and
    as JSON;
``previous-checkpoint.txt``, ``consistency.json``
    when the previous bundle's head is given: it, and the RFC 9162 consistency proof from it;
``public-key.pem``, ``log.vkey``
    the log's key (an auditor pins it with ``--public-key``; the bundle's own copy is only a hint);
``manifest.json``, ``manifest.sig``
    the manifest (framework, period, head, counts, omissions, files) and a signed note over its
    SHA-256 by the log's key: a bundle cannot be edited, cut or re-labelled without the key.

The same store state and arguments give a byte-identical zip: entries are written in a fixed order with
the head's time as their timestamp, JSON with sorted keys, OSCAL uuids derived from the head's root
(uuid5), Ed25519 signatures deterministic.

Export streams: records are read a few hundred at a time, the Merkle tree's levels go to a temporary
file (64 bytes per leaf), each record's proof is rendered from it after records.jsonl (a spool of about
100 bytes a record keeps what the proof line needs), the zip is written to a stream that need not seek
(data descriptors, ZIP64), and the two large entries are deflated on a worker thread while the next
records are rendered. Memory stays flat in the number of records.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import io
import json
import os
import struct
import tempfile
import time
import uuid
import zipfile
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from sqlalchemy import and_, func, select

from evidence import merkle
from evidence.canonical import canonical_bytes, utc_iso
from evidence.catalog import Catalog, Control, load_catalog
from evidence.errors import BlobError, ConfigError, SigningError, StoreError, UsageError, VerificationError
from evidence.note import Checkpoint, NoteError, SignedNote, VerifierKey, signature_line, verify_note
from evidence.records import PreparedRecord, RunContext, record_leaf_data
from evidence.signing import SignedTreeHead, Verifier

if TYPE_CHECKING:
    from evidence.store import EvidenceStore

BUNDLE_FORMAT = "evidence-bundle/1"
FRAMEWORKS = ("soc2", "gdpr", "dr")
MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.sig"
RECORDS = "records.jsonl"
PROOFS = "proofs.jsonl"
OSCAL = "oscal/assessment-results.json"
CHECKPOINT = "checkpoint.txt"
TREE_HEAD = "tree-head.json"
PREVIOUS_CHECKPOINT = "previous-checkpoint.txt"
CONSISTENCY = "consistency.json"
PUBLIC_KEY = "public-key.pem"
LOG_VKEY = "log.vkey"

# How many records each control page lists (newest first); records.jsonl holds all of them.
PAGE_RECORDS = 50
# At most this many expected collection windows per evidence type (a period of years at PT1H would
# otherwise be millions); and this many missing ranges listed per (evidence type, target).
MAX_WINDOWS = 20_000
MAX_RANGES = 50
# At most this many problems of one kind are listed by verify (the rest are counted).
MAX_PROBLEMS_PER_KIND = 20
_SCOPED = "resources"  # a resource-scoped (event-driven) record's target key: not a scheduled run
_OSCAL_NAMESPACE = uuid.UUID("6f1f38a2-3c1e-5a0b-9a51-7f6d2f0b5e11")
_HASH = merkle.HASH_SIZE
_READ_CHUNK = 1 << 16


# ----------------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class BundleSummary:
    """What ``write_bundle`` wrote: enough to show the user and to record the export as evidence."""

    framework: str
    start: datetime | None
    end: datetime | None
    records: int
    controls: int
    controls_without_evidence: int
    missed_collections: int
    tree_size: int
    root_hash: str
    origin: str
    sha256: str  # of the whole zip as written to ``out``
    size: int
    manifest_sha256: str
    files: int
    previous_size: int | None = None
    elapsed_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "start": utc_iso(self.start) if self.start else None,
            "end": utc_iso(self.end) if self.end else None,
            "records": self.records,
            "controls": self.controls,
            "controls_without_evidence": self.controls_without_evidence,
            "missed_collections": self.missed_collections,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "origin": self.origin,
            "sha256": self.sha256,
            "size": self.size,
            "manifest_sha256": self.manifest_sha256,
            "files": self.files,
            "previous_size": self.previous_size,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }


@dataclass(frozen=True)
class BundleProblem:
    kind: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message}


@dataclass
class BundleReport:
    """The outcome of ``verify_bundle``: ``ok`` iff no problem was found."""

    path: str
    problems: list[BundleProblem] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    omitted: Counter[str] = field(default_factory=Counter)
    records: int = 0
    files: int = 0
    framework: str | None = None
    period: dict[str, str | None] = field(default_factory=dict)
    tree_size: int | None = None
    root_hash: str | None = None
    trust: str = ""
    omissions: dict[str, Any] = field(default_factory=dict)
    elapsed_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems and not self.omitted

    def add(self, kind: str, message: str) -> None:
        if sum(1 for p in self.problems if p.kind == kind) >= MAX_PROBLEMS_PER_KIND:
            self.omitted[kind] += 1
            return
        self.problems.append(BundleProblem(kind, message))

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "framework": self.framework,
            "period": self.period,
            "records": self.records,
            "files": self.files,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "trust": self.trust,
            "omissions": self.omissions,
            "problems": [p.to_dict() for p in self.problems],
            "omitted_problems": dict(self.omitted),
            "notices": list(self.notices),
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }


# ----------------------------------------------------------------------------------------------------
# the Merkle tree's levels, on disk


class TreeLevels:
    """Every level of the RFC 9162 tree over ``size`` leaf hashes, in a temporary file.

    Level 0 holds the leaves; a node of level ``l + 1`` is ``HASH(0x01 || left || right)`` of two nodes
    of level ``l``, and a last node without a sibling is carried up unchanged. That is the RFC's tree
    (split at the largest power of two below ``n``) built bottom-up, so the inclusion proof of leaf
    ``i`` is the sibling of its ancestor at each level, where there is one. 64 bytes per leaf on disk,
    a few blocks in memory.
    """

    def __init__(self, leaf_hashes: Iterator[bytes], size: int, *, tmpdir: str | None = None) -> None:
        self.size = size
        self._file = tempfile.TemporaryFile(prefix="evidence-bundle-tree-", dir=tmpdir)  # noqa: SIM115 - closed by close()
        self._fd = self._file.fileno()
        self._counts: list[int] = []
        self._offsets: list[int] = []
        self._cache: dict[int, tuple[int, bytes]] = {}
        self._last = -1  # the leaf inclusion_proof_json rendered last, and its rendering by level
        self._suffix: list[bytes] = []
        written = self._write_level(0, self._chunks(leaf_hashes))
        if written != size:
            raise StoreError(f"the store holds {written} leaves below its signed tree head of size {size}")
        while self._counts[-1] > 1:
            self._write_level(self._offset_after_last(), self._parents(len(self._counts) - 1))

    @staticmethod
    def _chunks(leaf_hashes: Iterator[bytes]) -> Iterator[bytes]:
        buffer = bytearray()
        for leaf in leaf_hashes:
            buffer += leaf
            if len(buffer) >= _READ_CHUNK * _HASH // 32:
                yield bytes(buffer)
                buffer.clear()
        if buffer:
            yield bytes(buffer)

    def _offset_after_last(self) -> int:
        return self._offsets[-1] + self._counts[-1] * _HASH

    def _write_level(self, offset: int, chunks: Iterator[bytes]) -> int:
        count = 0
        position = offset
        for chunk in chunks:
            os.pwrite(self._fd, chunk, position)
            position += len(chunk)
            count += len(chunk) // _HASH
        self._offsets.append(offset)
        self._counts.append(count)
        return count

    def _parents(self, level: int) -> Iterator[bytes]:
        count, offset = self._counts[level], self._offsets[level]
        sha256 = hashlib.sha256
        step = 2 * 1024  # nodes per read: even, so pairs never straddle reads
        for first in range(0, count, step):
            n = min(step, count - first)
            data = os.pread(self._fd, n * _HASH, offset + first * _HASH)
            nodes = [data[i : i + _HASH] for i in range(0, len(data), _HASH)]
            out = [sha256(b"\x01" + a + b).digest() for a, b in zip(nodes[0::2], nodes[1::2], strict=False)]
            if n % 2:
                out.append(nodes[-1])
            yield b"".join(out)

    def root(self) -> bytes:
        if self.size == 0:
            return merkle.EMPTY_ROOT
        return self._node(len(self._counts) - 1, 0)

    def _node(self, level: int, index: int) -> bytes:
        block = index // 128
        cached = self._cache.get(level)
        if cached is None or cached[0] != block:
            start = block * 128
            n = min(128, self._counts[level] - start)
            cached = (block, os.pread(self._fd, n * _HASH, self._offsets[level] + start * _HASH))
            self._cache[level] = cached
        at = (index - block * 128) * _HASH
        return cached[1][at : at + _HASH]

    def inclusion_proof(self, index: int) -> list[bytes]:
        if not 0 <= index < self.size:
            raise ValueError(f"leaf index {index} is outside a tree of {self.size} leaves")
        path = []
        for level in range(len(self._counts) - 1):
            sibling = index ^ 1
            if sibling < self._counts[level]:
                path.append(self._node(level, sibling))
            index >>= 1
        return path

    def inclusion_proof_json(self, index: int) -> bytes:
        """``inclusion_proof(index)`` as the inside of a JSON array of hex strings (``"ab..","cd.."``).

        The sibling at level ``l`` depends only on ``index >> l``: from one leaf to the next, only the
        levels below the highest bit in which the two indexes differ change (about two for leaves taken
        in ascending order, as a bundle's records are). Those levels are re-read and re-rendered; each
        level keeps the rendering of itself and every level above it."""
        if not 0 <= index < self.size:
            raise ValueError(f"leaf index {index} is outside a tree of {self.size} leaves")
        depth = len(self._counts) - 1
        if self._last < 0:
            self._suffix = [b""] * (depth + 1)  # _suffix[l]: levels l.. joined; _suffix[depth] empty
            changed = depth
        else:
            changed = min(depth, (index ^ self._last).bit_length())
        self._last = index
        suffix, counts = self._suffix, self._counts
        for level in range(changed - 1, -1, -1):
            sibling = (index >> level) ^ 1
            above = suffix[level + 1]
            if sibling < counts[level]:
                node = b'"' + self._node(level, sibling).hex().encode("ascii") + b'"'
                suffix[level] = node + b"," + above if above else node
            else:
                suffix[level] = above
        return suffix[0]

    def close(self) -> None:
        self._file.close()


# ----------------------------------------------------------------------------------------------------
# writing


class _ProofSpool:
    """(seq, bytes) pairs in a temporary file, read back in the order written: framed by length (the
    bytes come from the store and are written as they are)."""

    _HEAD = struct.Struct("<QI")

    def __init__(self, tmpdir: str | None) -> None:
        self._file = tempfile.TemporaryFile(prefix="evidence-bundle-proofs-", dir=tmpdir)  # noqa: SIM115 - closed by __exit__
        self._buffer = bytearray()

    def __enter__(self) -> _ProofSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def add(self, seq: int, data: bytes) -> None:
        self._buffer += self._HEAD.pack(seq, len(data))
        self._buffer += data
        if len(self._buffer) >= 1 << 20:
            self._file.write(self._buffer)
            self._buffer.clear()

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        self._file.write(self._buffer)
        self._buffer.clear()
        self._file.seek(0)
        head, head_size = self._HEAD, self._HEAD.size
        pending = b""
        while chunk := self._file.read(1 << 20):
            data = pending + chunk if pending else chunk
            at = 0
            while at + head_size <= len(data):
                seq, length = head.unpack_from(data, at)
                end = at + head_size + length
                if end > len(data):
                    break
                yield seq, data[at + head_size : end]
                at = end
            pending = data[at:]
        if pending:
            raise StoreError("the bundle's proof spool ends inside an entry")


class _CountingWriter:
    """Wraps the caller's stream: counts and hashes what the zip writes. It has no ``tell``/``seek``,
    so ``zipfile`` writes data descriptors and never seeks back (works on pipes and HTTP responses)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.size = 0
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._out.write(data)
        self.size += len(data)
        self.sha256.update(data)
        return len(data)

    def flush(self) -> None:
        self._out.flush()


# Large entries (records.jsonl, proofs.jsonl) are compressed on a second thread: zlib, zlib.crc32 and
# hashlib release the GIL on large buffers, so deflating one chunk overlaps rendering the next. The
# chunks are large because each GIL hand-back to the compressing thread can wait for the interpreter's
# switch interval (5 ms) while the rendering thread runs Python.
_CHUNK = 1 << 18
_BACKGROUND_CHUNK = 1 << 22
_BACKGROUND_DEPTH = 2  # chunks queued behind the one being compressed (memory: a few chunks)
_BACKGROUND = True  # False: everything on the calling thread (bench/bench_bundle.py compares both)


class _HashingEntry:
    """One zip entry being written: its SHA-256 and size go into the manifest. Small writes (a record
    line) are gathered into chunks: one compress call per chunk, not per line. With ``background``
    the chunks are hashed, deflated and written by one worker thread, in order."""

    def __init__(self, handle: IO[bytes], *, background: bool = False) -> None:
        self._handle = handle
        self.sha256 = hashlib.sha256()
        self.size = 0
        self._pending: list[bytes] = []
        self._pending_size = 0
        background = background and _BACKGROUND
        self._chunk = _BACKGROUND_CHUNK if background else _CHUNK
        self._worker = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="evidence-bundle-zip")
            if background
            else None
        )
        self._inflight: deque[Future[None]] = deque()

    def write(self, data: bytes) -> None:
        self.size += len(data)
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= self._chunk:
            self.flush()

    def _put(self, data: bytes) -> None:
        self.sha256.update(data)
        self._handle.write(data)

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        if self._worker is None:
            self._put(data)
            return
        self._inflight.append(self._worker.submit(self._put, data))
        while len(self._inflight) > _BACKGROUND_DEPTH:
            self._inflight.popleft().result()

    def finish(self) -> None:
        """Write what is gathered and wait for the worker (its errors are raised here)."""
        try:
            self.flush()
            while self._inflight:
                self._inflight.popleft().result()
        finally:
            if self._worker is not None:
                self._worker.shutdown(wait=True, cancel_futures=True)


def _blob_bytes(value: dict[str, Any]) -> bytes:
    if "json" in value:
        return canonical_bytes(value["json"])
    return base64.b64decode(value["base64"], validate=True)


def _period(start: datetime | None, end: datetime | None) -> tuple[datetime | None, datetime | None]:
    for name, moment in (("start", start), ("end", end)):
        if moment is not None and moment.tzinfo is None:
            raise UsageError(f"bundle period {name} {moment.isoformat()} has no timezone (use UTC)")
    if start is not None and end is not None and start >= end:
        raise UsageError(f"bundle period is empty: from {utc_iso(start)} is not before to {utc_iso(end)}")
    return start, end


def _framework_controls(catalog: Catalog, framework: str) -> list[Control]:
    if framework not in FRAMEWORKS:
        raise UsageError(f"unknown framework {framework!r}: choose one of {', '.join(FRAMEWORKS)}")
    return catalog.filter(framework=framework)


class _Scope:
    """Which records a framework's bundle holds, and which of its controls each one serves."""

    def __init__(self, controls: Sequence[Control]) -> None:
        self.ids = {c.id for c in controls}
        self.by_type: dict[str, list[str]] = {}
        for control in controls:
            for type_id in control.method.evidence_types:
                self.by_type.setdefault(type_id, []).append(control.id)
        self._served: dict[tuple[str, ...], list[str]] = {}  # a few distinct (type, control ids)

    def controls_of(self, evidence_type: str, control_ids: Sequence[str]) -> list[str]:
        key = (evidence_type, *control_ids)
        found = self._served.get(key)
        if found is None:
            if len(self._served) >= 10_000:
                self._served.clear()
            found = self._served[key] = self._controls_of(evidence_type, control_ids)
        return found

    def _controls_of(self, evidence_type: str, control_ids: Sequence[str]) -> list[str]:
        found = [c for c in control_ids if c in self.ids]
        for c in self.by_type.get(evidence_type, ()):
            if c not in found:
                found.append(c)
        return found


def _record_rows(
    store: EvidenceStore,
    size: int,
    start: datetime | None,
    end: datetime | None,
    columns: Sequence[Any],
) -> Iterator[Any]:
    from evidence.store.schema import records

    conditions = [records.c.seq < size]
    if start is not None:
        conditions.append(records.c.observed_at >= utc_iso(start))
    if end is not None:
        conditions.append(records.c.observed_at < utc_iso(end))
    stmt = select(*columns).where(and_(*conditions)).order_by(records.c.seq)
    with store.transaction() as conn:
        yield from conn.execution_options(yield_per=500).execute(stmt)


def _count_rows(store: EvidenceStore, size: int, start: datetime | None, end: datetime | None) -> int:
    from evidence.store.schema import records

    conditions = [records.c.seq < size]
    if start is not None:
        conditions.append(records.c.observed_at >= utc_iso(start))
    if end is not None:
        conditions.append(records.c.observed_at < utc_iso(end))
    with store.transaction() as conn:
        return int(
            conn.execute(select(func.count()).select_from(records).where(and_(*conditions))).scalar_one()
        )


@dataclass
class _ControlStats:
    statuses: Counter[str] = field(default_factory=Counter)
    # While records are read: their raw JSON; once all are read: their summaries (_summary).
    latest: deque[Any] = field(default_factory=lambda: deque(maxlen=PAGE_RECORDS))
    first_observed: str | None = None
    last_observed: str | None = None
    types: Counter[str] = field(default_factory=Counter)


class _Schedule:
    """Expected collections: each evidence type a framework's automated controls need should have a
    record (per target) in every window of the controls' freshness inside the period. Only whole windows
    count; resource-scoped (event) records neither create targets nor fill windows."""

    def __init__(self, cadence: dict[str, timedelta], start: datetime, end: datetime) -> None:
        self.cadence = cadence
        self.start = start
        # Whole windows only (a period shorter than a type's cadence expects nothing of it), at most
        # MAX_WINDOWS; each (type, target) keeps the set of windows it filled: memory bounded by the
        # windows and targets, not by the records.
        self.windows = {t: min(max(0, int((end - start) / c)), MAX_WINDOWS) for t, c in cadence.items()}
        self.filled: dict[tuple[str, str], set[int]] = {}

    def note(self, evidence_type: str, target: dict[str, str], observed_at: str) -> None:
        if evidence_type not in self.cadence or _SCOPED in target:
            return
        key = (evidence_type, canonical_bytes(target).decode("utf-8"))
        filled = self.filled.setdefault(key, set())
        moment = datetime.fromisoformat(observed_at.replace("Z", "+00:00"))
        index = int((moment - self.start) / self.cadence[evidence_type])
        if 0 <= index < self.windows[evidence_type]:
            filled.add(index)

    def missed(self) -> list[dict[str, Any]]:
        start = self.start
        out: list[dict[str, Any]] = []
        targets: dict[str, list[str]] = {}
        for evidence_type, seen_target in self.filled:
            targets.setdefault(evidence_type, []).append(seen_target)
        for evidence_type in sorted(self.cadence):
            cadence = self.cadence[evidence_type]
            windows = self.windows[evidence_type]
            if windows <= 0:
                continue
            listed: list[str | None] = list(sorted(targets.get(evidence_type, [])))
            for target in listed or [None]:
                filled = self.filled.get((evidence_type, target), set()) if target else set()
                missing = [i for i in range(windows) if i not in filled]
                if not missing:
                    continue
                ranges: list[dict[str, str]] = []
                run_start = prev = missing[0]
                for i in [*missing[1:], None]:
                    if i is not None and i == prev + 1:
                        prev = i
                        continue
                    ranges.append(
                        {
                            "from": utc_iso(start + run_start * cadence),
                            "to": utc_iso(start + (prev + 1) * cadence),
                        }
                    )
                    if i is not None:
                        run_start = prev = i
                out.append(
                    {
                        "evidence_type": evidence_type,
                        "target": json.loads(target) if target else None,
                        "cadence": _iso_duration(cadence),
                        "expected": windows,
                        "missing": len(missing),
                        "ranges": ranges[:MAX_RANGES],
                        "ranges_not_listed": max(0, len(ranges) - MAX_RANGES),
                    }
                )
        return out


def _iso_duration(duration: timedelta) -> str:
    from evidence.catalog import format_duration

    return format_duration(duration)


def _json_line(value: Any) -> bytes:
    return canonical_bytes(value) + b"\n"


def _pretty(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


class _ZipOut:
    """A deterministic zip on a stream that need not seek: fixed entry order, times and attributes."""

    def __init__(self, out: BinaryIO, when: datetime) -> None:
        self.writer = _CountingWriter(out)
        self.zip = zipfile.ZipFile(self.writer, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)  # type: ignore[call-overload]
        moment = max(when.astimezone(UTC), datetime(1980, 1, 1, tzinfo=UTC))
        self.date_time = moment.timetuple()[:6]
        self.files: list[dict[str, Any]] = []

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=self.date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.create_system = 3
        info.external_attr = 0o644 << 16
        return info

    def open(self, name: str, *, large: bool = False, background: bool = False) -> _EntryContext:
        """``large``: ZIP64 sizes; ``background``: compressed on a worker thread (the big entries)."""
        return _EntryContext(self, name, large, background)

    def put(self, name: str, data: bytes, *, listed: bool = True) -> str:
        with self.open(name) as entry:
            entry.write(data)
        digest = hashlib.sha256(data).hexdigest()
        if not listed:
            self.files.pop()
        return digest


class _EntryContext:
    def __init__(self, owner: _ZipOut, name: str, large: bool, background: bool) -> None:
        self._owner = owner
        self._name = name
        self._large = large
        self._background = background
        self._entry: _HashingEntry | None = None

    def __enter__(self) -> _HashingEntry:
        handle = self._owner.zip.open(self._owner._info(self._name), "w", force_zip64=self._large)
        self._handle = handle
        self._entry = _HashingEntry(handle, background=self._background)
        return self._entry

    def __exit__(self, *exc: object) -> None:
        assert self._entry is not None
        try:
            self._entry.finish()
        finally:
            self._handle.close()
        assert self._entry is not None
        self._owner.files.append(
            {"path": self._name, "sha256": self._entry.sha256.hexdigest(), "size": self._entry.size}
        )


def _parse_previous(previous_head: str) -> SignedNote:
    text = previous_head
    if "\n" not in previous_head:
        path = Path(previous_head)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read the previous head {path}: {exc.strerror or exc}") from exc
    try:
        return SignedNote.parse(text)
    except NoteError as exc:
        raise UsageError(f"the previous head is not a signed checkpoint: {exc}") from exc


def _manifest_note_text(origin: str, manifest_sha256: str) -> str:
    return f"{BUNDLE_FORMAT}\n{origin}\nmanifest sha256 {manifest_sha256}\n"


def write_bundle(
    store: EvidenceStore,
    *,
    framework: str,
    start: datetime | None,
    end: datetime | None,
    out: BinaryIO,
    previous_head: str | None = None,
) -> BundleSummary:
    """Write the auditor bundle of ``framework`` for records observed in ``[start, end)`` to ``out``.

    ``start``/``end`` None: from the first record / up to the latest signed head. ``previous_head``: the
    previous bundle's checkpoint (note text, or a path to it); the bundle then proves that the log grew
    from it without rewriting. ``out`` may be any writable binary stream (a file, a pipe, an HTTP
    response): it is never sought. UsageError for bad arguments, ConfigError without the store's signing
    key, VerificationError when the store disagrees with a head (a fork from ``previous_head``).
    """
    return export_bundle(
        store, framework=framework, start=start, end=end, out=out, previous_head=previous_head
    )


def export_bundle(
    store: EvidenceStore,
    *,
    framework: str,
    start: datetime | None,
    end: datetime | None,
    out: BinaryIO,
    previous_head: str | None = None,
    catalog: Catalog | None = None,
    progress: Callable[[int, int], None] | None = None,
    tmpdir: str | None = None,
) -> BundleSummary:
    """``write_bundle`` with a progress callback (records done, records in the period) and a catalog."""
    began = time.monotonic()
    start, end = _period(start, end)
    cat = catalog or load_catalog()
    controls = _framework_controls(cat, framework)
    scope = _Scope(controls)

    head = store.tree_head()
    if head is None:
        raise UsageError(f"evidence store {store.url} is empty: there is nothing to bundle")
    size = head.head.size
    origin = store.origin
    log_key = store.log_key(size)
    signer = store.signer
    if signer is None or signer.note_key(origin) != store.log_key():
        raise ConfigError(
            "signing a bundle needs the store's current signing key (EVIDENCE_SIGNING_KEY, or the embedded "
            ".evidence/signing-key.pem)"
        )
    checkpoint_note = store.checkpoint_note(head)
    verifier = Verifier(log_key.ed25519())

    consistency: dict[str, Any] | None = None
    previous_note: SignedNote | None = None
    previous_size: int | None = None
    if previous_head is not None:
        previous_note = _parse_previous(previous_head)
        try:
            previous = Checkpoint.parse(previous_note.text)
            verify_note(previous_note, [store.log_key(previous.size)])
        except (NoteError, StoreError) as exc:
            raise VerificationError(f"the previous head is not a checkpoint of this log: {exc}") from exc
        if previous.origin != origin:
            raise VerificationError(
                f"the previous head is of log {previous.origin!r}, not of this store ({origin!r})"
            )
        if previous.size > size:
            raise VerificationError(
                f"the previous head (size {previous.size}) is newer than the store's head (size {size})"
            )
        proof = store.consistency_proof(previous.size, size)
        if proof.old_head.head.root != previous.root:
            raise VerificationError(
                f"FORK: the store's head of size {previous.size} has root {proof.old_head.head.root_hash}, "
                f"the previous head {previous.root.hex()}"
            )
        proof.verify([Verifier(store.log_key(previous.size).ed25519()), verifier])
        consistency = proof.to_dict()
        previous_size = previous.size

    head_time = datetime.fromisoformat(head.head.timestamp.replace("Z", "+00:00"))
    effective_end = end or head_time
    total = _count_rows(store, size, start, end)
    cadence: dict[str, timedelta] = {}
    for control in controls:
        if control.method.type in ("automated", "hybrid"):
            for type_id in control.method.evidence_types:
                cadence[type_id] = min(cadence.get(type_id, control.freshness), control.freshness)
    period_start = start or _first_observed(store, size, end) or effective_end
    schedule = _Schedule(cadence, period_start, effective_end)
    stats: dict[str, _ControlStats] = {c.id: _ControlStats() for c in controls}
    documents: dict[str, str] = {}
    missing_blobs: list[dict[str, str]] = []
    status_totals: Counter[str] = Counter()

    from evidence.store.schema import records as records_table

    tree = TreeLevels(_leaf_hashes(store, size), size, tmpdir=tmpdir)
    try:
        if tree.root() != head.head.root:
            raise VerificationError(
                f"the store's leaves give root {tree.root().hex()}, but its head of size {size} signs "
                f"{head.head.root_hash}: run `evidence verify`"
            )
        zout = _ZipOut(out, head_time)
        included = 0
        done = 0
        # One pass over the records; each included record's seq and the record-specific end of its
        # proofs.jsonl line go to a spool (about 100 bytes a record), which becomes proofs.jsonl once
        # records.jsonl is closed: the proofs themselves are rendered from the tree file then, in log
        # order (neighbouring leaves share their path, so each is a few node reads).
        proofs = _ProofSpool(tmpdir)
        tree_size = b',"tree_size":%d}\n' % size
        with proofs:
            with zout.open(RECORDS, large=True, background=True) as entry:
                lines = _RecordLines(store, documents, missing_blobs)
                for record_json, leaf_hash in _record_rows(
                    store, size, start, end, (records_table.c.record_json, records_table.c.leaf_hash)
                ):
                    done += 1
                    record = json.loads(record_json)
                    evidence_type = record["evidence_type"]
                    served = scope.controls_of(evidence_type, record.get("control_ids", ()))
                    if served:
                        entry.write(lines.line(record, record_json, leaf_hash))
                        seq = int(record["seq"])
                        if not 0 <= seq < size:
                            raise StoreError(
                                f"record {record['id']} names seq {seq}, outside the log's tree of {size} "
                                "leaves: run `evidence verify`"
                            )
                        proofs.add(
                            seq,
                            b'],"leaf_hash":"'
                            + leaf_hash.encode("ascii")
                            + b'","leaf_index":%d,"record_id":' % seq
                            + _json_string(record["id"])
                            + tree_size,
                        )
                        included += 1
                        observed = record["observed_at"]
                        status = record["status"]
                        status_totals[status] += 1
                        schedule.note(evidence_type, record.get("target", {}), observed)
                        for control_id in served:
                            item = stats[control_id]
                            item.statuses[status] += 1
                            item.types[evidence_type] += 1
                            # The raw JSON (shared by the controls it serves), summarised once the
                            # pages are written: only the newest PAGE_RECORDS of a control are shown.
                            item.latest.append(record_json)
                            item.first_observed = item.first_observed or observed
                            item.last_observed = observed
                    if progress is not None and (done % 500 == 0 or done == total):
                        progress(done, total)
            with zout.open(PROOFS, large=True, background=True) as proof_entry:
                for seq, tail in proofs:
                    proof_entry.write(b'{"hashes":[' + tree.inclusion_proof_json(seq) + tail)
    finally:
        tree.close()

    for digest in sorted(documents):
        with zout.open(f"attachments/{digest}", large=True) as entry:
            entry.write(store.read_blob(digest))

    summaries: dict[str, dict[str, Any]] = {}

    def summarise(raw: str) -> dict[str, Any]:
        found = summaries.get(raw)
        if found is None:
            found = summaries[raw] = _summary(json.loads(raw))
        return found

    for item in stats.values():
        item.latest = deque((summarise(raw) for raw in item.latest), maxlen=PAGE_RECORDS)
    missed = schedule.missed()
    without = [c.id for c in controls if not stats[c.id].statuses]
    states = {c.id: _control_state(stats[c.id]) for c in controls}
    period = {"start": utc_iso(start) if start else None, "end": utc_iso(end) if end else None}
    context = _ReportContext(
        framework=framework,
        period=period,
        effective=(utc_iso(period_start), utc_iso(effective_end)),
        head=head,
        origin=origin,
        controls=controls,
        stats=stats,
        states=states,
        missed=missed,
        without=without,
        records=included,
        status_totals=status_totals,
        previous_size=previous_size,
    )
    zout.put("index.html", _index_html(context))
    for control in controls:
        zout.put(f"controls/{_page_name(control.id)}", _control_html(context, control))
    zout.put(OSCAL, _oscal_document(context))
    zout.put(CHECKPOINT, checkpoint_note.encode().encode("utf-8"))
    zout.put(TREE_HEAD, _pretty(head.to_dict()))
    if previous_note is not None and consistency is not None:
        zout.put(PREVIOUS_CHECKPOINT, previous_note.encode().encode("utf-8"))
        zout.put(CONSISTENCY, _pretty(consistency))
    zout.put(PUBLIC_KEY, verifier.public_pem())
    zout.put(LOG_VKEY, (log_key.encode() + "\n").encode("utf-8"))

    manifest = {
        "format": BUNDLE_FORMAT,
        "framework": framework,
        "period": period,
        "period_checked": {"start": utc_iso(period_start), "end": utc_iso(effective_end)},
        "generated_at": head.head.timestamp,
        "log": {
            "origin": origin,
            "tree_size": size,
            "root_hash": head.head.root_hash,
            "key_id": head.head.key_id,
            "vkey": log_key.encode(),
        },
        "previous_head": (
            None
            if previous_size is None or consistency is None
            else {"tree_size": previous_size, "root_hash": consistency["old_head"]["root_hash"]}
        ),
        "records": included,
        "records_by_status": dict(sorted(status_totals.items())),
        "controls": {c.id: states[c.id] for c in controls},
        "omissions": {
            "controls_without_evidence": without,
            "missed_collections": missed,
            "missing_blobs": missing_blobs,
        },
        "files": zout.files,
    }
    manifest_bytes = _pretty(manifest)
    manifest_sha256 = hashlib.sha256(manifest_bytes).hexdigest()
    zout.put(MANIFEST, manifest_bytes, listed=False)
    note_text = _manifest_note_text(origin, manifest_sha256)
    note = SignedNote(note_text, (signature_line(log_key, signer.sign_raw(note_text.encode("utf-8"))),))
    zout.put(MANIFEST_SIG, note.encode().encode("utf-8"), listed=False)
    zout.zip.close()
    zout.writer.flush()
    return BundleSummary(
        framework=framework,
        start=start,
        end=end,
        records=included,
        controls=len(controls),
        controls_without_evidence=len(without),
        missed_collections=sum(m["missing"] for m in missed),
        tree_size=size,
        root_hash=head.head.root_hash,
        origin=origin,
        sha256=zout.writer.sha256.hexdigest(),
        size=zout.writer.size,
        manifest_sha256=manifest_sha256,
        files=len(zout.files) + 2,
        previous_size=previous_size,
        elapsed_seconds=time.monotonic() - began,
    )


def _first_observed(store: EvidenceStore, size: int, end: datetime | None) -> datetime | None:
    """The earliest observed_at in the log below ``size`` (and before ``end``): an open period's start."""
    from evidence.store.schema import records

    conditions = [records.c.seq < size]
    if end is not None:
        conditions.append(records.c.observed_at < utc_iso(end))
    with store.transaction() as conn:
        text = conn.execute(select(func.min(records.c.observed_at)).where(and_(*conditions))).scalar()
    return None if text is None else datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def _leaf_hashes(store: EvidenceStore, size: int) -> Iterator[bytes]:
    from evidence.store.schema import records

    stmt = select(records.c.leaf_hash).where(records.c.seq < size).order_by(records.c.seq)
    with store.transaction() as conn:
        for row in conn.execution_options(yield_per=5000).execute(stmt):
            yield bytes.fromhex(row[0])


_BLOB_CACHE_BYTES = 4 << 20  # blobs shared by many records (GX results, call logs), rendered once
_BLOB_CACHE_MAX = 1 << 16  # a blob larger than this is never kept


class _RecordLines:
    """Lines of records.jsonl, canonical JSON with sorted keys: ``api_calls``, ``attachments``,
    ``gx_result``, ``leaf_hash``, ``payload``, ``record``. ``record`` is the stored leaf data verbatim and
    canonical blobs are spliced in as they are stored (read through ``store.read_blob``, which checks
    each one against its digest), so nothing large is encoded twice. A blob several records share is
    read and checked once per export (a bounded cache of rendered small blobs)."""

    def __init__(
        self, store: EvidenceStore, documents: dict[str, str], missing_blobs: list[dict[str, str]]
    ) -> None:
        self._store = store
        self._documents = documents
        self._missing = missing_blobs
        self._cache: dict[tuple[str, str], bytes] = {}
        self._cached_bytes = 0
        self._media: dict[str, bytes] = {}

    def _blob(self, record: dict[str, Any], sha256: str, media_type: str) -> bytes:
        key = (sha256, media_type)
        rendered = self._cache.get(key)
        if rendered is not None:
            return rendered
        try:
            data = self._store.read_blob(sha256)
        except BlobError as exc:
            if len(self._missing) < 1000:
                self._missing.append({"record_id": record["id"], "sha256": sha256, "reason": str(exc)})
            return canonical_bytes({"sha256": sha256, "media_type": media_type, "missing": str(exc)})
        media = self._media.get(media_type)
        if media is None:
            media = self._media[media_type] = canonical_bytes(media_type)
        if _is_canonical_json(data):
            rendered = b"".join(
                (b'{"json":', data, b',"media_type":', media, b',"sha256":"', sha256.encode("ascii"), b'"}')
            )
        else:
            rendered = canonical_bytes(
                {"sha256": sha256, "media_type": media_type, "base64": base64.b64encode(data).decode("ascii")}
            )
        if len(data) <= _BLOB_CACHE_MAX:
            if self._cached_bytes + len(rendered) > _BLOB_CACHE_BYTES:
                self._cache.clear()
                self._cached_bytes = 0
            self._cache[key] = rendered
            self._cached_bytes += len(rendered)
        return rendered

    def line(self, record: dict[str, Any], record_json: str, leaf_hash: str) -> bytes:
        payload = self._blob(
            record, record["payload_sha256"], record.get("payload_media_type", "application/json")
        )
        gx_result = api_calls = b"null"
        attachments = []
        for ref in record.get("attachments") or ():
            role = ref.get("role")
            if role == "gx-result" and gx_result == b"null":
                gx_result = self._blob(record, ref["sha256"], ref.get("media_type", "application/json"))
            elif role == "api-calls" and api_calls == b"null":
                api_calls = self._blob(record, ref["sha256"], ref.get("media_type", "application/json"))
            else:
                self._documents[ref["sha256"]] = ref.get("name") or ref["sha256"]
                attachments.append({**ref, "path": f"attachments/{ref['sha256']}"})
        return b"".join(
            (
                b'{"api_calls":',
                api_calls,
                b',"attachments":',
                canonical_bytes(attachments) if attachments else b"[]",
                b',"gx_result":',
                gx_result,
                b',"leaf_hash":"',
                leaf_hash.encode("ascii"),
                b'","payload":',
                payload,
                b',"record":',
                record_json.encode("utf-8"),
                b"}\n",
            )
        )


def _json_string(value: Any) -> bytes:
    """``canonical_bytes(value)``, without the encoder for the plain ASCII strings record ids are."""
    if isinstance(value, str) and value.isascii() and value.isalnum():
        return b'"' + value.encode("ascii") + b'"'
    return canonical_bytes(value)


# canonical_bytes, as one reusable encoder and decoder (json.dumps/loads build theirs on every call).
_CANONICAL_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
_DECODER = json.JSONDecoder()


def _is_canonical_json(data: bytes) -> bool:
    """Whether ``canonical_bytes(json.loads(data)) == data``: whether a verifier re-encoding the value
    gets these bytes back (and their digest). Compared as text: UTF-8 is one-to-one on the strings a
    strict decode gives."""
    if data[:1] not in (b"{", b"["):
        return False
    try:
        text = data.decode("utf-8")
        return _CANONICAL_ENCODER.encode(_DECODER.decode(text)) == text
    except (ValueError, UnicodeDecodeError):
        return False


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    provenance = record.get("provenance") or {}
    validation = record.get("validation") or {}
    return {
        "id": record["id"],
        "seq": record["seq"],
        "evidence_type": record["evidence_type"],
        "status": record["status"],
        "reason": record.get("reason", ""),
        "target": record.get("target", {}),
        "observed_at": record["observed_at"],
        "recorded_at": record["recorded_at"],
        "error": record.get("error"),
        "population": record.get("population"),
        "validation": {
            "schema_valid": validation.get("schema_valid"),
            "schema_errors": list(validation.get("schema_errors") or [])[:5],
            "gx": validation.get("gx"),
        },
        "api_calls": [
            {k: c.get(k) for k in ("service", "operation", "region", "http_status", "error_code", "count")}
            for c in (provenance.get("api_calls") or [])[:20]
        ],
        "attested_by": record.get("attested_by"),
    }


def _control_state(stats: _ControlStats) -> str:
    """The period's verdict for a control, from every record of the period (not only the newest):
    a failure at any time in the period is a finding; ``error`` (could not collect) is never a pass."""
    if not stats.statuses:
        return "no-evidence"
    if stats.statuses.get("fail"):
        return "failing"
    if stats.statuses.get("error"):
        return "error" if not stats.statuses.get("pass") else "passing-with-errors"
    if stats.statuses.get("pass"):
        return "passing"
    return "not-applicable"


def export_record(
    summary: BundleSummary,
    *,
    exported_by: str,
    context: RunContext,
    channel: str = "cli",
    observed_at: datetime | None = None,
) -> PreparedRecord:
    """The evidence that a bundle was exported or downloaded (``bundle.export``): who, when, through
    which channel (``cli``, ``ui``), which framework and period, and the bundle's digest. Append it with
    ``store.append`` after the bundle was written: every download is itself on the record."""
    from evidence.canonical import sha256_hex, utcnow
    from evidence.pipeline import draft_record
    from evidence.records import Population, Status, Validation
    from evidence.registry import BUNDLE_EXPORT
    from evidence.validation import schema_errors

    if not exported_by.strip():
        raise UsageError("a bundle export record needs who exported it")
    when = observed_at or utcnow()
    period = (
        utc_iso(summary.start) if summary.start else None,
        utc_iso(summary.end) if summary.end else None,
    )
    row = {
        "resource": f"bundle:{summary.sha256[:16]}",
        "region": None,
        "status": "pass",
        "reason": f"{summary.framework} bundle of {summary.records} records exported by {exported_by}",
        "exported_by": exported_by,
        "channel": channel,
        "framework": summary.framework,
        "period_start": period[0],
        "period_end": period[1],
        "bundle_sha256": summary.sha256,
        "bundle_size": summary.size,
        "manifest_sha256": summary.manifest_sha256,
        "records": summary.records,
        "tree_size": summary.tree_size,
        "root_hash": summary.root_hash,
    }
    target = {"framework": summary.framework}
    payload = {"evidence_type": BUNDLE_EXPORT.id, "target": target, "rows": [row]}
    problems = schema_errors(BUNDLE_EXPORT.id, payload)
    if problems:
        raise UsageError(f"{BUNDLE_EXPORT.id}: " + "; ".join(problems))
    return draft_record(
        BUNDLE_EXPORT,
        payload,
        target=target,
        observed_at=when,
        status=Status.PASS,
        reason=(
            f"{summary.framework} bundle ({period[0] or 'start'} to {period[1] or 'head'}, {summary.records} "
            f"records, sha256 {summary.sha256}) exported by {exported_by} via {channel}"
        )[:500],
        population=Population(total=1, by_status={Status.PASS: 1}),
        validation=Validation(schema_valid=True),
        context=context,
        idempotency_key=sha256_hex(
            canonical_bytes([BUNDLE_EXPORT.id, summary.sha256, exported_by, utc_iso(when)])
        ),
        control_ids=(),
        attested_by=exported_by,
    )


# ----------------------------------------------------------------------------------------------------
# the report (HTML) and the OSCAL document


@dataclass
class _ReportContext:
    framework: str
    period: dict[str, str | None]
    effective: tuple[str, str]
    head: SignedTreeHead
    origin: str
    controls: list[Control]
    stats: dict[str, _ControlStats]
    states: dict[str, str]
    missed: list[dict[str, Any]]
    without: list[str]
    records: int
    status_totals: Counter[str]
    previous_size: int | None


def _page_name(control_id: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in control_id)
    return f"{safe}.html"


def _e(value: Any) -> str:
    """Escape any text for HTML (quotes too, so it is safe inside attributes)."""
    if value is None:
        return ""
    return html.escape(value if isinstance(value, str) else json.dumps(value, sort_keys=True), quote=True)


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:75em;color:#222}
table{border-collapse:collapse;width:100%;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .5em;
text-align:left;vertical-align:top}th{background:#f3f3f3}.failing,.fail{color:#b00020}
.passing,.pass{color:#1b5e20}.error,.no-evidence{color:#6a1b9a}code,pre{font-size:90%;white-space:pre-wrap}
.muted{color:#666}
"""


def _page(title: str, body: str, *, up: str = "") -> bytes:
    back = f'<p><a href="{up}index.html">&larr; index</a></p>\n' if up else ""
    document = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>\n{back}{body}\n</body></html>\n"
    )
    return document.encode("utf-8")


def _index_html(ctx: _ReportContext) -> bytes:
    head = ctx.head.head
    parts = [
        f"<h1>Evidence bundle: {_e(ctx.framework.upper())}</h1>",
        "<table>",
        f"<tr><th>period</th><td>{_e(ctx.period['start'] or 'beginning of the log')} to "
        f"{_e(ctx.period['end'] or 'the signed head')} "
        "(observed_at; start inclusive, end exclusive)</td></tr>",
        f"<tr><th>log</th><td><code>{_e(ctx.origin)}</code></td></tr>",
        f"<tr><th>signed tree head</th><td>size {head.size}, root <code>{_e(head.root_hash)}</code>, "
        f"signed {_e(head.timestamp)}</td></tr>",
        f"<tr><th>records</th><td>{ctx.records} ("
        + ", ".join(f"{_e(k)}: {v}" for k, v in sorted(ctx.status_totals.items()))
        + ")</td></tr>",
    ]
    if ctx.previous_size is not None:
        parts.append(
            f"<tr><th>previous bundle head</th><td>size {ctx.previous_size} (consistency proven)</td></tr>"
        )
    parts.append("</table>")
    parts.append(
        '<p class="muted">Verify this bundle offline: <code>evidence bundle verify FILE.zip --public-key '
        "log.pem</code>. <code>error</code> means the evidence could not be collected: it is never counted "
        "as a pass or a failure.</p>"
    )
    parts.append(
        "<h2>Controls</h2><table><tr><th>control</th><th>state in the period</th><th>title</th>"
        "<th>records</th><th>owner</th></tr>"
    )
    for control in ctx.controls:
        item = ctx.stats[control.id]
        state = ctx.states[control.id]
        counts = ", ".join(f"{_e(k)}: {v}" for k, v in sorted(item.statuses.items())) or "none"
        parts.append(
            f'<tr><td><a href="controls/{_e(_page_name(control.id))}">{_e(control.id)}</a></td>'
            f'<td class="{_e(state)}">{_e(state)}</td><td>{_e(control.title)}</td><td>{counts}</td>'
            f"<td>{_e(control.owner_role)}</td></tr>"
        )
    parts.append("</table>")
    parts.append("<h2>Omissions</h2>")
    parts.append(f"<h3>Controls with no evidence in the period ({len(ctx.without)})</h3><ul>")
    parts.extend(f'<li><a href="controls/{_e(_page_name(c))}">{_e(c)}</a></li>' for c in ctx.without)
    parts.append("</ul>")
    parts.append(
        f"<h3>Scheduled collections with no record ({sum(m['missing'] for m in ctx.missed)})</h3>"
        "<table><tr><th>evidence type</th><th>target</th><th>every</th><th>missing / expected</th>"
        "<th>missing windows</th></tr>"
    )
    for missed in ctx.missed:
        ranges = "<br>".join(f"{_e(r['from'])} to {_e(r['to'])}" for r in missed["ranges"])
        if missed["ranges_not_listed"]:
            ranges += f"<br>... and {missed['ranges_not_listed']} more"
        parts.append(
            f"<tr><td>{_e(missed['evidence_type'])}</td><td>{_e(missed['target'] or 'no record at all')}</td>"
            f"<td>{_e(missed['cadence'])}</td><td>{missed['missing']} / {missed['expected']}</td>"
            f"<td>{ranges}</td></tr>"
        )
    parts.append("</table>")
    return _page(f"Evidence bundle {ctx.framework}", "\n".join(parts))


def _record_html(record: dict[str, Any]) -> str:
    status = record["status"]
    if status == "error":
        error = record.get("error") or {}
        shown = "could not collect"
        detail = f"{_e(error.get('code'))}: {_e(error.get('message'))}" + (
            f" (missing permission <code>{_e(error.get('permission'))}</code>)"
            if error.get("permission")
            else ""
        )
    else:
        shown, detail = status, ""
    validation = record["validation"]
    gx = validation.get("gx") or {}
    checks = f"schema {'valid' if validation.get('schema_valid') else 'INVALID'}"
    if gx:
        checks += f"; GX {gx.get('successful')}/{gx.get('evaluated')} expectations met"
    if validation.get("schema_errors"):
        checks += ": " + "; ".join(_e(e) for e in validation["schema_errors"])
    population = record.get("population") or {}
    calls = "<br>".join(
        _e(
            f"{c['service']} {c['operation']} {c.get('region') or ''} HTTP {c.get('http_status')}"
            f"{' ' + c['error_code'] if c.get('error_code') else ''} x{c.get('count') or 1}"
        )
        for c in record["api_calls"]
    )
    return (
        f"<tr><td><code>{_e(record['id'])}</code><br>seq {record['seq']}</td>"
        f"<td>{_e(record['evidence_type'])}<br>{_e(record['target'])}</td>"
        f'<td class="{_e(status)}">{_e(shown)}</td>'
        f"<td>{_e(record['reason'])}{'<br>' + detail if detail else ''}</td>"
        f"<td>{_e(record['observed_at'])}</td><td>{_e(record['recorded_at'])}</td>"
        f"<td>{_e(population.get('total')) if population else ''}"
        f"{'<br>' + _e(population.get('by_status')) if population else ''}</td>"
        f"<td>{checks}</td><td>{calls}</td></tr>"
    )


def _control_html(ctx: _ReportContext, control: Control) -> bytes:
    item = ctx.stats[control.id]
    state = ctx.states[control.id]
    frameworks = ", ".join(control.frameworks.tags())
    parts = [
        f"<h1>{_e(control.id)}</h1><p>{_e(control.title)}</p><table>",
        f'<tr><th>state in the period</th><td class="{_e(state)}">{_e(state)}</td></tr>',
        f"<tr><th>frameworks</th><td>{_e(frameworks)}</td></tr>",
        f"<tr><th>owner</th><td>{_e(control.owner_role)}</td></tr>",
        f"<tr><th>method</th><td>{_e(control.method.type)}: "
        f"{_e(', '.join(control.method.evidence_types) or control.method.attestation)}</td></tr>",
        f"<tr><th>freshness</th><td>{_e(control.freshness_iso)}</td></tr>",
        "<tr><th>checklist lines</th><td>"
        + "<br>".join(f"{_e(s.ref)}: {_e(s.text)}" for s in control.sources)
        + "</td></tr>",
        "<tr><th>records in the period</th><td>"
        + (", ".join(f"{_e(k)}: {v}" for k, v in sorted(item.statuses.items())) or "none")
        + (
            f" (observed {_e(item.first_observed)} to {_e(item.last_observed)})"
            if item.first_observed
            else ""
        )
        + "</td></tr></table>",
    ]
    shown = list(reversed(item.latest))
    total = sum(item.statuses.values())
    if shown:
        parts.append(
            f"<h2>Newest records ({len(shown)} of {total}; all of them are in records.jsonl)</h2>"
            "<table><tr><th>record</th><th>type / target</th><th>status</th><th>reason</th>"
            "<th>observed_at</th><th>recorded_at</th><th>population</th><th>validation</th>"
            "<th>API calls</th></tr>"
        )
        parts.extend(_record_html(r) for r in shown)
        parts.append("</table>")
    else:
        parts.append('<p class="no-evidence">No evidence for this control in the period.</p>')
    return _page(f"{control.id}: {control.title}", "\n".join(parts), up="../")


def _oscal_uuid(ctx: _ReportContext, *parts: str) -> str:
    seed = "|".join(
        [
            ctx.head.head.root_hash,
            str(ctx.head.head.size),
            ctx.framework,
            ctx.period["start"] or "",
            ctx.period["end"] or "",
            *parts,
        ]
    )
    return str(uuid.uuid5(_OSCAL_NAMESPACE, seed))


def _oscal_time(moment: str) -> str:
    """A date-time as trestle's models serialise it (UTC, ``+00:00``, milliseconds unless zero): the
    document's bytes are the same as when it was built through the models."""
    parsed = datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(UTC)
    return parsed.isoformat(timespec="milliseconds" if parsed.microsecond else "seconds")


def _oscal_document(ctx: _ReportContext) -> bytes:
    """An OSCAL assessment-results document, built as plain JSON values and validated once, from the
    bytes written, by compliance-trestle's models (generated from the OSCAL schema: every field, alias,
    uuid and token pattern is checked). Building it through the models as well cost as much again."""
    from trestle.oscal import OSCAL_VERSION

    generated = _oscal_time(ctx.head.head.timestamp)
    tool_uuid = _oscal_uuid(ctx, "tool")

    def prop(name: str, value: Any) -> dict[str, str]:
        return {"name": name, "value": str(value), "ns": "https://evidence.invalid/ns/oscal"}

    observations: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    for control in ctx.controls:
        item = ctx.stats[control.id]
        state = ctx.states[control.id]
        observation_uuid = _oscal_uuid(ctx, "observation", control.id)
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(item.statuses.items())) or "none"
        observation: dict[str, Any] = {
            "uuid": observation_uuid,
            "title": f"Evidence for {control.id}",
            "description": f"{sum(item.statuses.values())} record(s) in the period ({counts}) for: "
            f"{control.title}",
            "props": [prop("state", state), prop("evidence-method", control.method.type)],
            "methods": ["EXAMINE" if control.method.type == "attestation" else "TEST"],
            "types": [
                "finding" if state in ("failing", "error", "passing-with-errors") else "control-objective"
            ],
            "origins": [{"actors": [{"type": "tool", "actor-uuid": tool_uuid}]}],
            "collected": generated,
        }
        relevant = [
            {
                "href": f"../{RECORDS}#{r['id']}",
                "description": f"{r['evidence_type']} record {r['id']} ({r['status']}) "
                f"observed {r['observed_at']}",
            }
            for r in list(item.latest)[-5:]
        ]
        if relevant:
            observation["relevant-evidence"] = relevant
        observations.append(observation)
        satisfied = state in ("passing", "not-applicable")
        findings.append(
            {
                "uuid": _oscal_uuid(ctx, "finding", control.id),
                "title": f"{control.id}: {state}",
                "description": control.title,
                "target": {
                    "type": "objective-id",
                    "target-id": control.id,
                    "status": {
                        "state": "satisfied" if satisfied else "not-satisfied",
                        "reason": "pass" if satisfied else ("fail" if state == "failing" else "other"),
                        "remarks": "no evidence in the period"
                        if state == "no-evidence"
                        else f"records in the period: {counts}",
                    },
                },
                "related-observations": [{"observation-uuid": observation_uuid}],
            }
        )
    missed_total = sum(m["missing"] for m in ctx.missed)
    result: dict[str, Any] = {
        "uuid": _oscal_uuid(ctx, "result"),
        "title": f"{ctx.framework.upper()} evidence, {ctx.effective[0]} to {ctx.effective[1]}",
        "description": (
            f"Evidence collected from log {ctx.origin} up to its signed tree head of size "
            f"{ctx.head.head.size}. {ctx.records} record(s); {len(ctx.without)} control(s) without "
            f"evidence; {missed_total} scheduled collection(s) without a record."
        ),
        "start": _oscal_time(ctx.effective[0]),
        "end": _oscal_time(ctx.effective[1]),
        "props": [
            prop("tree-size", ctx.head.head.size),
            prop("root-hash", ctx.head.head.root_hash),
            prop("records", ctx.records),
        ],
        "reviewed-controls": {
            "control-selections": [{"include-controls": [{"control-id": c.id} for c in ctx.controls]}]
        },
    }
    if observations:
        result["observations"] = observations
        result["findings"] = findings
    document = {
        "assessment-results": {
            "uuid": _oscal_uuid(ctx, "document"),
            "metadata": {
                "title": f"Evidence bundle: {ctx.framework.upper()}",
                "last-modified": generated,
                "version": ctx.head.head.root_hash[:16],
                "oscal-version": OSCAL_VERSION,
            },
            "import-ap": {"href": "#no-assessment-plan"},
            "results": [result],
        }
    }
    data = _pretty(document)
    validate_oscal(data)
    return data


def validate_oscal(data: bytes) -> None:
    """Parse an assessment-results document with compliance-trestle's OSCAL models (generated from the
    OSCAL JSON schema): VerificationError naming the first fields at fault."""
    from pydantic import ValidationError
    from trestle.oscal import OSCAL_VERSION
    from trestle.oscal import assessment_results as ar

    try:
        model = ar.Model.model_validate_json(data)
    except ValidationError as exc:
        shown = "; ".join(f"{'/'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5])
        raise VerificationError(f"{OSCAL}: not a valid OSCAL assessment-results document: {shown}") from exc
    version = model.assessment_results.metadata.oscal_version.root.root
    if version != OSCAL_VERSION:
        raise VerificationError(f"{OSCAL}: oscal-version {version}, expected {OSCAL_VERSION}")


# ----------------------------------------------------------------------------------------------------
# verification (offline: the zip and, optionally, the auditor's own key and previous head)


def _read_member(archive: zipfile.ZipFile, name: str) -> bytes:
    with archive.open(name) as handle:
        return handle.read()


def _hash_member(archive: zipfile.ZipFile, name: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with archive.open(name) as handle:
        while chunk := handle.read(_READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _lines(archive: zipfile.ZipFile, name: str) -> Iterator[bytes]:
    with archive.open(name) as handle:
        yield from io.BufferedReader(handle, _READ_CHUNK)  # type: ignore[type-var]


_BROKEN = (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError)


def verify_bundle(
    path: str | os.PathLike[str],
    *,
    public_key: Verifier | None = None,
    previous_head: str | None = None,
) -> BundleReport:
    """Check a bundle offline and name every problem: the zip's integrity, the manifest's signature by
    the log's key (``public_key`` pins it; else the bundle's own key, reported as unpinned), each file's
    SHA-256 and size, the signed checkpoint, every record's leaf hash, blobs and inclusion proof, the
    records' period, the consistency proof from the previous head (``previous_head``: the auditor's own
    copy, which must not be newer than the bundle's head), and the OSCAL document."""
    began = time.monotonic()
    report = BundleReport(path=str(path))
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise UsageError(f"no such bundle: {path}") from None
    except (zipfile.BadZipFile, OSError) as exc:
        report.add("CORRUPT", f"{path} is not a readable zip file (truncated or damaged): {exc}")
        report.elapsed_seconds = time.monotonic() - began
        return report
    with archive:
        try:
            _verify_archive(archive, report, public_key, previous_head)
        except _BROKEN as exc:
            report.add("CORRUPT", f"{path}: the zip is damaged: {exc}")
    report.elapsed_seconds = time.monotonic() - began
    return report


def _verify_archive(
    archive: zipfile.ZipFile,
    report: BundleReport,
    public_key: Verifier | None,
    previous_head: str | None,
) -> None:
    names = archive.namelist()
    if len(names) != len(set(names)):
        dupes = sorted({n for n in names if names.count(n) > 1})
        report.add("DUPLICATE", f"the zip holds several entries named {', '.join(dupes[:5])}")
    if MANIFEST not in names or MANIFEST_SIG not in names:
        missing = [n for n in (MANIFEST, MANIFEST_SIG) if n not in names]
        report.add("MISSING", f"the bundle has no {' and no '.join(missing)}: it is not a complete bundle")
        return
    manifest_bytes = _read_member(archive, MANIFEST)
    try:
        manifest = json.loads(manifest_bytes)
        if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
            raise ValueError(f"format is not {BUNDLE_FORMAT}")
        log = manifest["log"]
        origin, size, root_hash = log["origin"], int(log["tree_size"]), log["root_hash"]
        files = {f["path"]: f for f in manifest["files"]}
    except (ValueError, KeyError, TypeError) as exc:
        report.add("MANIFEST", f"{MANIFEST} is not a bundle manifest: {exc}")
        return
    report.framework = manifest.get("framework")
    report.period = manifest.get("period") or {}
    report.tree_size, report.root_hash = size, root_hash
    report.omissions = manifest.get("omissions") or {}

    # The key: the auditor's pinned key, else the bundle's own (which proves integrity, not origin).
    bundle_key: Verifier | None = None
    if PUBLIC_KEY in names:
        try:
            bundle_key = Verifier.from_pem(_read_member(archive, PUBLIC_KEY), source=PUBLIC_KEY)
        except SigningError as exc:  # an unreadable key is a problem of the bundle
            report.add("KEY", f"{PUBLIC_KEY} is not an Ed25519 public key: {exc}")
    if public_key is not None:
        key = public_key
        report.trust = f"pinned key {public_key.key_id}"
        if bundle_key is not None and bundle_key != public_key:
            report.add(
                "KEY",
                f"the bundle carries key {bundle_key.key_id}, not the trusted key {public_key.key_id}: "
                "it was not signed by the log you trust",
            )
    elif bundle_key is not None:
        key = bundle_key
        report.trust = f"the bundle's own key {bundle_key.key_id} (not pinned: pass --public-key)"
        report.notices.append("the log key was not pinned: pass --public-key to check who signed this bundle")
    else:
        return
    try:
        note_key = key.note_key(origin)
    except NoteError as exc:
        report.add("MANIFEST", f"{MANIFEST}: log origin {origin!r} is not a valid key name: {exc}")
        return

    # The manifest's signature.
    manifest_sha256 = hashlib.sha256(manifest_bytes).hexdigest()
    try:
        note = SignedNote.parse(_read_member(archive, MANIFEST_SIG))
        verify_note(note, [note_key])
        if note.text != _manifest_note_text(origin, manifest_sha256):
            report.add(
                "SIGNATURE",
                f"{MANIFEST_SIG} signs another manifest (not SHA-256 {manifest_sha256}): "
                "the manifest was changed after signing",
            )
    except NoteError as exc:
        report.add(
            "SIGNATURE",
            f"{MANIFEST_SIG}: the manifest's signature does not verify with key {key.key_id}: {exc}",
        )

    # Every listed file, and nothing else.
    for name in names:
        if name not in files and name not in (MANIFEST, MANIFEST_SIG):
            report.add("EXTRA", f"{name} is in the zip but not in the manifest")
    for name, entry in files.items():
        if name not in names:
            report.add("MISSING", f"{name} is listed in the manifest but missing from the zip")
            continue
        try:
            digest, length = _hash_member(archive, name)
        except _BROKEN as exc:
            report.add("CORRUPT", f"{name} cannot be read from the zip: {exc}")
            continue
        if digest != entry.get("sha256") or length != entry.get("size"):
            report.add(
                "MODIFIED",
                f"{name}: SHA-256 {digest} ({length} bytes) does not match the manifest's "
                f"{entry.get('sha256')} ({entry.get('size')} bytes)",
            )
    report.files = len(files)

    # The signed checkpoint.
    checkpoint: Checkpoint | None = None
    try:
        head_note = SignedNote.parse(_read_member(archive, CHECKPOINT))
        verify_note(head_note, [note_key])
        checkpoint = Checkpoint.parse(head_note.text)
        if (checkpoint.origin, checkpoint.size, checkpoint.root.hex()) != (origin, size, root_hash):
            report.add(
                "CHECKPOINT",
                f"{CHECKPOINT} is for {checkpoint.origin} size {checkpoint.size} "
                f"root {checkpoint.root.hex()}, "
                f"the manifest names size {size} root {root_hash}",
            )
    except KeyError:
        report.add("MISSING", f"the bundle has no {CHECKPOINT}")
    except NoteError as exc:
        report.add(
            "CHECKPOINT", f"{CHECKPOINT}: the signed tree head does not verify with key {key.key_id}: {exc}"
        )

    if checkpoint is not None:
        _verify_records(archive, report, manifest, checkpoint)
    _verify_previous(archive, report, manifest, note_key, checkpoint, previous_head)
    if OSCAL in names:
        try:
            validate_oscal(_read_member(archive, OSCAL))
        except VerificationError as exc:
            report.add("OSCAL", str(exc))


def _verify_records(
    archive: zipfile.ZipFile, report: BundleReport, manifest: dict[str, Any], checkpoint: Checkpoint
) -> None:
    names = set(archive.namelist())
    if RECORDS not in names or PROOFS not in names:
        return  # reported as MISSING already
    period = manifest.get("period") or {}
    start, end = period.get("start"), period.get("end")
    count = 0
    seen_seq = -1
    records = _lines(archive, RECORDS)
    proofs = _lines(archive, PROOFS)
    inclusion = _InclusionChecker()
    for number, (record_line, proof_line) in enumerate(_zip_longest(records, proofs), start=1):
        if record_line is None or proof_line is None:
            which = RECORDS if record_line is None else PROOFS
            report.add("PROOF", f"{which} ends at line {number - 1}: records and proofs differ in number")
            break
        count += 1
        try:
            line = json.loads(record_line)
            proof = json.loads(proof_line)
            record = line["record"]
            record_id = record["id"]
        except (ValueError, KeyError, TypeError) as exc:
            report.add("RECORD", f"{RECORDS} line {number} is not a bundle record: {exc}")
            continue
        where = f"record {record_id} ({RECORDS} line {number})"
        try:
            computed = merkle.leaf_hash(record_leaf_data(record)).hex()
        except (TypeError, ValueError) as exc:
            report.add("RECORD", f"{where}: cannot be hashed: {exc}")
            continue
        if computed != line.get("leaf_hash"):
            report.add(
                "RECORD",
                f"{where}: its content hashes to {computed}, not to its leaf hash "
                f"{line.get('leaf_hash')}: the record was altered",
            )
            continue
        if proof.get("record_id") != record_id or proof.get("leaf_hash") != computed:
            report.add(
                "PROOF",
                f"{where}: {PROOFS} line {number} is the proof of another record ({proof.get('record_id')})",
            )
            continue
        seq = record.get("seq")
        if proof.get("leaf_index") != seq or proof.get("tree_size") != checkpoint.size:
            report.add(
                "PROOF",
                f"{where}: the proof is for leaf {proof.get('leaf_index')} of a tree of "
                f"{proof.get('tree_size')}, the record is leaf {seq} of {checkpoint.size}",
            )
            continue
        try:
            inclusion.verify(
                seq,
                checkpoint.size,
                bytes.fromhex(computed),
                [bytes.fromhex(h) for h in proof.get("hashes", [])],
                checkpoint.root,
            )
        except (VerificationError, ValueError, TypeError) as exc:
            report.add("PROOF", f"{where}: inclusion proof fails: {exc}")
            continue
        if isinstance(seq, int) and seq <= seen_seq:
            report.add("ORDER", f"{where}: seq {seq} after seq {seen_seq}: records are out of log order")
        seen_seq = max(seen_seq, seq) if isinstance(seq, int) else seen_seq
        observed = record.get("observed_at", "")
        if (start and observed < start) or (end and observed >= end):
            report.add("PERIOD", f"{where}: observed {observed}, outside the bundle's period")
        _verify_blobs(report, where, record, line)
    report.records = count
    expected = manifest.get("records")
    if expected != count:
        report.add("COUNT", f"{RECORDS} holds {count} records, the manifest says {expected}")


class _InclusionChecker:
    """``merkle.verify_inclusion`` for proofs of neighbouring leaves, in one pass: they share their
    upper path. The last accepted proof's intermediate states (node index, last index, node hash) are
    kept; once a proof reaches one of them with the same remaining sibling hashes, it leads to the
    same, already matched, root: the result is that of the full check. Anything unusual (a short or
    long proof, a bad hash length, a mismatch) goes to ``merkle.verify_inclusion``, which raises with
    its own message."""

    def __init__(self) -> None:
        self._states: dict[tuple[int, int, bytes], int] = {}
        self._proof: Sequence[bytes] = ()
        self._key: tuple[int, bytes] = (-1, b"")

    def verify(self, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> None:
        if not (0 <= index < size and len(leaf_hash) == _HASH and len(root) == _HASH):
            merkle.verify_inclusion(index, size, leaf_hash, proof, root)
            return
        sha256 = hashlib.sha256
        known = self._states if self._key == (size, root) else {}
        states: dict[tuple[int, int, bytes], int] = {}
        fn, sn = index, size - 1
        r = leaf_hash
        for i, p in enumerate(proof):
            if len(p) != _HASH or sn == 0:
                break
            if fn & 1 or fn == sn:
                r = sha256(b"\x01" + p + r).digest()
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
            else:
                r = sha256(b"\x01" + r + p).digest()
            fn >>= 1
            sn >>= 1
            state = (fn, sn, r)
            at = known.get(state)
            if at is not None and list(proof[i + 1 :]) == list(self._proof[at + 1 :]):
                return
            states[state] = i
        else:
            if sn == 0 and r == root:
                self._states, self._proof, self._key = states, proof, (size, root)
                return
        merkle.verify_inclusion(index, size, leaf_hash, proof, root)


def _zip_longest(a: Iterator[bytes], b: Iterator[bytes]) -> Iterator[tuple[bytes | None, bytes | None]]:
    from itertools import zip_longest

    yield from zip_longest(a, b)


def _verify_blobs(report: BundleReport, where: str, record: dict[str, Any], line: dict[str, Any]) -> None:
    refs = {ref.get("role"): ref.get("sha256") for ref in record.get("attachments", [])}
    checks = [("payload", record.get("payload_sha256"))]
    checks += [("gx_result", refs.get("gx-result")), ("api_calls", refs.get("api-calls"))]
    for field_name, expected in checks:
        value = line.get(field_name)
        if expected is None:
            continue
        if not isinstance(value, dict):
            report.add("BLOB", f"{where}: its {field_name} is missing from the bundle")
            continue
        if "missing" in value:
            report.notices.append(f"{where}: its {field_name} was missing from the store at export")
            continue
        try:
            data = _blob_bytes(value)
        except (KeyError, ValueError, binascii.Error, TypeError) as exc:
            report.add("BLOB", f"{where}: its {field_name} cannot be read: {exc}")
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest != expected:
            report.add("BLOB", f"{where}: its {field_name} hashes to {digest}, the record names {expected}")


def _verify_previous(
    archive: zipfile.ZipFile,
    report: BundleReport,
    manifest: dict[str, Any],
    note_key: VerifierKey,
    checkpoint: Checkpoint | None,
    previous_head: str | None,
) -> None:
    names = set(archive.namelist())
    declared = manifest.get("previous_head")
    proof_data: dict[str, Any] | None = None
    if declared is not None:
        if CONSISTENCY not in names:
            report.add("MISSING", f"the manifest names a previous head but the bundle has no {CONSISTENCY}")
        else:
            try:
                proof_data = json.loads(_read_member(archive, CONSISTENCY))
                from evidence.store.results import ConsistencyProof

                proof = ConsistencyProof(
                    old_size=int(proof_data["old_size"]),
                    new_size=int(proof_data["new_size"]),
                    hashes=tuple(proof_data["hashes"]),
                    old_head=SignedTreeHead.from_dict(proof_data["old_head"]),
                    new_head=SignedTreeHead.from_dict(proof_data["new_head"]),
                )
                new_head = proof.new_head.head
                if checkpoint is not None and (new_head.size, new_head.root) != (
                    checkpoint.size,
                    checkpoint.root,
                ):
                    raise VerificationError(
                        f"it ends at size {new_head.size}, not at the bundle's head (size {checkpoint.size})"
                    )
                if (proof.old_size, proof.old_head.head.root_hash) != (
                    declared.get("tree_size"),
                    declared.get("root_hash"),
                ):
                    raise VerificationError("it starts from another head than the manifest's previous head")
                _verify_head_note(proof.old_head, note_key)
                _verify_head_note(proof.new_head, note_key)
                merkle.verify_consistency(
                    proof.old_size,
                    proof.new_size,
                    proof.old_head.head.root,
                    proof.new_head.head.root,
                    [bytes.fromhex(h) for h in proof.hashes],
                )
            except (ValueError, KeyError, TypeError, VerificationError) as exc:
                report.add("CONSISTENCY", f"{CONSISTENCY}: {exc}")
                proof_data = None
    if previous_head is None or checkpoint is None:
        return
    try:
        mine_note = _parse_previous(previous_head)
        verify_note(mine_note, [note_key])
        mine = Checkpoint.parse(mine_note.text)
    except (NoteError, UsageError) as exc:
        report.add("PREVIOUS", f"your previous head does not verify with the log's key: {exc}")
        return
    if mine.origin != checkpoint.origin:
        report.add(
            "PREVIOUS", f"your previous head is of log {mine.origin}, the bundle of {checkpoint.origin}"
        )
    elif mine.size > checkpoint.size:
        report.add(
            "REWOUND",
            f"the bundle's head (size {checkpoint.size}) is older than your previous head "
            f"(size {mine.size}): "
            "the log was rewound or the bundle is stale",
        )
    elif mine.size == checkpoint.size:
        if mine.root != checkpoint.root:
            report.add(
                "FORK", f"your previous head of size {mine.size} has another root than the bundle's head"
            )
    elif proof_data is None or int(proof_data.get("old_size", -1)) != mine.size:
        report.add(
            "PREVIOUS",
            f"the bundle carries no consistency proof from your previous head (size {mine.size}): "
            "export it with --previous-head",
        )
    elif bytes.fromhex(proof_data["old_head"]["root_hash"]) != mine.root:
        report.add("FORK", f"the bundle's consistency proof starts from another tree of size {mine.size}")


def _verify_head_note(head: SignedTreeHead, note_key: VerifierKey) -> None:
    """A head (as in a consistency proof) checked as the signed checkpoint it is."""
    verify_note(head.note(note_key), [note_key])


__all__ = [
    "FRAMEWORKS",
    "BundleProblem",
    "BundleReport",
    "BundleSummary",
    "TreeLevels",
    "export_bundle",
    "export_record",
    "validate_oscal",
    "verify_bundle",
    "write_bundle",
]

"""After an append: send the new checkpoint to the witnesses and the TSA, and keep what they return.

Configuration (environment, read by ``open_store``):

- ``EVIDENCE_WITNESSES``: witnesses, one per line (or ``;``-separated), each ``<URL> <witness vkey>``;
  the URL is the submission prefix of a C2SP tlog-witness (``evidence witness serve`` is one);
- ``EVIDENCE_TSA_URL``: an RFC 3161 TSA; ``EVIDENCE_TSA_CA``: its root certificate(s), PEM;
- ``EVIDENCE_CHECKPOINT_URL``: ``s3://bucket/prefix[?endpoint_url=...&region=...]``, a bucket with
  Object Lock in COMPLIANCE mode: every checkpoint (with the cosignatures it got) is written there as
  ``<prefix><origin>/<size, 20 digits>``, retained so that nobody, the bucket's owner included, can
  delete or overwrite it before the retention ends; ``verify --published URL`` checks the store
  against all of them (truncation, forks).

What happens when one is down (the decision, documented in the README): the append has already
committed when they are asked, so evidence is never lost or blocked by them. Each failure is logged
(``evidence.publish`` logger, warning) and left visible: ``verify`` reports the heads that no
witness cosigned and no token covers, and fails on them when the verifier requires witnesses
(``--witness-key``) or a TSA (``--tsa-cert``). The next append asks again for its own, newer
checkpoint (which covers the earlier ones: the witness checks consistency from the last checkpoint it
cosigned), and ``evidence checkpoint`` catches up by hand. Witness and TSA are asked in parallel.

By default this runs in one background thread per store (``background=True``), as transparency logs
publish checkpoints: an append returns after its commit, the thread then publishes. When appends
outpace it, witnesses and the TSA get the newest checkpoint only (it covers the ones before: the
witness checks consistency, and a token on a later checkpoint bounds every earlier head), while the
publication bucket still gets every checkpoint. ``EvidenceStore.close()`` waits for the thread to
finish (``flush``), so a task that appends and exits leaves nothing unpublished unless a witness,
the TSA or the bucket failed.
"""

from __future__ import annotations

import base64
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evidence.errors import ConfigError, EvidenceError
from evidence.note import NoteError, NoteSignature, SignedNote, VerifierKey, verify_cosignature
from evidence.signing import SignedTreeHead
from evidence.timestamping import TSA_CA_ENV, TSA_URL_ENV, TimestampError, TsaClient, load_roots

if TYPE_CHECKING:
    from evidence.store.store import EvidenceStore

WITNESSES_ENV = "EVIDENCE_WITNESSES"
CHECKPOINT_URL_ENV = "EVIDENCE_CHECKPOINT_URL"
MAX_PROOF_LINES = 63  # tlog-witness: a client sends at most 63 consistency proof lines
log = logging.getLogger("evidence.publish")


class WitnessError(EvidenceError):
    """A witness refused a checkpoint or could not be reached."""


@dataclass(frozen=True)
class Witness:
    url: str  # the submission prefix: add-checkpoint is POSTed to <url>/add-checkpoint
    key: VerifierKey  # the witness's cosignature (0x04) key

    def describe(self) -> str:
        return f"witness {self.key.name} at {self.url}"


def parse_witnesses(value: str, *, source: str = WITNESSES_ENV) -> list[Witness]:
    witnesses = []
    for entry in value.replace(";", "\n").splitlines():
        entry = entry.strip()
        if not entry:
            continue
        parts = entry.split()
        if len(parts) != 2:
            raise ConfigError(f"{source}: {entry!r} is not '<URL> <witness vkey>'")
        try:
            key = VerifierKey.parse(parts[1])
        except NoteError as exc:
            raise ConfigError(f"{source}: {exc}") from exc
        witnesses.append(Witness(url=parts[0].rstrip("/"), key=key))
    return witnesses


@dataclass
class PublishReport:
    size: int
    cosigned_by: list[str] = field(default_factory=list)
    timestamped: bool = False
    published: str | None = None
    failures: list[str] = field(default_factory=list)


class CheckpointBucket:
    """Checkpoints as immutable objects in an S3 bucket with Object Lock in COMPLIANCE mode."""

    def __init__(self, client: Any, bucket: str, prefix: str = "", *, url: str | None = None) -> None:
        from evidence.store.blobs import S3BlobStore

        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.url = url or f"s3://{bucket}/{prefix}"
        # The blob store's Object Lock detection (bucket default retention, EVIDENCE_BLOB_RETENTION_DAYS).
        retention = S3BlobStore(client, bucket, prefix, url=self.url).retention
        if retention is None or retention.mode != "COMPLIANCE":
            mode = "no Object Lock" if retention is None else f"Object Lock in {retention.mode} mode"
            raise ConfigError(
                f"checkpoint bucket {self.url} has {mode}: published checkpoints must be immutable, "
                "use a bucket with Object Lock and a COMPLIANCE default retention"
            )
        self.retention = retention

    @classmethod
    def from_url(cls, url: str, client: Any = None) -> CheckpointBucket:
        from urllib.parse import parse_qs, urlsplit

        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ConfigError(f"checkpoint URL {url!r} is not s3://bucket/prefix")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        prefix = parts.path.lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        if client is None:
            from evidence.store.blobs import s3_client_from_query

            client = s3_client_from_query(query, url)
        return cls(client, parts.netloc, prefix, url=f"s3://{parts.netloc}/{prefix}")

    def key_for(self, origin: str, size: int) -> str:
        return f"{self.prefix}{origin}/{size:020d}"

    def put(self, origin: str, size: int, note: SignedNote) -> str:
        """Write the checkpoint once; an existing object for that size must hold the same checkpoint."""
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.key_for(origin, size)
        where = f"s3://{self.bucket}/{key}"
        try:
            existing = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) not in ("NoSuchKey", "404", "NotFound"):
                raise WitnessError(f"cannot read {where}: {exc}") from exc
            existing = None
        except BotoCoreError as exc:
            raise WitnessError(f"cannot reach {self.url}: {exc}") from exc
        if existing is not None:
            if SignedNote.parse(existing).text != note.text:
                raise WitnessError(
                    f"{where} already holds a different checkpoint of size {size}: this store forked "
                    "from what it published"
                )
            return where
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=note.encode().encode("utf-8"),
                ContentType="text/plain; charset=utf-8",
                ObjectLockMode=self.retention.mode,
                ObjectLockRetainUntilDate=self.retention.until(),
            )
        except (ClientError, BotoCoreError) as exc:
            raise WitnessError(f"cannot publish the checkpoint to {where}: {exc}") from exc
        return where

    def checkpoints(self, origin: str) -> list[tuple[str, bytes]]:
        """Every published checkpoint of ``origin``: (object URL, content), smallest size first."""
        paginator = self.client.get_paginator("list_objects_v2")
        found = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}{origin}/"):
            for item in page.get("Contents", ()):
                body = self.client.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                found.append((f"s3://{self.bucket}/{item['Key']}", body))
        return sorted(found)


def _post(url: str, body: bytes, timeout: float) -> tuple[int, str, bytes]:
    request = urllib.request.Request(  # noqa: S310 - the operator configures witness URLs
        url, data=body, headers={"Content-Type": "text/plain; charset=utf-8"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310
            return reply.status, reply.headers.get("Content-Type", ""), reply.read(1 << 16)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read(1 << 16)
    except (urllib.error.URLError, OSError) as exc:
        raise WitnessError(f"{url}: {getattr(exc, 'reason', exc)}") from exc


def add_checkpoint_body(old_size: int, proof: Sequence[bytes], note: SignedNote) -> bytes:
    """The tlog-witness add-checkpoint request body."""
    lines = [f"old {old_size}\n", *(base64.b64encode(h).decode("ascii") + "\n" for h in proof), "\n"]
    return ("".join(lines) + note.encode()).encode("utf-8")


def request_cosignature(
    store: EvidenceStore, witness: Witness, head: SignedTreeHead, note: SignedNote, timeout: float
) -> tuple[NoteSignature, int]:
    """Ask one witness to cosign ``head`` (C2SP tlog-witness add-checkpoint); return the checked
    cosignature and its timestamp. A 409 (the witness has another size) is retried once from the
    witness's size, as the spec intends."""
    old = store.cosigned_size(witness.key)
    for _attempt in range(2):
        if old > head.head.size:
            raise WitnessError(
                f"{witness.describe()} has cosigned size {old}, larger than this store's {head.head.size}: "
                "the store went backwards (truncated or forked)"
            )
        proof = store.consistency_hashes(old, head.head.size) if old else []
        if len(proof) > MAX_PROOF_LINES:
            raise WitnessError(f"consistency proof {old} -> {head.head.size} is too long")
        status, content_type, reply = _post(
            f"{witness.url}/add-checkpoint", add_checkpoint_body(old, proof, note), timeout
        )
        text = reply.decode("utf-8", "replace")
        if status == 409 and content_type.startswith("text/x.tlog.size"):
            try:
                old = int(text.strip())
            except ValueError as exc:
                raise WitnessError(f"{witness.describe()}: bad 409 body {text[:40]!r}") from exc
            continue
        if status != 200:
            raise WitnessError(
                f"{witness.describe()} refused size {head.head.size}: HTTP {status} {text[:300]}"
            )
        for line in text.splitlines(keepends=True):
            try:
                sig = NoteSignature.parse_line(line.rstrip("\n"))
            except NoteError:
                continue
            if sig.matches(witness.key):
                return sig, verify_cosignature(witness.key, note.text, sig)
        raise WitnessError(f"{witness.describe()} answered without a cosignature by its key")
    raise WitnessError(f"{witness.describe()} keeps answering 409 Conflict")


class Publisher:
    """Witnesses and a TSA for the checkpoints of one store."""

    def __init__(
        self,
        witnesses: Sequence[Witness] = (),
        tsa: TsaClient | None = None,
        *,
        bucket: CheckpointBucket | None = None,
        timeout: float = 10,
        background: bool = True,
    ) -> None:
        self.witnesses = tuple(witnesses)
        self.tsa = tsa
        self.bucket = bucket
        self.timeout = timeout
        self.background = background
        self.reports: list[PublishReport] = []  # the background thread's, newest last (bounded)
        self._pending: list[tuple[EvidenceStore, SignedTreeHead]] = []
        self._wake = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None

    def __bool__(self) -> bool:
        return bool(self.witnesses or self.tsa or self.bucket)

    def after_append(self, store: EvidenceStore, head: SignedTreeHead) -> None:
        """Publish the head just appended (in the background by default); failures are logged, never
        raised (see the module doc)."""
        if not self.background:
            self._log(store, self.publish(store, head))
            return
        with self._wake:
            self._pending.append((store, head))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="evidence-publish", daemon=True)
                self._thread.start()
            self._wake.notify_all()

    def _log(self, store: EvidenceStore, report: PublishReport) -> None:
        for failure in report.failures:
            log.warning("checkpoint of size %s of %s: %s", report.size, store.url, failure)
        self.reports = [*self.reports[-99:], report]

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending:
                    if not self._wake.wait(timeout=30):
                        self._thread = None
                        return
                batch, self._pending = self._pending, []
                self._busy = True
            try:
                store, newest = batch[-1]
                if self.bucket is not None:
                    for other_store, head in batch[:-1]:
                        self._publish_only(other_store, head)
                self._log(store, self.publish(store, newest))
            except Exception as exc:  # noqa: BLE001 - the thread must never die silently
                log.warning("publishing checkpoints failed: %s", exc)
            finally:
                with self._wake:
                    self._busy = False
                    self._wake.notify_all()

    def _publish_only(self, store: EvidenceStore, head: SignedTreeHead) -> None:
        assert self.bucket is not None
        try:
            self.bucket.put(store.origin, head.head.size, store.checkpoint_note(head))
        except (WitnessError, NoteError, EvidenceError) as exc:
            log.warning("checkpoint of size %s of %s: publication: %s", head.head.size, store.url, exc)

    def flush(self, timeout: float | None = 60) -> bool:
        """Wait until every appended checkpoint has been handled; False on timeout."""
        with self._wake:
            return self._wake.wait_for(lambda: not self._pending and not self._busy, timeout=timeout)

    def publish(self, store: EvidenceStore, head: SignedTreeHead) -> PublishReport:
        """Publish one head now (the caller's thread): witnesses and TSA in parallel, then the bucket."""
        report = PublishReport(size=head.head.size)
        note = store.checkpoint_note(head)
        jobs = [(w.describe(), w) for w in self.witnesses]
        with ThreadPoolExecutor(max_workers=len(jobs) + 1) as pool:
            stamp_future = (
                pool.submit(self.tsa.timestamp, head.head.signed_bytes()) if self.tsa is not None else None
            )
            futures = [
                (name, witness, pool.submit(request_cosignature, store, witness, head, note, self.timeout))
                for name, witness in jobs
            ]
            for name, witness, future in futures:
                try:
                    sig, when = future.result()
                except (WitnessError, NoteError, EvidenceError) as exc:
                    report.failures.append(f"{name}: {exc}")
                    continue
                store.add_cosignature(head.head.size, witness.key, sig, when)
                report.cosigned_by.append(witness.key.name)
            if stamp_future is not None and self.tsa is not None:
                try:
                    stamp = stamp_future.result()
                except (TimestampError, EvidenceError) as exc:
                    report.failures.append(f"TSA {self.tsa.url}: {exc}")
                else:
                    store.add_timestamp(head.head.size, self.tsa.url, stamp)
                    report.timestamped = True
        if self.bucket is not None:
            # After the witnesses: the published note carries the cosignatures this append obtained.
            try:
                report.published = self.bucket.put(store.origin, head.head.size, store.checkpoint_note(head))
            except (WitnessError, NoteError, EvidenceError) as exc:
                report.failures.append(f"publication: {exc}")
        return report


def publisher_from_env(env: Mapping[str, str]) -> Publisher | None:
    witnesses = parse_witnesses(env.get(WITNESSES_ENV, ""))
    tsa_url = env.get(TSA_URL_ENV)
    roots = load_roots(env[TSA_CA_ENV]) if env.get(TSA_CA_ENV) else None
    tsa = TsaClient(tsa_url, roots) if tsa_url else None
    bucket = CheckpointBucket.from_url(env[CHECKPOINT_URL_ENV]) if env.get(CHECKPOINT_URL_ENV) else None
    publisher = Publisher(witnesses, tsa, bucket=bucket)
    return publisher if publisher else None

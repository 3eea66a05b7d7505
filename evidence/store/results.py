"""What the store hands back: append results, proofs that verify offline, and the verify report."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from evidence.errors import VerificationError
from evidence.merkle import leaf_hash, verify_consistency, verify_inclusion
from evidence.records import EvidenceRecord
from evidence.signing import SignedTreeHead, Verifier


@dataclass(frozen=True)
class AppendResult:
    record: EvidenceRecord
    created: bool  # False: a record with this idempotency key was already there (it is returned)


@dataclass(frozen=True)
class SigningKeyEntry:
    """A public key the store has signed tree heads with (recorded when the key was first used)."""

    key_id: str
    public_pem: str
    added_at: str

    def verifier(self) -> Verifier:
        return Verifier.from_pem(self.public_pem.encode("ascii"), source=f"store signing key {self.key_id}")


def _verifier_for(sth: SignedTreeHead, verifiers: Verifier | Iterable[Verifier]) -> Verifier:
    candidates = [verifiers] if isinstance(verifiers, Verifier) else list(verifiers)
    for candidate in candidates:
        if candidate.key_id == sth.head.key_id:
            return candidate
    trusted = ", ".join(v.key_id for v in candidates) or "none"
    raise VerificationError(
        f"tree head of size {sth.head.size} is signed by key {sth.head.key_id}, which is not trusted "
        f"(trusted: {trusted})"
    )


def _check_head(sth: SignedTreeHead, verifiers: Verifier | Iterable[Verifier]) -> None:
    _verifier_for(sth, verifiers).verify_head(sth)


@dataclass(frozen=True)
class InclusionProof:
    """Record ``record_id`` is leaf ``leaf_index`` of the tree that ``tree_head`` signs.

    ``record_json`` is the record's leaf data, so a holder of the proof also checks the record's content:
    ``leaf_hash == SHA-256(0x00 || record_json)``.
    """

    record_id: str
    leaf_index: int
    tree_size: int
    leaf_hash: str
    hashes: tuple[str, ...]
    tree_head: SignedTreeHead
    record_json: str

    def verify(self, verifier: Verifier | Iterable[Verifier]) -> None:
        """Raise VerificationError unless the head's signature, the leaf and the audit path all check."""
        _check_head(self.tree_head, verifier)
        if self.tree_head.head.size != self.tree_size:
            raise VerificationError(
                f"inclusion proof for record {self.record_id} is for a tree of {self.tree_size} leaves, "
                f"but its signed head covers {self.tree_head.head.size}"
            )
        computed = leaf_hash(self.record_json.encode("utf-8")).hex()
        if computed != self.leaf_hash:
            raise VerificationError(
                f"record {self.record_id}: its content hashes to {computed}, "
                f"not to the proven leaf {self.leaf_hash}"
            )
        verify_inclusion(
            self.leaf_index,
            self.tree_size,
            bytes.fromhex(self.leaf_hash),
            [bytes.fromhex(h) for h in self.hashes],
            self.tree_head.head.root,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "leaf_hash": self.leaf_hash,
            "hashes": list(self.hashes),
            "tree_head": self.tree_head.to_dict(),
            "record_json": self.record_json,
        }


@dataclass(frozen=True)
class ConsistencyProof:
    """The tree ``new_head`` signs extends the tree ``old_head`` signs (nothing was rewritten)."""

    old_size: int
    new_size: int
    hashes: tuple[str, ...]
    old_head: SignedTreeHead
    new_head: SignedTreeHead

    def verify(self, verifier: Verifier | Iterable[Verifier]) -> None:
        verifiers = [verifier] if isinstance(verifier, Verifier) else list(verifier)
        _check_head(self.old_head, verifiers)
        _check_head(self.new_head, verifiers)
        if (self.old_head.head.size, self.new_head.head.size) != (self.old_size, self.new_size):
            raise VerificationError(
                f"consistency proof {self.old_size} -> {self.new_size} carries heads of sizes "
                f"{self.old_head.head.size} and {self.new_head.head.size}"
            )
        verify_consistency(
            self.old_size,
            self.new_size,
            self.old_head.head.root,
            self.new_head.head.root,
            [bytes.fromhex(h) for h in self.hashes],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "old_size": self.old_size,
            "new_size": self.new_size,
            "hashes": list(self.hashes),
            "old_head": self.old_head.to_dict(),
            "new_head": self.new_head.to_dict(),
        }


@dataclass(frozen=True)
class Problem:
    """One thing ``verify`` found. ``message`` names the record (id and seq) or blob at fault."""

    kind: str
    message: str
    seq: int | None = None
    record_id: str | None = None
    blob: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "seq": self.seq,
            "record_id": self.record_id,
            "blob": self.blob,
        }


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of ``EvidenceStore.verify``. ``ok`` is False iff ``problems`` is not empty.

    ``notices`` are informational (orphan blobs left by an interrupted append); they never fail a
    verification. ``trust`` says which keys the signatures were checked against.
    """

    ok: bool
    records: int
    blobs: int
    tree_heads: int
    tree_size: int | None
    root_hash: str | None
    trust: str
    trusted_key_ids: tuple[str, ...]
    problems: tuple[Problem, ...] = ()
    notices: tuple[Problem, ...] = ()
    omitted_problems: dict[str, int] = field(default_factory=dict)  # kind -> how many were not listed
    orphan_blobs: int = 0
    elapsed_seconds: float = 0.0
    origin: str | None = None
    log_key: str | None = None  # the vkey of the key that signs new heads (the end of the key chain)
    checkpoint: str | None = None  # the latest head as a signed note (with its cosignatures)

    def to_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "log_key": self.log_key,
            "checkpoint": self.checkpoint,
            "ok": self.ok,
            "records": self.records,
            "blobs": self.blobs,
            "tree_heads": self.tree_heads,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "trust": self.trust,
            "trusted_key_ids": list(self.trusted_key_ids),
            "problems": [p.to_dict() for p in self.problems],
            "omitted_problems": dict(self.omitted_problems),
            "notices": [p.to_dict() for p in self.notices],
            "orphan_blobs": self.orphan_blobs,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }

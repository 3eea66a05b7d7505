"""``verify`` finds every kind of tampering, on SQLite + folder and on PostgreSQL + S3 (moto).

Each test changes the store from outside our code (the database driver with the append-only triggers
dropped or disabled, the blob folder, the S3 API) and asserts that the problem names the record at
fault.
"""

from __future__ import annotations

import json

import pytest

from evidence.records import EvidenceRecord
from evidence.signing import SignedTreeHead, Signer
from evidence.store import EvidenceStore, VerifyReport
from tests.support.records import make_batch
from tests.support.store_backends import Backend

pytestmark = pytest.mark.integration


def _filled(backend: Backend, count: int = 6) -> tuple[EvidenceStore, list[EvidenceRecord]]:
    store = backend.open()
    first = store.append_batch(make_batch(0, count // 2))
    second = store.append_batch(make_batch(count // 2, count - count // 2))
    records = [r.record for r in first + second]
    assert store.verify().ok
    return store, records


def _kinds(report: VerifyReport) -> set[str]:
    return {p.kind for p in report.problems}


def _only(report: VerifyReport, kind: str) -> list:
    found = [p for p in report.problems if p.kind == kind]
    assert found, f"no {kind} problem in {[p.message for p in report.problems]}"
    return found


def test_untouched_store_verifies(backend: Backend) -> None:
    store, _ = _filled(backend)
    report = store.verify()
    assert report.ok, report.problems
    assert (report.records, report.blobs, report.tree_heads) == (6, 6, 2)
    assert report.tree_size == 6
    assert "key chain" in report.trust
    json.dumps(report.to_dict())


def test_edited_payload_blob(backend: Backend) -> None:
    store, records = _filled(backend)
    victim = records[2]
    backend.edit_blob(victim.payload_sha256, b'{"rows": []}')
    report = store.verify()
    assert not report.ok
    (problem,) = _only(report, "blob_mismatch")
    assert problem.record_id == victim.id and problem.seq == 2
    assert problem.blob == victim.payload_sha256
    assert victim.id in problem.message and victim.payload_sha256 in problem.message


def test_deleted_blob(backend: Backend) -> None:
    store, records = _filled(backend)
    victim = records[4]
    backend.delete_blob(victim.payload_sha256)
    report = store.verify()
    (problem,) = _only(report, "blob_missing")
    assert (problem.record_id, problem.seq, problem.blob) == (victim.id, 4, victim.payload_sha256)
    assert _kinds(report) == {"blob_missing"}


def test_index_column_edited(backend: Backend) -> None:
    store, records = _filled(backend)
    victim = records[1]
    backend.sql("UPDATE records SET status = 'fail' WHERE seq = 1", bypass_triggers=True)
    report = store.verify()
    (problem,) = _only(report, "column_mismatch")
    assert problem.record_id == victim.id and problem.seq == 1
    assert "status" in problem.message
    # The triggers are gone (or disabled), which verify reports too; the data and the tree still agree.
    assert _kinds(report) == {"column_mismatch", "append_only_trigger_missing"}


def test_record_content_edited(backend: Backend) -> None:
    store, records = _filled(backend)
    victim = records[3]
    (row,) = backend.sql("SELECT record_json FROM records WHERE seq = 3")
    forged = row[0].replace('"reason":"test record"', '"reason":"looks fine"')
    assert forged != row[0]
    backend.sql("UPDATE records SET record_json = ? WHERE seq = 3", (forged,), bypass_triggers=True)
    report = store.verify()
    (leaf,) = _only(report, "leaf_hash_mismatch")
    assert (leaf.record_id, leaf.seq) == (victim.id, 3)
    (head,) = _only(report, "head_root_mismatch")
    assert head.seq == 5  # the head of size 6 no longer matches the leaves


def test_row_deleted(backend: Backend) -> None:
    store, records = _filled(backend)
    backend.sql("DELETE FROM records WHERE seq = 2", bypass_triggers=True)
    report = store.verify()
    (gap,) = _only(report, "seq_gap")
    assert gap.seq == 2
    # The message names the neighbours on both sides of the hole.
    assert records[1].id in gap.message and records[3].id in gap.message
    assert "head_beyond_log" in _kinds(report)


def test_rows_swapped(backend: Backend) -> None:
    store, records = _filled(backend)
    # Swap the positions of seq 3 and 4 (a PRIMARY KEY shuffle through a temporary value).
    backend.sql("UPDATE records SET seq = -1 WHERE seq = 3", bypass_triggers=True)
    backend.sql("UPDATE records SET seq = 3 WHERE seq = 4", bypass_triggers=True)
    backend.sql("UPDATE records SET seq = 4 WHERE seq = -1", bypass_triggers=True)
    report = store.verify()
    moved = _only(report, "seq_mismatch")
    assert {(p.record_id, p.seq) for p in moved} == {(records[4].id, 3), (records[3].id, 4)}
    assert "head_root_mismatch" in _kinds(report)


def test_forged_head_edited_root(backend: Backend) -> None:
    store, _ = _filled(backend)
    backend.sql("UPDATE tree_heads SET root_hash = ? WHERE size = 3", ("ab" * 32,), bypass_triggers=True)
    report = store.verify()
    (signature,) = _only(report, "head_signature_invalid")
    assert "size 3" in signature.message
    (root,) = _only(report, "head_root_mismatch")
    assert "size 3" in root.message


def _forge_latest_head(backend: Backend, store: EvidenceStore, forger: Signer) -> SignedTreeHead:
    """Replace the latest head with one of the same size and root, signed by another key."""
    head = store.tree_head()
    assert head is not None
    forged = forger.sign_head(head.head.size, head.head.root)
    backend.sql(
        "UPDATE tree_heads SET key_id = ?, signature = ?, timestamp = ? WHERE size = ?",
        (forged.head.key_id, forged.signature, forged.head.timestamp, head.head.size),
        bypass_triggers=True,
    )
    return forged


def test_forged_head_resigned_with_unknown_key(backend: Backend) -> None:
    store, _ = _filled(backend)
    forger = Signer.generate()
    _forge_latest_head(backend, store, forger)
    report = store.verify()
    (problem,) = _only(report, "head_untrusted_key")
    assert forger.key_id in problem.message and "size 6" in problem.message


def test_key_substitution_planted_key_is_not_trusted_by_default(backend: Backend) -> None:
    """Heads re-signed with a new key written into the store's own key table: the default verify
    follows the key chain (first key + rotations signed by it), not the table."""
    store, _ = _filled(backend)
    forger = Signer.generate()
    _forge_latest_head(backend, store, forger)
    backend.sql(
        "INSERT INTO signing_keys (key_id, public_pem, added_at) VALUES (?, ?, ?)",
        (forger.key_id, forger.public_pem().decode(), "2025-01-01T00:00:00.000000Z"),
    )
    internal = store.verify()
    (problem,) = _only(internal, "head_untrusted_key")
    assert forger.key_id in problem.message and backend.signer.key_id in problem.message
    (planted,) = _only(internal, "signing_key_untrusted")
    assert forger.key_id in planted.message
    assert forger.key_id not in internal.trusted_key_ids
    pinned = store.verify(trusted_keys=[backend.signer.verifier()])
    (problem,) = _only(pinned, "head_untrusted_key")
    assert forger.key_id in problem.message
    assert "pinned" in pinned.trust


def test_unsigned_tail(backend: Backend) -> None:
    store, records = _filled(backend)
    backend.sql("DELETE FROM tree_heads WHERE size = 6", bypass_triggers=True)
    report = store.verify()
    (tail,) = _only(report, "unsigned_tail")
    assert tail.seq == 3 and tail.record_id == records[5].id

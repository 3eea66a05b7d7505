"""The evidence store's behaviour, identical on SQLite + folder and PostgreSQL + S3 (moto)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from evidence.errors import (
    AppendOnlyViolation,
    BlobError,
    RecordNotFound,
    SchemaValidationError,
    StoreError,
    VerificationError,
)
from evidence.records import PreparedRecord, SourceError, Status
from evidence.signing import Signer
from evidence.store import AmbiguousRecordId, InclusionProof
from tests.support.records import BASE_TIME, make_batch, make_prepared, sample_payload
from tests.support.store_backends import Backend

pytestmark = pytest.mark.integration


def test_append_assigns_consecutive_seq_one_recorded_at_and_signs_a_head(backend: Backend) -> None:
    store = backend.open()
    results = store.append_batch(make_batch(0, 5))
    assert [r.record.seq for r in results] == [0, 1, 2, 3, 4]
    assert all(r.created for r in results)
    assert len({r.record.recorded_at for r in results}) == 1
    single = store.append(make_prepared(5))
    assert single.created and single.record.seq == 5
    head = store.tree_head()
    assert head is not None and head.head.size == 6 and head.head.key_id == backend.signer.key_id
    assert [h.head.size for h in store.tree_heads()] == [5, 6]
    backend.signer.verifier().verify_head(head)
    assert store.count() == 6
    # What the store returns is what it keeps, and what it keeps hashes to the leaf.
    stored = store.get(single.record.id)
    assert stored == single.record
    assert stored.leaf_data() == store.inclusion_proof(stored.id).record_json.encode()


def test_same_prepared_record_twice_is_one_record(backend: Backend) -> None:
    store = backend.open()
    item = make_prepared(1)
    first = store.append(item)
    again = store.append(item)
    assert first.created and not again.created
    assert again.record == first.record
    assert store.count() == 1
    assert [h.head.size for h in store.tree_heads()] == [1]  # nothing new to sign


def test_duplicate_key_within_one_batch_is_one_record(backend: Backend) -> None:
    store = backend.open()
    a, b = make_prepared(1), make_prepared(2)
    results = store.append_batch([a, b, a, make_prepared(3), b])
    assert [r.created for r in results] == [True, True, False, True, False]
    assert results[2].record == results[0].record and results[4].record == results[1].record
    assert store.count() == 3
    assert store.verify().ok


def test_batch_mixing_stored_and_new_records(backend: Backend) -> None:
    store = backend.open()
    store.append_batch(make_batch(0, 3))
    results = store.append_batch(make_batch(1, 4))
    assert [r.created for r in results] == [False, False, True, True]
    assert [r.record.seq for r in results] == [1, 2, 3, 4]
    assert store.verify().ok


def test_malformed_payload_is_refused_naming_the_field_and_nothing_is_written(backend: Backend) -> None:
    store = backend.open()
    store.append(make_prepared(0))
    payload = sample_payload({"account": "1"}, rows=3)
    payload["rows"][1]["encrypted"] = "yes"
    bad = make_prepared(1, payload=payload)
    good = make_prepared(2)
    with pytest.raises(SchemaValidationError) as caught:
        store.append_batch([good, bad])
    assert "payload.rows[1].encrypted" in str(caught.value)
    assert caught.value.evidence_type == "test.sample"
    assert any(bad.draft.id in note for note in caught.value.__notes__)
    assert store.count() == 1
    assert not backend.blob_exists(bad.draft.payload_sha256)
    assert not backend.blob_exists(good.draft.payload_sha256)
    assert store.verify().orphan_blobs == 0


def test_payload_that_is_not_json_is_a_schema_error(backend: Backend) -> None:
    store = backend.open()
    with pytest.raises(SchemaValidationError, match="not valid JSON"):
        store.append(make_prepared(1, payload=b"{not json"))
    assert store.count() == 0


def test_error_records_are_not_schema_checked(backend: Backend) -> None:
    """A collector that could not read its source records that; its payload proves nothing."""
    store = backend.open()
    failure = SourceError(code="AccessDenied", message="s3:GetEncryptionConfiguration denied")
    item = make_prepared(1, payload={"error": "AccessDenied"}, status=Status.ERROR, error=failure)
    result = store.append(item)
    assert result.created and result.record.status == Status.ERROR
    assert store.verify().ok


def test_payload_digest_mismatch_is_refused(backend: Backend) -> None:
    store = backend.open()
    item = make_prepared(1)
    forged = PreparedRecord(draft=item.draft, payload=item.payload + b" ")
    with pytest.raises(StoreError, match="hash to"):
        store.append(forged)
    assert store.count() == 0


def test_attachments_are_stored_and_checked(backend: Backend) -> None:
    store = backend.open()
    document = b"signed DR runbook, rev 7"
    result = store.append(make_prepared(1, attachments={"doc": document}))
    (ref,) = result.record.attachments
    assert store.read_blob(ref.sha256) == document
    report = store.verify()
    assert report.ok and report.blobs == 2
    backend.delete_blob(ref.sha256)
    (problem,) = store.verify().problems
    assert problem.kind == "blob_missing" and problem.blob == ref.sha256
    assert "attachment" in problem.message


def test_read_blob(backend: Backend) -> None:
    store = backend.open()
    item = make_prepared(1)
    store.append(item)
    assert store.read_blob(item.draft.payload_sha256) == item.payload
    with pytest.raises(BlobError, match="missing"):
        store.read_blob("0" * 64)
    with pytest.raises(BlobError, match="not a SHA-256"):
        store.read_blob("../../etc/passwd")
    backend.edit_blob(item.draft.payload_sha256, b"changed")
    with pytest.raises(BlobError, match="does not match"):
        store.read_blob(item.draft.payload_sha256)


def test_get_by_id_and_prefix(backend: Backend) -> None:
    store = backend.open()
    records = [r.record for r in store.append_batch(make_batch(0, 3))]
    target = records[1]
    assert store.get(target.id) == target
    assert store.get(target.id.lower()) == target
    # Deterministic ULIDs share the timestamp prefix; the randomness part tells them apart.
    assert store.get(target.id[:20]) == target
    with pytest.raises(AmbiguousRecordId, match="ambiguous"):
        store.get(target.id[:8])
    with pytest.raises(RecordNotFound):
        store.get("7ZZZZZZZZZZZZZZZZZZZZZZZZZ")
    with pytest.raises(RecordNotFound, match="not a record id"):
        store.get("not-an-id!")


def test_iter_records_filters(backend: Backend) -> None:
    store = backend.open()
    store.append_batch(
        [
            make_prepared(0, target={"account": "1"}, control_ids=("C-1",)),
            make_prepared(1, target={"account": "2"}, control_ids=("C-1", "C-2")),
            make_prepared(
                2,
                target={"account": "1"},
                control_ids=("C-2",),
                status=Status.ERROR,
                error=SourceError(code="Throttling", message="slow down"),
            ),
            make_prepared(3, target={"account": "3"}, control_ids=("C-10",)),
        ]
    )

    def seqs(**filters: object) -> list[int]:
        return [r.seq for r in store.iter_records(**filters)]  # type: ignore[arg-type]

    assert seqs() == [0, 1, 2, 3]
    assert seqs(newest_first=True) == [3, 2, 1, 0]
    assert seqs(limit=2) == [0, 1]
    assert seqs(limit=2, newest_first=True) == [3, 2]
    assert seqs(control_id="C-1") == [0, 1]  # not C-10
    assert seqs(control_id="C-1", limit=1) == [0]
    assert seqs(status="error") == [2]
    assert seqs(status=Status.PASS, target={"account": "1"}) == [0]
    assert seqs(evidence_type="test.sample", target={"account": "2"}) == [1]
    assert seqs(evidence_type="other.type") == []
    assert seqs(since=BASE_TIME + timedelta(seconds=1), until=BASE_TIME + timedelta(seconds=3)) == [1, 2]


def test_latest_is_newest_observation_per_type_and_target(backend: Backend) -> None:
    store = backend.open()
    older = make_prepared(0, target={"account": "1"}, observed_at=BASE_TIME)
    newer = make_prepared(1, target={"account": "1"}, observed_at=BASE_TIME + timedelta(hours=1))
    other = make_prepared(2, target={"account": "2"}, observed_at=BASE_TIME)
    # A late import of an older observation must not replace the newer one.
    late_old = make_prepared(3, target={"account": "1"}, observed_at=BASE_TIME - timedelta(days=1))
    store.append_batch([older, newer, other])
    store.append(late_old)
    latest = store.latest()
    assert sorted(r.id for r in latest) == sorted([newer.draft.id, other.draft.id])
    assert [r.id for r in store.latest("test.sample")] == [r.id for r in latest]
    assert store.latest("nothing.here") == []


def test_inclusion_proofs_verify_offline(backend: Backend) -> None:
    store = backend.open()
    records = []
    for start, size in ((0, 3), (3, 4), (7, 6)):
        records += [r.record for r in store.append_batch(make_batch(start, size))]
    verifier = backend.signer.verifier()
    for record in records:
        proof = store.inclusion_proof(record.id)
        assert proof.tree_size == 13 and proof.leaf_index == record.seq
        proof.verify(verifier)
    old = store.inclusion_proof(records[1].id, tree_size=3)
    old.verify(verifier)
    assert old.tree_head.head.size == 3
    # The proof is plain data: it survives JSON and still verifies.
    as_json = json.loads(json.dumps(old.to_dict()))
    assert as_json["tree_head"]["size"] == 3
    with pytest.raises(StoreError, match="appended after"):
        store.inclusion_proof(records[5].id, tree_size=3)
    with pytest.raises(StoreError, match="no signed tree head of size 4"):
        store.inclusion_proof(records[0].id, tree_size=4)


def test_tampered_inclusion_proofs_fail(backend: Backend) -> None:
    store = backend.open()
    records = [r.record for r in store.append_batch(make_batch(0, 5))]
    proof = store.inclusion_proof(records[2].id)
    verifier = backend.signer.verifier()
    edited = InclusionProof(**{**proof.__dict__, "record_json": proof.record_json.replace("pass", "fail", 1)})
    with pytest.raises(VerificationError, match="content hashes"):
        edited.verify(verifier)
    moved = InclusionProof(**{**proof.__dict__, "leaf_index": 3})
    with pytest.raises(VerificationError):
        moved.verify(verifier)
    with pytest.raises(VerificationError, match="not trusted"):
        proof.verify(Signer.generate().verifier())


def test_consistency_proofs_verify_offline(backend: Backend) -> None:
    store = backend.open()
    sizes = []
    for start, size in ((0, 1), (1, 2), (3, 5), (8, 8), (16, 3)):
        store.append_batch(make_batch(start, size))
        sizes.append(start + size)
    verifier = backend.signer.verifier()
    for i, old in enumerate(sizes):
        for new in sizes[i:]:
            proof = store.consistency_proof(old, new)
            assert (proof.old_size, proof.new_size) == (old, new)
            proof.verify(verifier)
    latest = store.consistency_proof(3)
    assert latest.new_size == 19
    latest.verify([Signer.generate().verifier(), verifier])
    with pytest.raises(StoreError, match="smaller tree"):
        store.consistency_proof(16, 8)
    with pytest.raises(VerificationError):
        type(latest)(**{**latest.__dict__, "hashes": latest.hashes[:-1]}).verify(verifier)


def test_another_key_is_refused_until_rotated(backend: Backend) -> None:
    from evidence.store.store import KeyMismatch

    store = backend.open()
    store.append_batch(make_batch(0, 2))
    rotated = Signer.generate()
    with pytest.raises(KeyMismatch, match=backend.signer.key_id):
        backend.open(signer=rotated)
    assert store.count() == 2
    rotation = store.rotate_key(rotated)
    assert (rotation.size, rotation.old.key_id, rotation.new.key_id) == (
        2,
        backend.signer.note_key(store.origin).key_id,
        rotated.note_key(store.origin).key_id,
    )
    store2 = backend.open(signer=rotated)
    store2.append_batch(make_batch(2, 2))
    with pytest.raises(KeyMismatch):
        backend.open()  # the old key is retired
    keys = {k.key_id: k for k in store2.public_keys()}
    assert set(keys) == {backend.signer.key_id, rotated.key_id}
    report = store2.verify()
    assert report.ok, report.problems
    assert set(report.trusted_key_ids) == set(keys)
    # An auditor who pinned the first key also trusts the key it rotated to (it signed the rotation).
    assert store2.verify(trusted_keys=[backend.signer.verifier()]).ok
    # One who pinned only the new key cannot vouch for the heads before the rotation.
    pinned = store2.verify(trusted_keys=[rotated.verifier()])
    assert [p.kind for p in pinned.problems] == ["head_untrusted_key"]


def test_writes_through_our_connection_are_refused_as_append_only(backend: Backend) -> None:
    from sqlalchemy import text

    store = backend.open()
    store.append(make_prepared(1))
    for statement in ("UPDATE records SET status = 'fail'", "DELETE FROM tree_heads", "DELETE FROM meta"):
        with pytest.raises(AppendOnlyViolation, match="append-only"), store.transaction() as conn:
            conn.execute(text(statement))
    assert store.verify().ok


def test_verify_progress_and_orphan_blobs(backend: Backend) -> None:
    store = backend.open()
    store.append_batch(make_batch(0, 5))
    # What an append killed between writing blobs and committing leaves behind.
    store.blobs.put_many({make_prepared(99).draft.payload_sha256: make_prepared(99).payload})
    calls: list[tuple[int, int]] = []
    report = store.verify(progress=lambda done, total: calls.append((done, total)))
    assert report.ok
    assert report.orphan_blobs == 1
    (notice,) = report.notices
    assert notice.kind == "orphan_blob" and notice.blob == make_prepared(99).draft.payload_sha256
    assert calls[-1] == (5, 5)
    assert store.verify(check_blobs=False).blobs == 0


def test_open_existing_store_is_idempotent(backend: Backend) -> None:
    store = backend.open()
    store.append(make_prepared(1))
    assert store.schema_version() == 2
    again = backend.open()
    assert again.count() == 1 and again.schema_version() == 2
    assert again.verify().ok
    reader = backend.open(create=False, signer=None)
    assert reader.count() == 1 and reader.verify().ok

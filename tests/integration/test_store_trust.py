"""Trust anchors inside and around the store, on SQLite + folder and PostgreSQL + S3 (moto): deleted heads
and index rows, clock rules, temporary files, and a key holder's rewrite caught by a witness (a real
``evidence witness serve`` process) and by RFC 3161 tokens (a local ``openssl ts`` TSA).

Attacks go through the database driver, as the audit's did (``Backend.sql``), with the append-only
triggers put back afterwards where the backend allows, so only the attack itself is left to find.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest

import evidence.store.store as store_module
from evidence.canonical import utcnow
from evidence.publish import Publisher, Witness
from evidence.store import EvidenceStore, VerifyReport
from evidence.store.store import ClockError
from evidence.timestamping import TsaClient, load_roots
from tests.support.records import make_batch, make_prepared
from tests.support.store_backends import Backend
from tests.support.tsa import local_tsa
from tests.support.witness import witness_process

pytestmark = pytest.mark.integration


def kinds(report: VerifyReport) -> set[str]:
    return {p.kind for p in report.problems}


def only(report: VerifyReport, kind: str) -> list:
    found = [p for p in report.problems if p.kind == kind]
    assert found, f"no {kind} problem in {[p.message for p in report.problems]}"
    return found


def filled(backend: Backend, batches: int = 3, per: int = 2, **kwargs: object) -> EvidenceStore:
    store = backend.open(**kwargs)
    for i in range(batches):
        store.append_batch(make_batch(i * per, per))
    return store


def rewind(backend: Backend, size: int) -> None:
    backend.sql(f"DELETE FROM records WHERE seq >= {size}", bypass_triggers=True)
    backend.sql(f"DELETE FROM blob_refs WHERE seq >= {size}", bypass_triggers=True)
    backend.sql(f"DELETE FROM tree_heads WHERE size > {size}", bypass_triggers=True)


def test_deleted_intermediate_and_first_heads(backend: Backend) -> None:
    store = filled(backend, batches=4)
    assert store.verify().ok
    backend.sql("DELETE FROM tree_heads WHERE size IN (4, 6)", bypass_triggers=True)
    (broken,) = only(store.verify(), "head_chain_broken")
    assert "size 8" in broken.message and "size 2" in broken.message and "deleted" in broken.message
    backend.sql("DELETE FROM tree_heads WHERE size = 2", bypass_triggers=True)
    (first,) = only(store.verify(), "head_chain_broken")
    assert "size 8" in first.message and "heads before it were deleted" in first.message


def test_deleted_blob_refs_rows(backend: Backend) -> None:
    store = filled(backend)
    victim = next(r for r in store.iter_records() if r.seq == 3)
    backend.sql("DELETE FROM blob_refs WHERE seq = 3", bypass_triggers=True)
    report = store.verify()
    (problem,) = only(report, "blob_ref_missing")
    assert (problem.record_id, problem.seq) == (victim.id, 3) and victim.payload_sha256 in problem.message


def test_future_observed_at_is_refused_at_append(backend: Backend) -> None:
    store = filled(backend, batches=1)
    future = make_prepared(10, observed_at=utcnow() + timedelta(days=365))
    with pytest.raises(ClockError, match=future.draft.id):
        store.append_batch([make_prepared(11), future])
    assert store.count() == 2  # nothing of the batch was written


def test_future_observed_at_written_by_an_older_appender_fails_verify(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = filled(backend, batches=1)
    future = make_prepared(10, observed_at=utcnow() + timedelta(days=365))
    monkeypatch.setattr(store_module, "CLOCK_SKEW", timedelta(days=1000))  # an appender without the rule
    store.append(future)
    monkeypatch.undo()
    (problem,) = only(store.verify(), "observed_in_future")
    assert problem.record_id == future.draft.id and "from the future" in problem.message


def test_clock_going_back(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    store = filled(backend, batches=1)
    real = store_module.utcnow
    monkeypatch.setattr(store_module, "utcnow", lambda: real() - timedelta(hours=1))
    with pytest.raises(ClockError, match="behind the latest tree head"):
        store.append(make_prepared(5))
    # A clock a little behind (another worker's) is clamped to the latest head: times never go back.
    monkeypatch.setattr(store_module, "utcnow", lambda: real() - timedelta(seconds=2))
    head_before = store.tree_head()
    store.append(make_prepared(6))
    head_after = store.tree_head()
    assert head_before is not None and head_after is not None
    assert head_after.head.timestamp >= head_before.head.timestamp
    assert store.verify().ok
    # Written by an appender without the rule: verify names the head that went back in time.
    monkeypatch.setattr(EvidenceStore, "_recorded_at", lambda self, latest: real() - timedelta(hours=1))
    store.append(make_prepared(7))
    monkeypatch.undo()
    report = store.verify()
    backwards = only(report, "head_time_backwards")
    assert any("size 4" in p.message and "clock went back" in p.message for p in backwards)
    assert "recorded_at_backwards" in kinds(report)


def test_temp_files_of_a_killed_append_are_reported_then_removed(tmp_path: Path, test_schema: Path) -> None:
    from tests.support.store_backends import sqlite_backend

    backend = sqlite_backend(tmp_path)
    store = filled(backend, batches=1)
    staging = Path(store.blobs.root) / ".staging"  # type: ignore[attr-defined]
    staging.mkdir(exist_ok=True)
    left = staging / f"{'ab' * 32}.12345.deadbeef.tmp"
    left.write_bytes(b"half a blob")
    old = time.time() - 3600
    os.utime(left, (old, old))
    report = store.verify()
    assert report.ok
    (notice,) = [n for n in report.notices if n.kind == "orphan_temp_file"]
    assert str(left) in notice.message
    store.append(make_prepared(9))
    assert not left.exists()
    assert not [n for n in store.verify().notices if n.kind == "orphan_temp_file"]
    backend.close()


# -- witnesses ------------------------------------------------------------------------------------


def test_a_key_holders_rewrite_is_caught_by_the_witness(backend: Backend, tmp_path: Path) -> None:
    store = filled(backend, batches=1)
    log_key = store.log_key()
    with witness_process(tmp_path / "witness", [log_key]) as witness:
        publisher = Publisher([Witness(witness.url, witness.key)], background=False)
        store = backend.open(publisher=publisher)
        store.append_batch(make_batch(2, 2))  # size 4: the witness cosigns (consistency 0 -> 4)
        store.append_batch(make_batch(4, 2))  # size 6: consistency 4 -> 6
        assert store.cosigned_size(witness.key) == 6
        note = store.checkpoint_note()
        assert len(note.signatures) == 2  # the log's and the witness's
        assert store.verify(witness_keys=[witness.key]).ok

        # The key holder rewinds to size 4 and appends other records, re-signed with the real key.
        rewind(backend, 4)
        report = store.append_batch(make_batch(100, 2, seed="forged"))
        assert store.count() == 6  # the append itself is not blocked by the witness...
        refused = store.publish()
        assert refused.failures and "409" in refused.failures[0]  # ...but the witness refuses the fork
        assert report  # (results of the forged append)
        caught = store.verify(witness_keys=[witness.key])
        (invalid,) = only(caught, "cosignature_invalid")
        assert "size 6" in invalid.message and witness.key.name in invalid.message
        assert "witness_quorum" in kinds(caught)
        # Removing the witness's cosignature as well leaves a head no witness vouches for.
        backend.sql("DELETE FROM cosignatures WHERE size = 6", bypass_triggers=True)
        (quorum,) = only(store.verify(witness_keys=[witness.key]), "witness_quorum")
        assert "size 6" in quorum.message and "latest witnessed head is size 4" in quorum.message


def test_a_witness_that_is_down_does_not_block_appends(backend: Backend, tmp_path: Path) -> None:
    store = filled(backend, batches=1)
    with witness_process(tmp_path / "witness", [store.log_key()]) as witness:
        config = Witness(witness.url, witness.key)
        store = backend.open(publisher=Publisher([config], timeout=2, background=False))
        store.append_batch(make_batch(2, 2))
    store.append_batch(make_batch(4, 2))  # witness stopped: the append still commits
    assert store.count() == 6
    missing = store.verify(witness_keys=[witness.key])
    assert "witness_quorum" in kinds(missing)
    assert [n.kind for n in store.verify().notices] == ["unwitnessed_heads"]
    with witness_process(tmp_path / "witness", [store.log_key()]) as again:
        assert again.key != witness.key  # a new witness process has a new key in this fixture
        store = backend.open(publisher=Publisher([Witness(again.url, again.key)], background=False))
        report = store.publish()  # `evidence checkpoint` catches up
        assert not report.failures, report.failures
        assert store.verify(witness_keys=[again.key]).ok


# -- trusted timestamps ---------------------------------------------------------------------------


def test_a_key_holders_backdated_rewrite_is_caught_by_timestamp_tokens(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with local_tsa(tmp_path / "tsa") as tsa:
        roots = load_roots(tsa.ca)
        publisher = Publisher(tsa=TsaClient(tsa.url, roots), background=False)
        store = filled(backend, batches=3, publisher=publisher)
        lag = timedelta(seconds=2)
        assert store.verify(tsa_roots=roots, timestamp_lag=lag).ok
        honest = store.tree_head()
        assert honest is not None and tsa.requests == 3

        # Keeping the old tokens: they cover checkpoints the store no longer has.
        rewind(backend, 4)
        plain = backend.open()
        plain.append_batch(make_batch(100, 2, seed="forged"))
        (invalid,) = only(plain.verify(tsa_roots=roots, timestamp_lag=lag), "timestamp_invalid")
        assert "size 6" in invalid.message and "imprint" in invalid.message

        # Getting new tokens for a backdated head: the TSA says when it really saw it.
        backend.sql("DELETE FROM timestamps WHERE size = 6", bypass_triggers=True)
        rewind(backend, 4)
        time.sleep(3)
        claimed = store_module.parse_utc(honest.head.timestamp)
        monkeypatch.setattr(store_module, "utcnow", lambda: claimed)
        store.append_batch(make_batch(200, 2, seed="backdated"))
        monkeypatch.undo()
        head = store.tree_head()
        assert head is not None and head.head.timestamp == honest.head.timestamp
        (disagrees,) = only(store.verify(tsa_roots=roots, timestamp_lag=lag), "timestamp_disagrees")
        assert "size 6" in disagrees.message and honest.head.timestamp in disagrees.message


# -- publication to WORM storage ---------------------------------------------------------------------


def test_every_checkpoint_is_published_immutably_and_checked(
    backend: Backend, tmp_path: Path, moto: object
) -> None:
    import boto3

    from evidence.errors import ConfigError
    from evidence.publish import CheckpointBucket
    from evidence.trust import TrustOptions, verify_anchored
    from tests.support.store_backends import make_locked_bucket

    s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
    plain_bucket = f"plain-{os.getpid()}-{time.monotonic_ns()}"
    s3.create_bucket(Bucket=plain_bucket)
    with pytest.raises(ConfigError, match="COMPLIANCE"):
        CheckpointBucket(s3, plain_bucket)
    publication = CheckpointBucket(s3, make_locked_bucket(s3), "checkpoints/")
    store = filled(backend, batches=3, publisher=Publisher(bucket=publication, background=False))
    published = publication.checkpoints(store.origin)
    assert [where.rsplit("/", 1)[1] for where, _ in published] == [f"{n:020d}" for n in (2, 4, 6)]
    key = published[0][0].split("/", 3)[3]
    assert s3.head_object(Bucket=publication.bucket, Key=key)["ObjectLockMode"] == "COMPLIANCE"
    options = TrustOptions(published=publication)
    assert verify_anchored(store, options).ok

    rewind(backend, 4)  # truncation
    (truncated,) = only(verify_anchored(store, options), "truncated")
    assert "published checkpoint" in truncated.message and "covers 6 records" in truncated.message
    report = backend.open(publisher=Publisher(bucket=publication, background=False)).append_batch(
        make_batch(300, 2, seed="forged")
    )
    assert report  # the forged append commits, but its checkpoint cannot replace the published one
    refused = store.publish()
    assert any("already holds a different checkpoint" in f for f in refused.failures)
    (fork,) = only(verify_anchored(store, options), "forked")
    assert "FORK" in fork.message and "published checkpoint" in fork.message


def test_background_publication_catches_every_checkpoint_by_close(
    backend: Backend, tmp_path: Path, moto: object
) -> None:
    """The default: appends return after their commit; one thread publishes, coalescing witness and TSA
    requests to the newest checkpoint, every checkpoint to the bucket; close() waits for it."""
    import boto3

    from evidence.publish import CheckpointBucket
    from tests.support.store_backends import make_locked_bucket

    s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")  # type: ignore[attr-defined]
    publication = CheckpointBucket(s3, make_locked_bucket(s3), "checkpoints/")
    store = filled(backend, batches=1)
    with (
        witness_process(tmp_path / "witness", [store.log_key()]) as witness,
        local_tsa(tmp_path / "tsa") as tsa,
    ):
        roots = load_roots(tsa.ca)
        publisher = Publisher(
            [Witness(witness.url, witness.key)], TsaClient(tsa.url, roots), bucket=publication
        )
        store = backend.open(publisher=publisher)
        for i in range(1, 6):
            store.append_batch(make_batch(i * 2, 2))
        store.close()  # waits for the publication thread
        assert not [r for r in publisher.reports if r.failures]
        reopened = backend.open()
        report = reopened.verify(witness_keys=[witness.key], tsa_roots=roots)
        assert report.ok, report.problems
        sizes = [int(where.rsplit("/", 1)[1]) for where, _ in publication.checkpoints(reopened.origin)]
        assert sizes == [4, 6, 8, 10, 12]

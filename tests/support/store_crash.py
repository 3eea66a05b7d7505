"""Multi-process scenarios for the evidence store, run against SQLite and PostgreSQL alike.

- ``run_kill_and_rerun``: a child appends big batches in a loop; it is SIGKILLed at random points
  (several rounds), each time the store must hold whole batches only and verify; then the job is run
  again to completion: every record exactly once, in order, and the store verifies.
- ``run_concurrent_appenders``: two children append at the same time; seq stays gapless, nothing is
  lost or duplicated.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from tests.support.records import deterministic_ulid
from tests.support.store_backends import Backend, kill_hard, start_worker, worker_command

KILL_BATCH = 250
KILL_COUNT = 6000
KILL_ROUNDS = 3


def _key_file(backend: Backend) -> Path:
    path = backend.tmp / "child-signing-key.pem"
    if not path.exists():
        path.write_bytes(backend.signer.private_pem())
        path.chmod(0o600)
    return path


def run_kill_and_rerun(backend: Backend, schema_dir: Path, *, seed: str = "crash") -> None:
    store = backend.open()
    command = worker_command(
        url=backend.url,
        blob_url=backend.blob_url,
        key_file=_key_file(backend),
        schema_dir=schema_dir,
        seed=seed,
        count=KILL_COUNT,
        batch=KILL_BATCH,
    )
    rng = random.Random()
    committed = 0
    for _round in range(KILL_ROUNDS):
        proc = start_worker(command)
        # Let it commit at least one more batch, then kill at a random moment of a later one.
        target = committed + rng.randrange(1, 4) * KILL_BATCH
        started = time.monotonic()
        seen, changed_at, intervals = committed, started, []
        while (now_count := store.count()) < target:
            if now_count != seen:
                now = time.monotonic()
                intervals.append(now - changed_at)
                seen, changed_at = now_count, now
            if proc.poll() is not None:
                _, err = proc.communicate()
                raise AssertionError(
                    f"appender exited with {proc.returncode} before the kill:\n{err.decode()}"
                )
            if time.monotonic() - started > 120:
                kill_hard(proc)
                raise AssertionError("appender made no progress in 120 s")
            time.sleep(0.005)
        # Kill at a random point of the next batch: the batch time is the shortest interval seen
        # between two commits (the first one includes the child's start-up).
        per_batch = min(intervals[1:] or [0.05])
        time.sleep(rng.uniform(0, per_batch))
        kill_hard(proc)
        committed = store.count()
        assert committed % KILL_BATCH == 0, f"a partial batch is visible: {committed} records"
        assert committed < KILL_COUNT, "the appender finished before it was killed; make the job longer"
        report = store.verify()
        assert report.ok, [p.message for p in report.problems]

    proc = start_worker(command)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()
    created = sum(int(line.split()[0]) for line in out.decode().split("\n") if line.strip())
    assert created == KILL_COUNT - committed
    assert store.count() == KILL_COUNT
    ids = [record.id for record in store.iter_records()]
    assert ids == [deterministic_ulid(seed, i) for i in range(KILL_COUNT)]
    report = store.verify()
    assert report.ok, [p.message for p in report.problems]
    # Blobs a killed batch left behind were adopted by the re-run: the same content, the same names.
    assert report.orphan_blobs == 0


def run_concurrent_appenders(
    backend: Backend, schema_dir: Path, *, count: int = 1500, batch: int = 100
) -> None:
    store = backend.open()
    seeds = ("left", "right")
    procs = [
        start_worker(
            worker_command(
                url=backend.url,
                blob_url=backend.blob_url,
                key_file=_key_file(backend),
                schema_dir=schema_dir,
                seed=seed,
                count=count,
                batch=batch,
            )
        )
        for seed in seeds
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()
    assert store.count() == 2 * count
    records = list(store.iter_records())
    assert [r.seq for r in records] == list(range(2 * count))
    for seed in seeds:
        mine = [r.id for r in records if r.provenance.run_id == f"{seed}-run"]
        assert mine == [deterministic_ulid(seed, i) for i in range(count)]
    assert len({r.idempotency_key for r in records}) == 2 * count
    report = store.verify()
    assert report.ok, [p.message for p in report.problems]
    assert report.tree_heads == 2 * count // batch

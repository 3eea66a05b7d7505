"""Append throughput with a witness and a TSA in the path, next to without. Prints figures; not a test.

    .venv/bin/python bench/bench_trust.py            # 20k records of 2 KB, batches of 500, both backends
    .venv/bin/python bench/bench_trust.py --quick    # 2k records

Each configuration appends into a fresh store (blob folder, sync=batch): ``plain`` (no publisher) and
``witness+TSA`` (after each batch's commit the checkpoint goes, in parallel, to an ``evidence witness
serve`` process on loopback, which verifies the consistency proof and cosigns, and to a local RFC 3161
TSA, ``openssl ts -reply`` behind HTTP; both answers are checked and stored), with the store's default
background publication (``--sync``: in the append call) and the wait for the last checkpoint timed.
The runs alternate (plain, trusted, plain, trusted, ...) so that load from other processes falls on
both alike; the figure is the median per configuration. Target: batched append with witness+TSA at
most 1.3x slower.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from evidence.publish import Publisher, Witness  # noqa: E402
from evidence.signing import Signer  # noqa: E402
from evidence.store import open_store  # noqa: E402
from evidence.timestamping import TsaClient, load_roots  # noqa: E402
from tests.support.records import install_test_schema, make_prepared  # noqa: E402
from tests.support.tsa import local_tsa  # noqa: E402
from tests.support.witness import witness_process  # noqa: E402


def batches(count: int, batch: int, payload: int, seed: str) -> list[list]:
    return [
        [make_prepared(i, seed=seed, payload_size=payload) for i in range(start, min(start + batch, count))]
        for start in range(0, count, batch)
    ]


def run_once(url: str, blob_url: str, signer: Signer, work: list[list], publisher: Publisher | None) -> float:
    with open_store(url, blob_url=blob_url, signer=signer, environ={}, publisher=publisher) as store:
        started = time.perf_counter()
        for items in work:
            store.append_batch(items)
        if publisher is not None:
            publisher.flush()  # the last checkpoints' witness, TSA round trips count too
        elapsed = time.perf_counter() - started
        if publisher is not None:
            assert store.verify(witness_keys=[w.key for w in publisher.witnesses], check_blobs=False).ok
    return sum(len(b) for b in work) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--payload", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--sync", action="store_true", help="publish inside each append call")
    args = parser.parse_args()
    if args.quick:
        args.records, args.rounds = 2_000, 2
    work_dir = Path(tempfile.mkdtemp(prefix="evidence-bench-trust-"))
    install_test_schema(work_dir / "schemas")
    print(
        f"trust benchmark: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
        f"{args.records:,} records of {args.payload:,} B in batches of {args.batch}, "
        f"{args.rounds} rounds per configuration"
    )
    backends = [b for b in ("sqlite", "postgres") if args.only in (None, b)]
    with ExitStack() as stack:
        tsa = stack.enter_context(local_tsa(work_dir / "tsa"))
        roots = load_roots(tsa.ca)
        for backend in backends:
            rates: dict[str, list[float]] = {"plain": [], "witness+TSA": []}
            for round_no in range(args.rounds):
                for name in ("plain", "witness+TSA"):
                    folder = work_dir / f"{backend}-{name}-{round_no}".replace("+", "")
                    folder.mkdir()
                    signer = Signer.generate()
                    if backend == "sqlite":
                        url = f"sqlite:///{folder / 'evidence.db'}"
                    else:
                        from tests.support.servers import pg_database

                        url = stack.enter_context(pg_database("evbenchtrust"))
                    blob_url = f"file://{folder / 'blobs'}"
                    publisher = None
                    if name != "plain":
                        # The log key is bound when the store is created: create it, then start the witness.
                        with open_store(url, blob_url=blob_url, signer=signer, environ={}) as fresh:
                            log_key = signer.note_key(fresh.origin)
                        witness = stack.enter_context(witness_process(folder / "witness", [log_key]))
                        publisher = Publisher(
                            [Witness(witness.url, witness.key)],
                            TsaClient(tsa.url, roots),
                            background=not args.sync,
                        )
                    work = batches(args.records, args.batch, args.payload, seed=f"{name}{round_no}")
                    rate = run_once(url, blob_url, signer, work, publisher)
                    rates[name].append(rate)
                    print(f"  {backend:8} {name:12} round {round_no + 1}: {rate:,.0f} records/s", flush=True)
            plain, trusted = statistics.median(rates["plain"]), statistics.median(rates["witness+TSA"])
            print(
                f"== {backend}: plain {plain:,.0f} records/s, witness+TSA {trusted:,.0f} records/s "
                f"-> {plain / trusted:.2f}x slower (target <= 1.3x)"
            )
        print(f"TSA requests served: {tsa.requests}")


if __name__ == "__main__":
    main()

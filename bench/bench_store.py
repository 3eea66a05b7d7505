"""Evidence store throughput, verify cost and memory. Prints figures; not a test.

    .venv/bin/python bench/bench_store.py            # 100k records on SQLite and PostgreSQL, 1M on SQLite
    .venv/bin/python bench/bench_store.py --quick    # 2k records, for CI

What it measures, per backend (SQLite + blob folder; PostgreSQL + blob folder), with ~2 KB
``test.sample`` payloads (3 rows, schema-checked on append like any evidence):

- append throughput in batches (``--batch``, default 500) while building the store, and single
  appends (``--single`` more records, one transaction and one signed head each) on top of it;
- full ``verify`` time, in a fresh child process, beside the time to SHA-256 the same bytes read the
  same way (each row's ``record_json`` through the same cursor, each payload blob through the same
  blob-store read): the floor any verifier pays; the ratio is what checking costs on top;
- the verify child's peak RSS (``resource.getrusage``), at 100k and at 1M records: flat memory.

PostgreSQL blobs go to a folder too: moto's S3 (a Python server) would measure moto. The machine's
PostgreSQL must be running (tests/support/servers.py: 127.0.0.1:5432, trust auth).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from evidence.signing import Signer  # noqa: E402
from evidence.store import EvidenceStore, open_store  # noqa: E402
from tests.support.records import install_test_schema, make_prepared  # noqa: E402


def prepared_batches(start: int, count: int, batch: int, payload: int) -> Iterator[list[Any]]:
    """Records built lazily, one batch at a time (a 1M-record run never holds them all)."""
    for first in range(start, start + count, batch):
        yield [
            make_prepared(
                i,
                seed="bench",
                payload_size=payload,
                target={"account": f"{100000000000 + i % 50}", "region": "eu-west-1"},
            )
            for i in range(first, min(first + batch, start + count))
        ]


def build(
    store: EvidenceStore, count: int, *, batch: int, payload: int, label: str, prechecked: bool = False
) -> float:
    """Append ``count`` records in batches; return records/s (time spent building records excluded).

    ``prechecked``: check each batch's payloads against the schema first, untimed, as the pipeline
    does in a collection task; ``evidence.validation`` remembers passes, so the store's own check is
    then a digest lookup.
    """
    from evidence.validation import check_payload

    spent = 0.0
    done = 0
    report_every = max(count // 10, batch)
    for items in prepared_batches(store.count(), count, batch, payload):
        if prechecked:
            for item in items:
                check_payload(item.draft.evidence_type, json.loads(item.payload))
        started = time.perf_counter()
        store.append_batch(items)
        spent += time.perf_counter() - started
        done += len(items)
        if count >= 100_000 and done % report_every < batch:
            print(f"  ... {label}: {done:,} records, {done / spent:,.0f} records/s so far", flush=True)
    return count / spent


def schema_check_cost(payload: int, sample: int = 2000) -> float:
    """Microseconds per record that the JSON Schema check alone takes, on the same payloads."""
    from evidence.validation import check_payload

    items = [item for items in prepared_batches(0, sample, sample, payload) for item in items]
    documents = [json.loads(item.payload) for item in items]
    started = time.perf_counter()
    for item, document in zip(items, documents, strict=True):
        check_payload(item.draft.evidence_type, document)
    return (time.perf_counter() - started) / sample * 1e6


def single(store: EvidenceStore, count: int, *, payload: int) -> float:
    items = [item for items in prepared_batches(store.count(), count, count, payload) for item in items]
    started = time.perf_counter()
    for item in items:
        store.append(item)
    return count / (time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------
# Children: verify and the hashing floor, each in a fresh process (clean peak RSS, same cache state)


def child_verify(url: str, blob_url: str) -> dict[str, Any]:
    with open_store(url, blob_url=blob_url, create=False, environ={}) as store:
        started = time.perf_counter()
        report = store.verify()
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "ok": report.ok,
        "records": report.records,
        "blobs": report.blobs,
        "heads": report.tree_heads,
        "problems": [p.message for p in report.problems[:3]],
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child_hash(url: str, blob_url: str) -> dict[str, Any]:
    """SHA-256 of every record_json and every payload blob, read exactly as verify reads them."""
    from evidence.store.verify import RECORD_SQL, stream_rows

    with open_store(url, blob_url=blob_url, create=False, environ={}) as store:
        started = time.perf_counter()
        total_bytes = 0
        with store._read() as conn:
            for rows in stream_rows(conn, RECORD_SQL, name="bench_hash"):
                for row in rows:
                    data = row[11].encode("utf-8")
                    hashlib.sha256(b"\x00" + data).digest()
                    total_bytes += len(data)
                checks = store.blobs.check_many([row[9] for row in rows])  # read + sha256 each blob
                assert all(c.ok for c in checks)
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "record_bytes": total_bytes,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_child(kind: str, url: str, blob_url: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--url", url, "--blob-url", blob_url],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure_verify(url: str, blob_url: str, records: int, blob_bytes: int) -> None:
    run_child("hash", url, blob_url)  # warm the page cache, so both timed runs read from memory
    floor = run_child("hash", url, blob_url)
    verify = run_child("verify", url, blob_url)
    if not verify["ok"]:
        print(f"  VERIFY FAILED: {verify['problems']}")
    read_mb = (floor["record_bytes"] + blob_bytes) / 1e6
    print(
        f"  verify {records:,} records:  {verify['seconds']:.1f} s "
        f"({records / verify['seconds']:,.0f} records/s), {verify['heads']:,} signed heads, "
        f"peak RSS {verify['maxrss_mb']:.0f} MB"
    )
    print(
        f"  sha256 of the same bytes ({read_mb:,.0f} MB: record_json + payload blobs, same cursor, same blob "
        f"reads): {floor['seconds']:.1f} s -> verify/hash = {verify['seconds'] / floor['seconds']:.2f}x"
    )


def folder_bytes(blob_url: str) -> int:
    root = Path(blob_url.removeprefix("file://").split("?", 1)[0])
    return sum(entry.stat().st_size for sub in root.iterdir() if sub.is_dir() for entry in os.scandir(sub))


# ---------------------------------------------------------------------------------------------


def bench_backend(
    name: str,
    url: str,
    blob_url: str,
    *,
    records: int,
    big: int,
    single_count: int,
    batch: int,
    payload: int,
    prechecked: bool = False,
) -> None:
    print(f"\n== {name}: {records:,} records, {payload:,}-byte payloads, batches of {batch} ==", flush=True)
    signer = Signer.generate()
    with open_store(url, blob_url=blob_url, signer=signer, environ={}) as store:
        rate = build(store, records, batch=batch, payload=payload, label=name, prechecked=prechecked)
        how = " (payloads already schema-checked in this process)" if prechecked else ""
        print(
            f"  append, batches of {batch}{how}: {rate:,.0f} records/s = {1e6 / rate:,.0f} us/record",
            flush=True,
        )
    if not prechecked:
        print(
            "    of which the JSON Schema check alone (jsonschema-rs, 3-row payload): "
            f"{schema_check_cost(payload):,.0f} us/record",
            flush=True,
        )
    measure_verify(url, blob_url, records, folder_bytes(blob_url))
    with open_store(url, blob_url=blob_url, signer=signer, environ={}) as store:
        rate = single(store, single_count, payload=payload)
        print(
            f"  append, single (one transaction + signed head each, {single_count:,} more records on top): "
            f"{rate:,.0f} records/s",
            flush=True,
        )
        if big:
            print(f"  growing to {big:,} records (same append code, batches of {batch}) ...", flush=True)
            rate = build(store, big - store.count(), batch=batch, payload=payload, label=name)
            print(f"  append, batches of {batch}, {records:,} -> {big:,}: {rate:,.0f} records/s", flush=True)
    if big:
        measure_verify(url, blob_url, big, folder_bytes(blob_url))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2k records, no 1M run (CI)")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument(
        "--big", type=int, default=1_000_000, help="grow the SQLite store to this size (0: skip)"
    )
    parser.add_argument("--single", type=int, default=2_000, help="single appends measured on top")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--payload", type=int, default=2048)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the stores afterwards")
    parser.add_argument("--only", choices=["sqlite", "postgres"], help="run one backend")
    parser.add_argument(
        "--prechecked",
        action="store_true",
        help="schema-check payloads before appending them (untimed), as a collection task does",
    )
    parser.add_argument("--child", choices=["verify", "hash"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--blob-url", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        result = (
            child_verify(args.url, args.blob_url)
            if args.child == "verify"
            else child_hash(args.url, args.blob_url)
        )
        print(json.dumps(result))
        return
    if args.quick:
        args.records, args.big, args.single = 2_000, 0, 200

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="evidence-bench-"))
    install_test_schema(workdir / "schemas")
    print(
        f"evidence store benchmark: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
        f"work folder {workdir}"
    )
    print(
        "(an existing folder with recently deleted files slows ext4 file creation markedly: "
        "use a fresh --workdir between runs)"
    )
    with ExitStack() as stack:
        sqlite_dir = workdir / "sqlite"
        if args.only != "postgres":
            bench_backend(
                "SQLite + blob folder (sync=batch)",
                f"sqlite:///{sqlite_dir / 'evidence.db'}",
                f"file://{sqlite_dir / 'blobs'}",
                records=args.records,
                big=args.big,
                single_count=args.single,
                batch=args.batch,
                payload=args.payload,
                prechecked=args.prechecked,
            )
        if args.only != "sqlite":
            from tests.support.servers import pg_database

            pg_url = stack.enter_context(pg_database("evbench"))
            bench_backend(
                "PostgreSQL + blob folder (sync=batch)",
                pg_url,
                f"file://{workdir / 'pg-blobs'}",
                records=args.records,
                big=0,
                single_count=args.single,
                batch=args.batch,
                payload=args.payload,
                prechecked=args.prechecked,
            )
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""A child process that appends deterministic ``test.sample`` batches to an evidence store.

Used by the SIGKILL and concurrency tests: ``python -m tests.support.store_worker --url ... --seed s
--count N --batch B``. Records are deterministic in (seed, index), so running it again appends exactly
what is missing (idempotency keys) and nothing twice. Prints one line per batch: ``<created> <seq>``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evidence.signing import Signer
from evidence.store import open_store
from tests.support.records import install_test_schema, make_prepared


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--blob-url", required=True)
    parser.add_argument("--key-file", required=True)
    parser.add_argument("--schema-dir", required=True)
    parser.add_argument("--seed", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--payload-size", type=int, default=512)
    args = parser.parse_args(argv)

    install_test_schema(Path(args.schema_dir))
    signer = Signer.from_file(args.key_file)
    with open_store(args.url, blob_url=args.blob_url, signer=signer, environ={}) as store:
        for start in range(0, args.count, args.batch):
            items = [
                make_prepared(i, seed=args.seed, payload_size=args.payload_size)
                for i in range(start, min(start + args.batch, args.count))
            ]
            results = store.append_batch(items)
            created = sum(r.created for r in results)
            print(created, results[-1].record.seq, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

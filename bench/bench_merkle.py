"""Throughput of the streaming Merkle root (evidence.merkle.root_from_leaf_hashes) and CompactRange.

Run: .venv/bin/python bench/bench_merkle.py [leaves]   (default 1,000,000; CI can pass a small number)
"""

from __future__ import annotations

import os
import sys
import time

from evidence.merkle import CompactRange, root_from_leaf_hashes


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    leaves = [os.urandom(32) for _ in range(count)]

    start = time.perf_counter()
    size, root = root_from_leaf_hashes(iter(leaves))
    elapsed = time.perf_counter() - start
    print(f"root_from_leaf_hashes: {size:,} leaves in {elapsed:.3f} s = {size / elapsed:,.0f} leaves/s")

    compact = CompactRange()
    start = time.perf_counter()
    for leaf in leaves:
        compact.append(leaf)
    elapsed = time.perf_counter() - start
    print(f"CompactRange.append:   {size:,} leaves in {elapsed:.3f} s = {size / elapsed:,.0f} leaves/s")
    assert compact.root() == root, "CompactRange and streaming root disagree"


if __name__ == "__main__":
    main()

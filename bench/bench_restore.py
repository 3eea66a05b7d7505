"""Restore drill cost: the drill (locate, verify, restore, start, manifest checks, cleanup) beside
the bare restore of the same backup (restore, start, serving), same run. Prints figures; not a test.

    .venv/bin/python bench/bench_restore.py                 # 200k account rows (~60 MB database)
    .venv/bin/python bench/bench_restore.py --rows 20000    # quick
    .venv/bin/python bench/bench_restore.py --size-mb 1024  # + a 1 GB documents table (~5 min to build)

Sources: pg_basebackup, pgBackRest, restic (a dump). "bare" is what an operator would run by hand:
the tool's restore into a fresh cluster, start, wait until writable (and pg_restore for a dump);
the drill adds the backup verifier, the per-table manifest comparison and the teardown.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from collectors import pgscratch as scratch
from collectors.drill.family import run_restore_drill
from collectors.drill.restore import serve, start_empty
from collectors.drill.sources import backup_source
from evidence.records import RunContext
from tests.support.pgscratch import estate


def bare(settings: dict[str, object], source: str) -> float:
    os.sync()  # start from clean page cache writeback, as before each drill
    src = backup_source(source, {**settings, "source": source})
    located = src.locate("latest")
    cluster = scratch.new_cluster(f"bench-{source}")
    began = time.monotonic()
    try:
        src.restore(located, cluster)
        if src.physical:
            cluster.configure()
            serve(cluster)
        else:
            start_empty(cluster)  # one step after the other, as by hand (the drill overlaps the two)
            src.load(located, cluster)
        return time.monotonic() - began
    finally:
        cluster.destroy()


def drill(settings: dict[str, object]) -> tuple[float, float, str, str]:
    """(RTO, wall time, status, steps) of one restore drill."""
    os.sync()  # the previous restore's 1 GB still being written back would slow this one's copy
    t0 = time.monotonic()
    record = run_restore_drill(settings, RunContext(run_id="bench"), run_gx=False)
    total = time.monotonic() - t0
    payload = json.loads(record.payload)
    rto = payload["rto_seconds"] or float("nan")
    steps = " ".join(f"{s['name']}={s['seconds']:.2f}" for s in payload["steps"])
    return rto, total, str(record.draft.status), steps


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="account rows (events: twice as many)")
    parser.add_argument(
        "--size-mb", type=int, default=0, help="add a documents table of about this size (1024: 1 GB)"
    )
    parser.add_argument("--sources", default="basebackup,pgbackrest,restic")
    parser.add_argument(
        "--rounds", type=int, default=1, help="bare/drill pairs per source, order alternating; medians"
    )
    parser.add_argument(
        "--scratch-root",
        help="folder for scratch clusters (EVIDENCE_SCRATCH_ROOT; the server user needs access)",
    )
    args = parser.parse_args()
    if args.scratch_root:
        os.environ["EVIDENCE_SCRATCH_ROOT"] = args.scratch_root
    began = time.monotonic()
    print(f"building the estate ({load()})", flush=True)
    with estate(rows=args.rows, megabytes=args.size_mb) as built:
        size = built.sql("SELECT pg_database_size('app')")[0][0]
        print(
            f"estate: {args.rows} accounts + {2 * args.rows} events"
            + (f" + {args.size_mb} MB of documents" if args.size_mb else "")
            + f", database app {size / 1e6:.1f} MB, built with 3 backups in {time.monotonic() - began:.1f} s",
            flush=True,
        )
        print(
            f"{'source':<11} {'bare s':>8} {'drill RTO s':>12} {'drill total s':>14} {'RTO/bare':>9}  "
            "status, steps (load average)",
            flush=True,
        )
        for source in args.sources.split(","):
            bares: list[float] = []
            rtos: list[float] = []
            for i in range(args.rounds):
                first_bare = i % 2 == 0
                if first_bare:
                    bares.append(bare(built.settings(), source))
                rto, total, status, steps = drill(built.settings(source=source))
                rtos.append(rto)
                if not first_bare:
                    bares.append(bare(built.settings(), source))
                print(
                    f"{source:<11} {bares[-1]:>8.2f} {rto:>12.2f} {total:>14.2f} {rto / bares[-1]:>8.2f}x  "
                    f"{status} {steps} ({load()})",
                    flush=True,
                )
            if args.rounds > 1:
                b, r = statistics.median(bares), statistics.median(rtos)
                print(f"{source:<11} {b:>8.2f} {r:>12.2f} {'':>14} {r / b:>8.2f}x  median of {args.rounds}")


if __name__ == "__main__":
    main()

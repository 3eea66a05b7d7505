"""Failover and replication drill figures: RTO, RPO, failback time and the drill's wall time, per
round, on a scratch primary and its streaming standby (loopback). Prints figures; not a test.

    .venv/bin/python bench/bench_failover.py                    # 3 rounds of each, 1,000 seed rows
    .venv/bin/python bench/bench_failover.py --rows 1000000     # a ~70 MB drill table (failback copies it)

Failover: RTO is the primary's crash (``pg_ctl stop -m immediate``) to the promoted standby taking a
write; RPO the committed data lost (0 when the marker was replayed); failback the old primary rebuilt
as a streaming standby of the promoted one. Replication: lag under 200 small transactions and the
catch-up time (its RPO). The wall time covers building the pair (initdb, seed, pg_basebackup) and the
cleanup, so most of it is not the drill's measurement but its set-up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

from collectors.drill.failover import PairRequest, judge, run_pair_drill


def load() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def steps(result: Any) -> str:
    return " ".join(f"{s.name}={s.seconds:.2f}" for s in result.steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1000, help="seed rows in the drill table")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kinds", default="failover,replication")
    args = parser.parse_args()
    print(f"seed rows {args.rows}, {args.rounds} rounds ({load()})", flush=True)
    for kind in args.kinds.split(","):
        figures: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            began = time.monotonic()
            result = run_pair_drill(PairRequest(kind=kind, rows=args.rows))
            wall = time.monotonic() - began
            status, reason = judge(result)
            row = {
                "RTO s": result.rto_seconds,
                "RPO s": result.rpo_seconds,
                "failback s": result.facts.get("failback_seconds"),
                "lag bytes": result.facts.get("lag_bytes_max", result.facts.get("lag_bytes_at_failure")),
                "wall s": wall,
            }
            for key, value in row.items():
                if value is not None:
                    figures.setdefault(key, []).append(float(value))
            shown = "  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())
            print(f"{kind:<12} {status}  {shown}  [{steps(result)}] ({load()})", flush=True)
            if status != "pass":
                print(f"{'':<12} {reason}", flush=True)
        medians = "  ".join(f"{k} {statistics.median(v):.3f}" for k, v in figures.items())
        print(f"{kind:<12} median of {args.rounds}:  {medians}", flush=True)


if __name__ == "__main__":
    main()

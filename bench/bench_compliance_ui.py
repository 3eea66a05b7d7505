"""How long the Compliance UI's queries take on a store of N records (the view functions the pages
call, without HTTP): the evidence browser's first and a deep page, with each filter, a control page,
and the posture overview with its trend.

    .venv/bin/python bench/bench_compliance_ui.py [--sizes 10000,100000] [--rounds 3]

The records are ``error`` records of a real evidence type (what a source that refused every call
would leave), spread over 50 accounts, two collectors and a year. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evidence.canonical import utcnow  # noqa: E402
from evidence.catalog import load_catalog  # noqa: E402
from evidence.records import SourceError, Status  # noqa: E402
from evidence.store import open_store  # noqa: E402
from plugins.compliance import views  # noqa: E402
from tests.support.compliance import seed  # noqa: E402
from tests.support.records import make_prepared  # noqa: E402


def fill(store: Any, count: int, control: str) -> None:
    now = utcnow()
    error = SourceError(code="AccessDenied", message="denied", permission="s3:GetEncryptionConfiguration")
    batch = []
    for i in range(count):
        prepared = make_prepared(
            i,
            seed="bench-ui",
            status=Status.ERROR,
            error=error,
            control_ids=(control,),
            target={"account": f"{100000000000 + i % 50}", "region": "eu-west-1"},
            observed_at=now - timedelta(days=365) + timedelta(seconds=i * 365 * 86400 / max(count, 1)),
        )
        collector = "bench.s3" if i % 2 else "bench.kms"
        batch.append(
            type(prepared)(prepared.draft.model_copy(update={"collector": collector}), prepared.payload)
        )
        if len(batch) == 1000:
            store.append_batch(batch)
            batch = []
    if batch:
        store.append_batch(batch)


def timed(fn: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def run(count: int, rounds: int) -> None:
    catalog = load_catalog()
    control = next(c for c in catalog.controls if "aws.s3.bucket_encryption" in c.method.evidence_types)
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as folder:
        store = open_store(f"sqlite:///{Path(folder) / 'evidence.db'}", environ={})
        started = time.perf_counter()
        fill(store, count, control.id)
        now = utcnow()
        seed(store, now)
        print(f"\n{count} records (filled in {time.perf_counter() - started:.1f} s)")
        f = views.EvidenceFilter
        cases: list[tuple[str, Callable[[], Any]]] = [
            ("evidence page 1", lambda: views.evidence_page(store, f())),
            ("evidence page 20", lambda: views.evidence_page(store, f(), page=20)),
            ("evidence status=error p1", lambda: views.evidence_page(store, f(status=Status.ERROR))),
            ("evidence control p1", lambda: views.evidence_page(store, f(control=control.id))),
            ("evidence source p1", lambda: views.evidence_page(store, f(source="bench.s3"))),
            ("evidence source p20", lambda: views.evidence_page(store, f(source="bench.s3"), page=20)),
            (
                "evidence last 30 days p1",
                lambda: views.evidence_page(store, f(since=now - timedelta(days=30))),
            ),
            ("control page", lambda: views.control_view(store, catalog, control.id, now)),
            (
                "posture + trend (all)",
                lambda: (
                    views.posture_view(
                        views.assess_controls(store, catalog, list(catalog.controls), now), "all"
                    ),
                    views.trend_chart(views.trend_points(views.iter_snapshots(store), catalog, "all")),
                ),
            ),
        ]
        for name, fn in cases:
            print(f"  {name:<28} {timed(fn, rounds):8.1f} ms (median of {rounds})")
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        run(size, args.rounds)


if __name__ == "__main__":
    main()

"""Cost of collecting, validating and storing S3 evidence on the moto server, next to the bare API calls.

For each size N (buckets) and each concurrency, in the same run against the same seeded moto server:

- bare: the same API calls our collector makes (sts get_caller_identity, list_buckets, s3control
  get_public_access_block, and the 9 per-bucket calls) from a plain threaded boto3 loop, with the same
  botocore configuration and the same number of threads, keeping nothing;
- ours: ``collectors.aws.runner.collect`` for the S3 service (fetch, pure mappings, JSON Schema, one GX
  run per evidence type, records with their call logs) and ``append_batch`` into a fresh SQLite store.

The split of ours: fetch (the API calls, as the records' period says), map+schema+GX (everything
``collect`` does after the fetch), store (``append_batch``). One-off process costs (importing GX and
building its context, the first collection's schema compilation and suite building) are measured
once, on 200 buckets, outside the timed runs and printed separately.

The emulator's speed wanders by +-20% between identical runs on this machine, so each cell runs
bare-ours-ours-bare (``--rounds`` times) and prints the means; every single run is printed too.

Run: .venv/bin/python bench/bench_aws.py [--sizes 200,1000,5000] [--concurrency 1,8] [--rounds 1]
     .venv/bin/python bench/bench_aws.py --quick        (N=200, concurrency 8: the CI smoke run)
Seeding is not timed. At about 330 calls/s, 5,000 buckets (45,003 calls) take about 2.5 minutes per
run with concurrency 8, and twice that serially.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Never real AWS: fixed fake credentials and no config files, whatever the environment says.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
)
os.environ.pop("AWS_SESSION_TOKEN", None)

from collectors.aws import s3
from collectors.aws.client import AwsClients, AwsConfig, pin_endpoint
from collectors.aws.demo.emulator import MotoServer
from evidence.records import PreparedRecord, RunContext
from evidence.store import open_store
from tests.support.aws_family import collect

REGION = "us-east-1"
BUCKET_OPERATIONS = tuple(api.operation for api in s3.BUCKET_CALLS)
SEED_THREADS = 16


def seed_buckets(endpoint: str, start: int, stop: int) -> None:
    """Buckets ``bench-<start>`` .. ``bench-<stop-1>``, with a few settings varied so rows differ."""
    import boto3

    client = boto3.Session().client("s3", region_name=REGION, endpoint_url=endpoint)
    all_blocked = dict.fromkeys(s3.PAB_FLAGS, True)

    def one(i: int) -> None:
        name = f"bench-{i:05d}"
        client.create_bucket(Bucket=name)
        if i % 3 == 0:
            client.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
            )
        if i % 4 == 0:
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if i % 5 == 0:
            client.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=all_blocked)
        if i % 6 == 0:
            client.put_bucket_lifecycle_configuration(
                Bucket=name,
                LifecycleConfiguration={
                    "Rules": [
                        {
                            "ID": "r",
                            "Status": "Enabled",
                            "Filter": {"Prefix": ""},
                            "Expiration": {"Days": 365},
                        }
                    ]
                },
            )

    with ThreadPoolExecutor(SEED_THREADS) as pool:
        list(pool.map(one, range(start, stop)))


def bare_calls(endpoint: str, concurrency: int) -> tuple[float, int]:
    """The collector's calls from a plain boto3 loop (same botocore Config), results discarded."""
    import boto3
    from botocore.exceptions import ClientError

    started = time.perf_counter()
    config = AwsClients(AwsConfig(endpoint_url=endpoint, concurrency=concurrency))._botocore_config()
    session = boto3.Session()

    def client(service: str) -> Any:
        made = session.client(service, region_name=REGION, endpoint_url=endpoint, config=config)
        pin_endpoint(made, endpoint)
        return made

    sts, s3_client, control = client("sts"), client("s3"), client("s3control")
    account = sts.get_caller_identity()["Account"]
    names = [b["Name"] for b in s3_client.list_buckets()["Buckets"]]  # moto answers in one page
    with contextlib.suppress(ClientError):  # no account-level block: an answer too
        control.get_public_access_block(AccountId=account)

    def one_bucket(name: str) -> None:
        for operation in BUCKET_OPERATIONS:
            with contextlib.suppress(ClientError):  # "not configured" answers are answers too
                getattr(s3_client, operation)(Bucket=name)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for _ in pool.map(one_bucket, names):
            pass
    return time.perf_counter() - started, 3 + len(names) * len(BUCKET_OPERATIONS)


@dataclass
class Ours:
    total: float
    fetch: float
    validate: float  # map + JSON Schema + GX + records (everything collect does after the fetch)
    store: float
    calls: int
    records: int


def count_calls(records: list[PreparedRecord]) -> int:
    """Calls behind the collection, from the records' call logs (+1: the account lookup on STS)."""
    seen = set()
    for record in records:
        ref = next(a for a in record.draft.attachments if a.role == "api-calls")
        for call in json.loads(record.attachments[ref.sha256]):
            seen.add((call["service"], call["operation"], json.dumps(call["params"], sort_keys=True)))
    return len(seen) + 1


def our_collection(endpoint: str, concurrency: int, buckets: int, label: str) -> Ours:
    with tempfile.TemporaryDirectory(prefix="bench-aws-") as tmp:
        store = open_store(f"sqlite:///{tmp}/evidence.db", environ={})
        started = time.perf_counter()
        records = collect(
            AwsConfig(endpoint_url=endpoint, concurrency=concurrency),
            RunContext(run_id=label),
            service_names=["aws.s3"],
        )
        collected = time.perf_counter()
        store.append_batch(records)
        stored = time.perf_counter()
        store.close()
    for record in records:
        assert record.draft.status in ("pass", "fail"), record.draft.reason
        population = record.draft.population
        assert population is not None
        assert population.total == (
            1 if record.draft.evidence_type.endswith(".account_public_access_block") else buckets
        )
    draft = records[0].draft
    fetch = (draft.period_end - draft.period_start).total_seconds()
    return Ours(
        total=stored - started,
        fetch=fetch,
        validate=(collected - started) - fetch,
        store=stored - collected,
        calls=count_calls(records),
        records=len(records),
    )


def measure(
    endpoint: str, n: int, concurrency: int, rounds: int, only: str
) -> tuple[float, int, Ours | None]:
    """Bare and ours, interleaved bare-ours-ours-bare (``rounds`` times): the emulator's speed drifts by
    +-20% from one run to the next on this machine, and the mirrored order cancels a steady drift.
    Returns the mean bare time, the bare call count and the mean of ours (per phase)."""
    bare_times: list[float] = []
    bare_n = 0
    ours_runs: list[Ours] = []
    for round_ in range(rounds):
        for step in ("bare", "ours", "ours", "bare"):
            if step == "bare" and only != "ours":
                elapsed, bare_n = bare_calls(endpoint, concurrency)
                bare_times.append(elapsed)
                print(f"  N={n} conc={concurrency} bare {elapsed:.2f} s", flush=True)
            elif step == "ours" and only != "bare":
                ours = our_collection(endpoint, concurrency, n, f"bench-{n}-{concurrency}-{round_}")
                ours_runs.append(ours)
                print(
                    f"  N={n} conc={concurrency} ours {ours.total:.2f} s (fetch {ours.fetch:.2f}, "
                    f"map+schema+GX {ours.validate:.2f}, store {ours.store:.2f})",
                    flush=True,
                )
    mean_ours = None
    if ours_runs:
        count = len(ours_runs)
        mean_ours = Ours(
            total=sum(o.total for o in ours_runs) / count,
            fetch=sum(o.fetch for o in ours_runs) / count,
            validate=sum(o.validate for o in ours_runs) / count,
            store=sum(o.store for o in ours_runs) / count,
            calls=ours_runs[0].calls,
            records=ours_runs[0].records,
        )
    return (sum(bare_times) / len(bare_times) if bare_times else 0.0), bare_n, mean_ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200,1000,5000", help="bucket counts, comma-separated")
    parser.add_argument("--concurrency", default="1,8", help="in-flight calls, comma-separated")
    parser.add_argument("--rounds", type=int, default=1, help="bare-ours-ours-bare rounds per cell")
    parser.add_argument("--quick", action="store_true", help="N=200 with concurrency 8 (CI smoke)")
    parser.add_argument("--only", choices=("bare", "ours", "both"), default="both")
    args = parser.parse_args()
    sizes = [200] if args.quick else sorted(int(s) for s in args.sizes.split(","))
    levels = [8] if args.quick else [int(c) for c in args.concurrency.split(",")]

    with MotoServer() as moto:
        print(f"moto server {moto.url}; sizes {sizes}; concurrency {levels}", flush=True)
        rows = []
        seeded = min(sizes[0], 200)
        seed_buckets(moto.url, 0, seeded)
        if args.only != "bare":
            from evidence.validation import _batch_definition  # the per-process GX context

            started = time.perf_counter()
            _batch_definition()
            print(f"one-off: GX import + context {time.perf_counter() - started:.2f} s", flush=True)
            first = our_collection(moto.url, max(levels), seeded, "warm-up")
            print(
                f"one-off: first collection ({seeded} buckets: schema compile, suites, catalog) "
                f"{first.total:.2f} s, not counted",
                flush=True,
            )
        for n in sizes:
            started = time.perf_counter()
            seed_buckets(moto.url, seeded, n)
            seeded = n
            print(f"seeded {n} buckets in {time.perf_counter() - started:.1f} s (not measured)", flush=True)
            for concurrency in levels:
                row = (n, concurrency, *measure(moto.url, n, concurrency, args.rounds, args.only))
                rows.append(row)
                print(_header() + "\n" + _row(*row), flush=True)
        print()
        print("means per cell (bare and ours measured alternately, bare-ours-ours-bare):")
        print(_header())
        for row in rows:
            print(_row(*row))


def _header() -> str:
    return (
        f"{'N':>6} {'conc':>4} {'calls':>7} {'bare s':>8} {'bare c/s':>8} {'ours s':>8} {'ours c/s':>8} "
        f"{'ratio':>6} | {'fetch s':>8} {'map+schema+GX s':>15} {'store s':>8}"
    )


def _row(n: int, concurrency: int, bare_s: float, bare_n: int, ours: Ours | None) -> str:
    calls = ours.calls if ours else bare_n
    if ours and bare_n:
        assert ours.calls == bare_n, f"ours made {ours.calls} calls, the bare loop {bare_n}"
    bare = f"{bare_s:8.2f} {bare_n / bare_s:8.0f}" if bare_n else f"{'-':>8} {'-':>8}"
    if ours is None:
        return f"{n:>6} {concurrency:>4} {calls:>7} {bare} {'-':>8} {'-':>8} {'-':>6} |"
    ratio = f"{ours.total / bare_s:6.2f}" if bare_n else f"{'-':>6}"
    return (
        f"{n:>6} {concurrency:>4} {calls:>7} {bare} {ours.total:8.2f} {ours.calls / ours.total:8.0f} "
        f"{ratio} | {ours.fetch:8.2f} {ours.validate:15.2f} {ours.store:8.2f}"
    )


if __name__ == "__main__":
    main()

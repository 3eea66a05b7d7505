"""Whole processes, launch to exit: ``evidence collect aws -s aws.s3`` next to a bare boto3 script making
the same calls, on the same seeded moto server, in the same run.

Each side is a fresh Python process (imports, start-up, validation and storing included, as a user
runs it), talking to moto through the fault proxy (``tests/support/faults.py``), which injects nothing
but an optional fixed latency per request (``--latency 0.05``: about in-region AWS) and notes when the
first and the last request arrived. So each run splits into start-up (launch to first request), the
calls (first to last request) and the tail (last request to exit: for ours, what validation and
storing did not overlap with the fetch).

Order per size: bare-ours-ours-bare (``--rounds`` times; ``--once``: bare then ours), means printed;
every run is printed too, and the load average at the start and the end.

Run: .venv/bin/python bench/bench_whole_process.py [--sizes 200,1000,5000] [--latency 0,0.05] [--once]
Seeding is not timed. On a loaded 2-core machine 1,000 buckets take minutes per run: size accordingly.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Never real AWS: fixed fake credentials and no config files, whatever the environment says.
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
}
os.environ.update(FAKE_AWS)
os.environ.pop("AWS_SESSION_TOKEN", None)

# The bare side: the collector's S3 calls from a plain threaded boto3 loop, same botocore settings
# (adaptive retries, connection pool), results discarded. Run as its own process.
BARE_SCRIPT = r"""
import contextlib, json, sys
from urllib.parse import urlsplit, urlunsplit
from concurrent.futures import ThreadPoolExecutor
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, concurrency, settings = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
config = Config(retries={"mode": settings["retry_mode"], "max_attempts": settings["max_retries"]},
                connect_timeout=settings["connect_timeout"], read_timeout=settings["read_timeout"],
                max_pool_connections=max(10, concurrency * 2), inject_host_prefix=False,
                s3={"addressing_style": "path"})
session = boto3.Session()
pinned = urlsplit(endpoint)
def strip_prefix(request, **_):  # s3control's endpoint rules put {AccountId}. before the host
    parts = urlsplit(request.url)
    if parts.netloc != pinned.netloc and parts.netloc.endswith("." + pinned.netloc):
        request.url = urlunsplit(parts._replace(netloc=pinned.netloc))
def client(service):
    made = session.client(service, region_name="us-east-1", endpoint_url=endpoint, config=config)
    made.meta.events.register("before-sign", strip_prefix)
    return made
sts, s3, control = client("sts"), client("s3"), client("s3control")
account = sts.get_caller_identity()["Account"]
names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
with contextlib.suppress(ClientError):
    control.get_public_access_block(AccountId=account)
OPERATIONS = ("get_bucket_location", "get_bucket_encryption", "get_bucket_versioning",
              "get_bucket_replication", "get_object_lock_configuration", "get_public_access_block",
              "get_bucket_policy", "get_bucket_lifecycle_configuration", "get_bucket_logging")
def one(name):
    for operation in OPERATIONS:
        with contextlib.suppress(ClientError):
            getattr(s3, operation)(Bucket=name)
with ThreadPoolExecutor(concurrency) as pool:
    list(pool.map(one, names))
"""


@dataclass
class Run:
    total: float
    startup: float  # launch to first request
    calls: float  # first to last request
    tail: float  # last request to exit
    requests: int


def _timed(command: list[str], env: dict[str, str], cwd: str, proxy: object) -> Run:
    proxy.first_request_at = proxy.last_request_at = None  # type: ignore[attr-defined]
    before = proxy.requests  # type: ignore[attr-defined]
    started = time.monotonic()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    ended = time.monotonic()
    if done.returncode not in (0, 1):  # 1: --fail-on is not used, but a failing record is not an error
        raise SystemExit(f"{command[0]} exited {done.returncode}: {done.stderr[-2000:]}")
    first = proxy.first_request_at or ended  # type: ignore[attr-defined]
    last = proxy.last_request_at or ended  # type: ignore[attr-defined]
    return Run(ended - started, first - started, last - first, ended - last, proxy.requests - before)  # type: ignore[attr-defined]


def bare(endpoint: str, concurrency: int, proxy: object) -> Run:
    from collectors.aws.client import AwsConfig

    defaults = AwsConfig()  # the collector's botocore settings, so both sides retry and time out alike
    settings = json.dumps(
        {
            "retry_mode": defaults.retry_mode,
            "max_retries": defaults.max_retries,
            "connect_timeout": defaults.connect_timeout,
            "read_timeout": defaults.read_timeout,
        }
    )
    with tempfile.TemporaryDirectory(prefix="bench-bare-") as tmp:
        env = {**os.environ, **FAKE_AWS}
        command = [sys.executable, "-c", BARE_SCRIPT, endpoint, str(concurrency), settings]
        return _timed(command, env, tmp, proxy)


def ours(endpoint: str, concurrency: int, proxy: object) -> Run:
    evidence = str(Path(sys.executable).with_name("evidence"))
    with tempfile.TemporaryDirectory(prefix="bench-ours-") as tmp:
        env = {**os.environ, **FAKE_AWS, "EVIDENCE_STORE_URL": f"sqlite:///{tmp}/evidence.db"}
        env.pop("EVIDENCE_BLOB_URL", None)
        command = [
            evidence,
            "collect",
            "aws",
            "-s",
            "aws.s3",
            "--endpoint-url",
            endpoint,
            "--region",
            "us-east-1",
            "--concurrency",
            str(concurrency),
            "--json",
        ]
        return _timed(command, env, tmp, proxy)


def _mean(runs: list[Run]) -> Run:
    n = len(runs)
    return Run(
        sum(r.total for r in runs) / n,
        sum(r.startup for r in runs) / n,
        sum(r.calls for r in runs) / n,
        sum(r.tail for r in runs) / n,
        runs[0].requests,
    )


def _line(label: str, run: Run) -> str:
    return (
        f"{label:<5} {run.total:8.2f} s  start-up {run.startup:6.2f}  calls {run.calls:7.2f}  "
        f"tail {run.tail:6.2f}  requests {run.requests}"
    )


def main() -> None:
    from bench.bench_aws import seed_buckets
    from collectors.aws.demo.emulator import MotoServer
    from tests.support.faults import FaultProxy

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200,1000,5000", help="bucket counts, comma-separated")
    parser.add_argument("--latency", default="0,0.05", help="seconds added per request, comma-separated")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1, help="bare-ours-ours-bare rounds per cell")
    parser.add_argument(
        "--once", action="store_true", help="one bare then one ours run per cell (long cells, e.g. 5,000)"
    )
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    latencies = [float(x) for x in args.latency.split(",")]
    results = []
    print(f"load average (1, 5, 15 min) at the start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with MotoServer() as moto:
        seeded = 0
        for n in sizes:
            seed_buckets(moto.url, seeded, n)
            seeded = n
            for latency in latencies:
                with FaultProxy(moto.url, latency=latency) as proxy:
                    runs: dict[str, list[Run]] = {"bare": [], "ours": []}
                    for _ in range(args.rounds):
                        for side in ("bare", "ours") if args.once else ("bare", "ours", "ours", "bare"):
                            run = (bare if side == "bare" else ours)(proxy.url, args.concurrency, proxy)
                            runs[side].append(run)
                            print(f"N={n} latency={latency:g} " + _line(side, run), flush=True)
                    b, o = _mean(runs["bare"]), _mean(runs["ours"])
                    results.append((n, latency, b, o))
        print()
        print(
            f"{'N':>6} {'lat s':>6} {'bare s':>8} {'ours s':>8} {'ratio':>6} | "
            "first request (s): ours, bare | calls, tail (s): ours (bare)"
        )
        for n, latency, b, o in results:
            print(
                f"{n:>6} {latency:>6g} {b.total:8.2f} {o.total:8.2f} {o.total / b.total:6.2f} | "
                f"{o.startup:5.2f}, {b.startup:5.2f} | "
                f"{o.calls:.2f}, {o.tail:.2f} ({b.calls:.2f}, {b.tail:.2f})"
            )
    print(f"load average (1, 5, 15 min) at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

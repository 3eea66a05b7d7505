"""Auditor bundle export and verify: time and peak memory against the number of records. Prints
figures; not a test.

    .venv/bin/python bench/bench_bundle.py                      # 10k, 100k and 1M records (1M: ~20 min)
    .venv/bin/python bench/bench_bundle.py --counts 2000,10000  # what fits a shared machine
    .venv/bin/python bench/bench_bundle.py --keep /var/tmp/bb   # keep the stores, reuse them next time

Per count: a SQLite store with that many ~2 KB ``test.sample`` records (SOC 2 control
SEED000-SEC-DATA-01, one a second), seeded through the store's own ``append_batch`` in batches of
10,000 with the blob folder's ``sync=off`` (seeding is not what is measured), then, each in a fresh
child process (clean peak RSS, ``getrusage``):

- ``export``: ``write_bundle`` of the whole period to a file (SOC 2: every control page, OSCAL, one
  inclusion proof per record, the signed manifest), as shipped: records.jsonl and proofs.jsonl are
  deflated on a second thread while the next records are rendered;
- ``export 1 thread``: the same with everything on one thread (``evidence.bundle._BACKGROUND = False``);
- ``zip``: the floor: ``zipfile`` (deflate, the same level) writing the same files' bytes, read back
  from the bundle beforehand (so no store, no proofs, no JSON: only compression and I/O);
- ``verify``: ``verify_bundle`` of the bundle with the pinned key.

Times are wall-clock; ``cpu`` is the child's user + system time over the same span (the export's
includes both threads). The ratios are wall-clock, measured in the same run, and the load average is
printed beside them: the machine may be shared.

Targets (issue 17): export peak memory under 300 MB at 1M records; export within 3x of zipping the
same bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CONTROL = "SEED000-SEC-DATA-01"


BATCH = 10_000


def build(folder: Path, count: int, payload: int) -> float:
    """Seed the store; returns the seconds it took."""
    from evidence.signing import Signer
    from evidence.store import open_store
    from tests.support.records import BASE_TIME, install_test_schema, make_prepared

    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    install_test_schema(folder / "schemas")
    signer = Signer.generate()
    key = folder / "signing-key.pem"
    key.write_bytes(signer.private_pem())
    key.chmod(0o600)
    (folder / "log.pem").write_bytes(signer.public_pem())
    with open_store(
        f"sqlite:///{folder / 'evidence.db'}",
        blob_url=f"file://{folder / 'blobs'}?sync=off",
        signer=signer,
        environ={},
    ) as store:
        batch = []
        for i in range(count):
            batch.append(
                make_prepared(
                    i,
                    seed="bench-bundle",
                    control_ids=(CONTROL,),
                    payload_size=payload,
                    observed_at=BASE_TIME + timedelta(seconds=i),
                )
            )
            if len(batch) == BATCH:
                store.append_batch(batch)
                batch = []
                if (i + 1) % (10 * BATCH) == 0:
                    print(f"  seeded {i + 1} of {count}", file=sys.stderr, flush=True)
        if batch:
            store.append_batch(batch)
    (folder / "seeded").write_text(str(count))
    return time.perf_counter() - started


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(kind: str, folder: Path) -> dict[str, Any]:
    started = time.perf_counter()
    cpu = _cpu()
    result: dict[str, Any] = {}
    bundle = folder / "bundle.zip"
    if kind in ("export", "export1"):
        import evidence.bundle
        from evidence.bundle import write_bundle
        from evidence.signing import Signer
        from evidence.store import open_store

        evidence.bundle._BACKGROUND = kind == "export"
        # Imports are not timed (the zip floor has none): the export imports compliance-trestle's OSCAL
        # models lazily, on a machine without bytecode caches that is a second of compiling.
        import trestle.oscal.assessment_results  # noqa: F401

        if kind == "export1":
            bundle = folder / "bundle-1thread.zip"

        signer = Signer.from_file(folder / "signing-key.pem")
        with open_store(
            f"sqlite:///{folder / 'evidence.db'}",
            blob_url=f"file://{folder / 'blobs'}",
            signer=signer,
            create=False,
            environ={},
        ) as store:
            started = time.perf_counter()
            cpu = _cpu()
            with bundle.open("wb") as out:
                summary = write_bundle(store, framework="soc2", start=None, end=None, out=out)
        result = {"records": summary.records, "bytes": summary.size}
    elif kind == "zip":
        # The same files' bytes, extracted first (not timed), then zipped with the same deflate level.
        plain = folder / "plain"
        with zipfile.ZipFile(bundle) as archive:
            archive.extractall(plain)
        files = sorted(p for p in plain.rglob("*") if p.is_file())
        started = time.perf_counter()
        cpu = _cpu()
        with zipfile.ZipFile(folder / "plain.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.relative_to(plain).as_posix())
        result = {"files": len(files), "bytes": (folder / "plain.zip").stat().st_size}
    elif kind == "verify":
        from evidence.bundle import verify_bundle
        from evidence.signing import Verifier

        key = Verifier.from_file(folder / "log.pem")
        started = time.perf_counter()
        cpu = _cpu()
        report = verify_bundle(bundle, public_key=key)
        result = {
            "ok": report.ok,
            "records": report.records,
            "problems": [p.message for p in report.problems[:3]],
        }
    result["seconds"] = time.perf_counter() - started
    result["cpu"] = _cpu() - cpu
    result["maxrss_mb"] = _peak_rss_mb()
    return result


def _peak_rss_mb() -> float:
    """This process's peak RSS. Linux's ``getrusage`` ``ru_maxrss`` survives exec: a child started from
    a big parent reports at least the parent's size at fork; ``VmHWM`` is this program's own peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(kind: str, folder: Path, *extra: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--folder", str(folder), *extra],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--counts", default="10000,100000,1000000", help="record counts, comma-separated")
    parser.add_argument("--payload", type=int, default=2048, help="payload bytes per record")
    parser.add_argument(
        "--keep", type=Path, help="keep each store in KEEP/<count> and reuse it when already seeded"
    )
    parser.add_argument(
        "--child", choices=["seed", "export", "export1", "zip", "verify"], help=argparse.SUPPRESS
    )
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "seed":
        print(json.dumps({"seconds": build(args.folder, args.count, args.payload)}))
        return
    if args.child:
        print(json.dumps(child(args.child, args.folder)))
        return
    print(
        f"{'records':>9} {'seed s':>7} {'export s':>9} {'cpu s':>6} {'1-thread s':>10} {'zip s':>7} "
        f"{'cpu s':>6} {'ratio':>6} {'1-thread':>8} {'export MB':>10} {'verify s':>9} {'verify MB':>10} "
        f"{'bundle bytes':>13} {'load':>5}",
        flush=True,
    )
    for count in (int(c) for c in args.counts.split(",")):
        with tempfile.TemporaryDirectory(prefix="bench-bundle-") as tmp:
            folder = args.keep / str(count) if args.keep else Path(tmp)
            seeded = folder / "seeded"
            if seeded.exists() and seeded.read_text() == str(count):
                seed = float("nan")  # reused
            else:
                if folder.exists() and args.keep:
                    shutil.rmtree(folder)
                seed = run_child("seed", folder, "--count", str(count), "--payload", str(args.payload))[
                    "seconds"
                ]
            export = run_child("export", folder)
            single = run_child("export1", folder)
            floor = run_child("zip", folder)
            check = run_child("verify", folder)
            assert check["ok"], check
            load = os.getloadavg()[0]
            ratio, ratio_single = export["seconds"] / floor["seconds"], single["seconds"] / floor["seconds"]
            print(
                f"{export['records']:>9} {seed:>7.1f} {export['seconds']:>9.2f} {export['cpu']:>6.1f} "
                f"{single['seconds']:>10.2f} {floor['seconds']:>7.2f} {floor['cpu']:>6.1f} "
                f"{ratio:>5.2f}x {ratio_single:>7.2f}x "
                f"{max(export['maxrss_mb'], single['maxrss_mb']):>10.0f} {check['seconds']:>9.2f} "
                f"{check['maxrss_mb']:>10.0f} {export['bytes']:>13} {load:>5.1f}",
                flush=True,
            )
            for name in ("bundle.zip", "bundle-1thread.zip", "plain.zip"):
                (folder / name).unlink(missing_ok=True)
            shutil.rmtree(folder / "plain", ignore_errors=True)


if __name__ == "__main__":
    main()

"""Collection through Airflow next to the CLI, on the same demo estate, in the same run; and each DAG
file's parse time next to an empty DAG file's.

    .venv/bin/python bench/bench_airflow.py [--rounds 2] [--skip-local]

- cli:          ``evidence collect aws`` as a process (what a cron job would run);
- dags test:    ``airflow dags test aws_evidence`` (every task in one process), and beside it
                ``airflow dags test`` of an empty one-task DAG alone in its folder: Airflow's own floor
                (its start, parsing, the in-process execution API's first request, the run's end),
                which no DAG can go under;
- local:        a LocalExecutor deployment (``plugins.orchestration.local.LocalAirflow``: api-server,
                scheduler, dag-processor, triggerer), from triggering ``aws_evidence`` to its end; the
                DAG is unpaused first and its catch-up scheduled run (shown apart) has ended.
Targets: Airflow at most 1.2x the CLI's wall time; every DAG file parses in under 2x an empty one.
Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from collectors.aws.demo import seed_estate  # noqa: E402
from plugins.orchestration.local import LocalAirflow, connection_uri  # noqa: E402
from tests.support.servers import MotoServer  # noqa: E402

BIN = Path(sys.executable).parent
REGIONS = ("us-east-1", "eu-west-1")
EMPTY_DAG = '''"""An empty DAG file (the baseline)."""
import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
def empty():
    @task
    def nothing():
        pass

    nothing()


empty()
'''


def _seconds(start: str, end: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(args, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{args[:3]} failed: {(result.stdout + result.stderr)[-2000:]}")
    return elapsed


def parse_times(rounds: int, env: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty_dag.py"
        empty.write_text(EMPTY_DAG)
        files = [empty, *sorted((REPO / "dags").glob("*.py"))]
        code = (
            "import runpy, sys, time; t = time.perf_counter(); runpy.run_path(sys.argv[1]); "
            "print(time.perf_counter() - t)"
        )
        figures: dict[str, list[float]] = {f.name: [] for f in files}
        for _ in range(rounds):
            for path in files:
                out = subprocess.run(
                    [sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True
                )
                if out.returncode != 0:
                    raise SystemExit(f"{path.name} failed to parse: {out.stderr[-2000:]}")
                figures[path.name].append(float(out.stdout.strip().splitlines()[-1]))
    base = statistics.median(figures[empty.name])
    print(f"\nDAG file parse time (median of {rounds}; target < 2x the empty file)")
    for name, values in figures.items():
        median = statistics.median(values)
        print(f"  {name:28s} {median:6.2f} s  {median / base:4.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip-local", action="store_true", help="skip the LocalExecutor deployment")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    base_env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "GX_ANALYTICS_ENABLED": "false",
    }
    base_env.pop("EVIDENCE_SIGNING_KEY", None)
    with tempfile.TemporaryDirectory() as tmp, MotoServer() as moto:
        os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"})
        seed_estate(moto.url, REGIONS)
        work = Path(tmp)
        airflow_home = work / "airflow"
        conn = connection_uri(
            "aws", {"endpoint_url": moto.url, "regions": list(REGIONS)}, login="bench", password="bench"
        )
        env = {
            **base_env,
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
            "AIRFLOW_CONN_AWS_DEFAULT": conn,
            "EVIDENCE_AWS_ENDPOINT_URL": moto.url,
            "EVIDENCE_AWS_REGIONS": ",".join(REGIONS),
        }
        subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, check=True)
        # The empty DAG in a folder (and a metadata database) of its own: the same bundle holding
        # other files would make each run mark the other's DAGs stale.
        (work / "empty-dags").mkdir()
        (work / "empty-dags" / "empty_dag.py").write_text(EMPTY_DAG)
        shutil.copy(airflow_home / "airflow.db", work / "empty-airflow.db")
        empty_env = {
            **env,
            "AIRFLOW__CORE__DAGS_FOLDER": str(work / "empty-dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{work / 'empty-airflow.db'}",
        }
        cli, dags_test, floor, local = [], [], [], []
        deployment = None
        if not args.skip_local:
            deployment = LocalAirflow(
                home=work / "local",
                env={
                    "AIRFLOW_CONN_AWS_DEFAULT": conn,
                    "EVIDENCE_STORE_URL": f"sqlite:///{work}/local-store/ev.db",
                },
            )
            (work / "local-store").mkdir()
            deployment.start()
            deployment.wait_for_dags(["aws_evidence"])
            # Unpausing starts the latest interval's scheduled run at once: let it finish before the
            # timed rounds (it would otherwise run beside the first triggered one), and show it apart.
            deployment.unpause("aws_evidence")
            first = deployment.wait_run("aws_evidence", timeout=1800)
            print(
                f"first scheduled run on unpause: {first['state']}, "
                f"{_seconds(first['start_date'], first['end_date']):.1f} s from its start to its end",
                flush=True,
            )
        try:
            for i in range(args.rounds):
                store = f"sqlite:///{work}/cli-{i}/ev.db"
                (work / f"cli-{i}").mkdir()
                cli.append(timed([str(BIN / "evidence"), "--store", store, "collect", "aws"], env))
                (work / f"dt-{i}").mkdir()
                dags_test.append(
                    timed(
                        [str(BIN / "airflow"), "dags", "test", "aws_evidence"],
                        {**env, "EVIDENCE_STORE_URL": f"sqlite:///{work}/dt-{i}/ev.db"},
                    )
                )
                floor.append(timed([str(BIN / "airflow"), "dags", "test", "empty"], empty_env))
                if deployment is not None:
                    started = time.perf_counter()
                    run = deployment.trigger("aws_evidence")
                    result = deployment.wait_run("aws_evidence", run, timeout=1800)
                    local.append(time.perf_counter() - started)
                    if result["state"] != "success":
                        raise SystemExit(f"LocalExecutor run {run}: {result['state']}")
                print(
                    f"round {i + 1}: cli {cli[-1]:.1f} s, dags test {dags_test[-1]:.1f} s "
                    f"(empty DAG {floor[-1]:.1f} s)"
                    + (f", local executor {local[-1]:.1f} s" if local else ""),
                    flush=True,
                )
        finally:
            if deployment is not None:
                deployment.stop()
        base = statistics.mean(cli)
        print(
            f"\nAWS demo estate ({len(REGIONS)} regions), mean of {args.rounds} interleaved rounds "
            "(target: Airflow at most 1.2x the CLI)"
        )
        print(f"  evidence collect aws       {base:7.1f} s  1.00x")
        for name, values in (("airflow dags test", dags_test), ("LocalExecutor run", local)):
            if values:
                mean = statistics.mean(values)
                print(f"  {name:26s} {mean:7.1f} s  {mean / base:4.2f}x")
        own = statistics.mean(floor)
        ours = statistics.mean(dags_test) - own
        print(
            f"  dags test of an empty DAG  {own:7.1f} s  {own / base:4.2f}x  (Airflow's own floor)\n"
            f"  dags test less that floor  {ours:7.1f} s  {ours / base:4.2f}x  (what the DAG adds)"
        )
        parse_times(max(3, args.rounds), env)
        print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

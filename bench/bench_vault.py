"""Time to collect Vault KV evidence and Sentry project evidence, next to the bare API calls on the
same servers (an OpenBao dev server; the local Sentry double).

- Vault: N KV v2 secrets in folders of 50 on one mount. bare = the calls our ``vault.kv`` source makes
  (sys/health, lookup-self, sys/mounts, LIST of each folder, GET metadata of each secret) from a plain
  hvac + thread-pool loop with the same concurrency, keeping nothing; ours = ``collect_all`` for
  ``vault.kv`` (fetch, pure mapping, JSON Schema, records with their call logs), without GX
  (``--gx`` adds the one GX run per type: a fixed cost, measured separately in DESIGN.md).
- Sentry: P projects (page size 100). bare = the same GETs (organization, project pages, stats_v2,
  metric alert rules, and per project details, keys and rules) from requests + a thread pool; ours =
  ``collect_all`` for ``sentry.projects``.

Each cell runs bare-ours-ours-bare and prints the means and the ratio ours/bare (target: within 1.2x).
Run: .venv/bin/python bench/bench_vault.py [--secrets 1000] [--projects 200] [--concurrency 8] [--gx]
     .venv/bin/python bench/bench_vault.py --quick     (100 secrets, 20 projects: the CI smoke run)
Seeding is not timed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def timed(run: Callable[[], Any]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def cell(name: str, bare: Callable[[], Any], ours: Callable[[], Any]) -> None:
    # The first collection in a process compiles the schemas and loads the catalog: a one-off cost.
    print(f"{name:<36} first collection (one-off costs included) {timed(ours):.2f} s", flush=True)
    runs: dict[str, list[float]] = {"bare": [], "ours": []}
    for which in ("bare", "ours", "ours", "bare"):
        runs[which].append(timed(bare if which == "bare" else ours))
    b, o = statistics.mean(runs["bare"]), statistics.mean(runs["ours"])
    each = "; ".join(f"{k} " + ", ".join(f"{x:.2f}" for x in v) for k, v in runs.items())
    print(f"{name:<36} bare {b:7.2f} s   ours {o:7.2f} s   ours/bare {o / b:5.2f}x   ({each})", flush=True)


def bench_vault(secrets: int, concurrency: int, gx: bool) -> None:
    from collectors.core.runner import collect_all
    from collectors.vault.demo import DevServer
    from collectors.vault.family import VAULT
    from evidence.records import RunContext

    server = DevServer.start(audit=False)
    try:
        client = server.client()
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda i: client.secrets.kv.v2.create_or_update_secret(
                        path=f"team-{i // 50:03d}/secret-{i:05d}", secret={"v": "x"}, mount_point="secret"
                    ),
                    range(secrets),
                )
            )
        config = VAULT.configure({"url": server.url, "token": server.root_token, "concurrency": concurrency})

        def bare() -> None:
            import hvac
            from hvac.adapters import RawAdapter

            c = hvac.Client(url=server.url, token=server.root_token, adapter=RawAdapter, timeout=10)
            c.adapter.get("/v1/sys/health", raise_exception=False).json()
            c.adapter.get("/v1/auth/token/lookup-self").json()
            c.adapter.get("/v1/sys/mounts").json()
            folders = c.adapter.request("LIST", "/v1/secret/metadata/").json()["data"]["keys"]
            with ThreadPoolExecutor(concurrency) as pool:
                listed = pool.map(
                    lambda f: c.adapter.request("LIST", f"/v1/secret/metadata/{f}").json(), folders
                )
                paths = [
                    f"{f}{k}" for f, body in zip(folders, listed, strict=True) for k in body["data"]["keys"]
                ]
                list(pool.map(lambda p: c.adapter.get(f"/v1/secret/metadata/{p}").json(), paths))

        def ours() -> None:
            records = collect_all(VAULT, config, RunContext(run_id="bench"), sources=["vault.kv"], run_gx=gx)
            population = records[0].draft.population
            assert population is not None and population.total == secrets, records[0].draft.reason

        cell(f"vault.kv, {secrets} secrets, c={concurrency}", bare, ours)
    finally:
        server.stop()


def bench_sentry(projects: int, concurrency: int, gx: bool) -> None:
    import requests

    from collectors.core.runner import collect_all
    from collectors.sentry.family import SENTRY
    from evidence.records import RunContext
    from tests.support.sentry_double import SentryDouble, sample_estate

    with SentryDouble(sample_estate(extra_projects=projects - 2), page_size=100) as double:
        token = double.token()
        config = SENTRY.configure(
            {"url": double.url, "organization": "acme", "token": token, "concurrency": concurrency}
        )

        def bare() -> None:
            s = requests.Session()
            s.headers["Authorization"] = f"Bearer {token}"
            base = f"{double.url}/api/0"
            s.get(f"{base}/organizations/acme/").json()
            slugs: list[str] = []
            url: str | None = f"{base}/organizations/acme/projects/"
            while url:
                response = s.get(url, timeout=30)
                slugs += [p["slug"] for p in response.json()]
                nxt = response.links.get("next") or {}
                url = nxt.get("url") if nxt.get("results") == "true" else None
            s.get(f"{base}/organizations/acme/stats_v2/", params={"groupBy": "project"}).json()
            s.get(f"{base}/organizations/acme/alert-rules/").json()
            with ThreadPoolExecutor(concurrency) as pool:
                for suffix in ("", "keys/", "rules/"):
                    list(pool.map(lambda p, x=suffix: s.get(f"{base}/projects/acme/{p}/{x}").json(), slugs))

        def ours() -> None:
            records = collect_all(
                SENTRY, config, RunContext(run_id="bench"), sources=["sentry.projects"], run_gx=gx
            )
            population = records[0].draft.population
            assert population is not None and population.total == projects, records[0].draft.reason

        cell(f"sentry.projects, {projects} projects, c={concurrency}", bare, ours)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secrets", type=int, default=1000)
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--gx", action="store_true", help="run the GX suites too (a fixed cost per type)")
    parser.add_argument("--quick", action="store_true", help="100 secrets, 20 projects (CI smoke)")
    args = parser.parse_args()
    if args.quick:
        args.secrets, args.projects = 100, 20
    bench_vault(args.secrets, args.concurrency, args.gx)
    bench_sentry(args.projects, args.concurrency, args.gx)


if __name__ == "__main__":
    main()

"""What one Redis server and one HTTPS endpoint cost to collect, next to the bare exchanges.

Against the demo servers on loopback (real redis-server processes; TLS servers with a trustme CA),
in the same run:

- redis, bare: the same commands our collector sends (PING, 9 x CONFIG GET, 3 x INFO, COMMAND INFO,
  and the anonymous PING on a second connection) from a plain redis-py loop;
- redis, ours: ``collect`` for the redis family (connect, fetch, five mappings, JSON Schema; no GX);
- https, bare: the same exchanges (a permissive handshake, a verifying one, a certificate read, four
  single-version handshakes, one GET) from a plain loop;
- https, ours: ``collect`` for the https.endpoint source (no GX).

GX is left out (its cost is the same fixed ~5 ms per expectation for every family; see bench_aws.py).
Each side runs ``--rounds`` times alternating; the means are printed.

Run: .venv/bin/python -W ignore::DeprecationWarning bench/bench_endpoints.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import ssl
import statistics
import time
from collections.abc import Callable
from typing import Any


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import redis

    from collectors.https import FAMILY as HTTPS
    from collectors.https.demo import demo_endpoints
    from collectors.https.family import permissive_context
    from collectors.redis import FAMILY as REDIS
    from collectors.redis.demo import demo_servers
    from collectors.redis.server import DANGEROUS_COMMANDS, INFO_SECTIONS, PARAMETERS
    from evidence.records import RunContext

    context = RunContext(run_id="bench")
    with demo_servers() as estate:
        config = REDIS.configure(REDIS.connection.resolve(estate.settings, environ={}))
        url = config.urls[0]  # the hardened server: the anonymous probe makes a second connection

        def bare_redis() -> None:
            client = redis.Redis.from_url(url, username=config.username, password=config.password)
            client.set_response_callback("COMMAND", lambda response, **_: response)
            client.ping()
            for name in PARAMETERS:
                client.execute_command("CONFIG", "GET", name)
            for section in INFO_SECTIONS:
                client.execute_command("INFO", section)
            client.execute_command("COMMAND", "INFO", *DANGEROUS_COMMANDS)
            client.close()
            anonymous = redis.Redis.from_url(url)
            with contextlib.suppress(redis.AuthenticationError):
                anonymous.ping()
            anonymous.close()

        one = REDIS.configure({**estate.settings, "urls": [url]})

        def ours_redis() -> None:
            list(REDIS.collect(one, context, run_gx=False))

        ours_redis()  # imports and schema compilation, once
        bare, ours = [], []
        for _ in range(args.rounds):
            bare.append(_timed(bare_redis))
            ours.append(_timed(ours_redis))
        b, o = statistics.mean(bare), statistics.mean(ours)
        print(f"redis server:  bare {b * 1000:7.1f} ms   ours {o * 1000:7.1f} ms   ratio {o / b:.2f}x")

    with demo_endpoints() as estate:
        settings = {**estate.settings, "urls": estate.settings["urls"][:1], "http_urls": []}
        config = HTTPS.configure(HTTPS.connection.resolve(settings, environ={}))
        host, port = "127.0.0.1", int(config.urls[0].rsplit(":", 1)[1].strip("/"))

        def shake(context_: ssl.SSLContext) -> None:
            with socket.create_connection((host, port), timeout=5) as raw:
                try:
                    with context_.wrap_socket(raw, server_hostname=host):
                        pass
                except ssl.SSLError:
                    pass

        def bare_https() -> None:
            import http.client

            shake(permissive_context())
            shake(ssl.create_default_context(cafile=config.ca_file))
            shake(permissive_context())
            for version in (
                ssl.TLSVersion.TLSv1,
                ssl.TLSVersion.TLSv1_1,
                ssl.TLSVersion.TLSv1_2,
                ssl.TLSVersion.TLSv1_3,
            ):
                pinned = permissive_context()
                pinned.minimum_version = pinned.maximum_version = version
                shake(pinned)
            conn = http.client.HTTPSConnection(host, port, timeout=5, context=permissive_context())
            conn.request("GET", "/", headers={"Origin": config.foreign_origin})
            conn.getresponse().read()
            conn.close()

        def ours_https() -> None:
            list(HTTPS.collect(config, context, run_gx=False))

        ours_https()
        bare, ours = [], []
        for _ in range(args.rounds):
            bare.append(_timed(bare_https))
            ours.append(_timed(ours_https))
        b, o = statistics.mean(bare), statistics.mean(ours)
        print(f"https endpoint: bare {b * 1000:7.1f} ms   ours {o * 1000:7.1f} ms   ratio {o / b:.2f}x")


if __name__ == "__main__":
    main()

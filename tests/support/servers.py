"""Real servers on loopback for tests and benchmarks: a moto server process, PostgreSQL databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from collectors.aws.demo.emulator import MotoServer, free_port

__all__ = ["PG_ADMIN_URL", "MotoServer", "free_port", "moto_server", "pg_available", "pg_database"]

PG_ADMIN_URL = os.environ.get("EVIDENCE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def moto_server(env: dict[str, str] | None = None) -> Iterator[MotoServer]:
    server = MotoServer(env=env).start()
    try:
        yield server
    finally:
        server.stop()


def pg_available(url: str = PG_ADMIN_URL) -> bool:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3):
            return True
    except Exception:
        return False


@contextmanager
def pg_database(prefix: str = "evtest") -> Iterator[str]:
    """A fresh PostgreSQL database for one test (or benchmark); dropped afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

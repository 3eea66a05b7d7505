"""Shared fixtures. Real servers only: a moto server process per test worker, the machine's PostgreSQL."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.openbao import OpenBao, openbao_server
from tests.support.servers import MotoServer, pg_available, pg_database

# The CLI remembers verified checkpoints (evidence.trust): never in the user's own state directory.
os.environ["EVIDENCE_STATE_DIR"] = tempfile.mkdtemp(prefix="evidence-test-state-")
atexit.register(shutil.rmtree, os.environ["EVIDENCE_STATE_DIR"], ignore_errors=True)

# boto3 must never find real credentials or talk to real AWS from a test.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
)


# Longest files first: each test file runs on one worker (--dist loadfile), and xdist would otherwise
# hand out the files with the most tests first, leaving the few long Airflow and drill files to the
# end, one worker busy for minutes and the other idle. scripts/test keeps this order
# (--no-loadscope-reorder).
SLOW_FIRST = ("e2e", "integration")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent

    def rank(item: pytest.Item) -> int:
        try:
            top = item.path.relative_to(tests).parts[0]
        except ValueError:
            return len(SLOW_FIRST)
        return SLOW_FIRST.index(top) if top in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: files stay in their order within each folder


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    """One moto server per test worker. Tests that seed state call ``moto.reset()`` first."""
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_admin() -> str:
    if not pg_available():
        pytest.fail(
            "PostgreSQL on 127.0.0.1:5432 is not reachable; the test command starts it (scripts/test)"
        )
    return "ok"


@pytest.fixture
def pg_url(pg_admin: str) -> Iterator[str]:
    """An SQLAlchemy URL to a fresh, empty PostgreSQL database."""
    with pg_database() as url:
        yield url


@pytest.fixture
def openbao() -> Iterator[OpenBao]:
    """A fresh OpenBao dev server (in memory) for one test; ``openbao.enable_engine("transit")``."""
    with openbao_server() as server:
        yield server

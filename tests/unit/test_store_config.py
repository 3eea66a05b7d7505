"""Store URL handling that needs no server: masking, parsing, defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from evidence.errors import ConfigError
from evidence.store import default_store_url, mask_url
from evidence.store.config import _parse_db_url


def test_mask_url_hides_passwords() -> None:
    assert (
        mask_url("postgresql://user:pa55@db.internal:5432/ev") == "postgresql://user:***@db.internal:5432/ev"
    )
    assert mask_url("sqlite:////var/lib/evidence.db") == "sqlite:////var/lib/evidence.db"
    assert "pa55" not in mask_url("weird://user:pa55@host")


def test_default_store_url_is_under_the_working_directory(tmp_path: Path) -> None:
    assert default_store_url(tmp_path) == f"sqlite:///{tmp_path / '.evidence' / 'evidence.db'}"


@pytest.mark.parametrize(
    ("raw", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_database_urls_get_the_installed_driver(raw: str, driver: str) -> None:
    assert _parse_db_url(raw).drivername == driver


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("postgresql+psycopg2://u:secret@h/db", "psycopg driver"),
        ("mysql://u:secret@h/db", "unsupported database"),
        ("sqlite:///:memory:", "in-memory"),
        ("::::", "not a database URL"),
    ],
)
def test_bad_database_urls(raw: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        _parse_db_url(raw)
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize(
    "raw",
    [
        "sqlite:///x.db",
        "sqlite:////var/lib/evidence.db",
        "sqlite:///:memory:",
        "sqlite://",
        "sqlite:///",
        "sqlite:///%3Amemory%3A",
        "postgresql://u@h/db",
        "postgres://u:p%40ss@h:5432/db",
        "postgresql+psycopg://u@[::1]:5432/db",
        "postgresql+psycopg2://u@h/db",
        "postgresql://u@h:notaport/db",
        "postgresql://u@h:/db",
        "mysql://u@h/db",
        "oracle://nowhere/db",
        "not a url",
        "://x",
        "sqlite:/x.db",
        "",
    ],
)
@pytest.mark.parametrize("postgres_env", [True, False], ids=["blobs-and-key", "nothing-set"])
def test_the_preflight_refuses_exactly_what_opening_the_store_refuses(raw: str, postgres_env: bool) -> None:
    """``evidence collect`` checks the store before fetching without importing SQLAlchemy
    (evidence.store_preflight); it must agree with the store's own checks, which run before the store
    opens a database (the URL, and a PostgreSQL store's blob URL and signing key)."""
    from evidence import store_preflight
    from evidence.store.config import STORE_URL_ENV

    env = {"EVIDENCE_BLOB_URL": "file:///nowhere", "EVIDENCE_SIGNING_KEY": "x"} if postgres_env else {}
    try:
        url = _parse_db_url(raw or default_store_url())
    except ConfigError:
        store_refuses = True
    else:
        store_refuses = url.get_backend_name() == "postgresql" and not postgres_env
    assert store_preflight.refused(raw, env) is store_refuses
    assert store_preflight.refused(None, {STORE_URL_ENV: raw, **env}) is store_refuses

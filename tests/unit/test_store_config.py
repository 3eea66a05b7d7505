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

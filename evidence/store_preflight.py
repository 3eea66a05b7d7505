"""Will the store refuse this configuration? Answered before a collection fetches anything, without
importing the database layer (SQLAlchemy takes a second or more to import, which the CLI defers until
the source has answered; see :mod:`evidence.warmup`).

:func:`refused` only says *whether* :func:`evidence.store.open_store` would certainly refuse: a URL that
is not a database URL (SQLAlchemy's own URL grammar, below), a database other than SQLite or
PostgreSQL, a PostgreSQL driver other than psycopg, an in-memory SQLite database, and PostgreSQL
without a blob store or a signing key. The caller then opens the store, which refuses it with its
usual message; ``open_store`` stays the one authority on what a store URL means.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import unquote

STORE_URL_ENV = "EVIDENCE_STORE_URL"  # evidence.store.config.STORE_URL_ENV
BLOB_URL_ENV = "EVIDENCE_BLOB_URL"  # evidence.store.blobs.BLOB_URL_ENV
SIGNING_KEY_ENV = "EVIDENCE_SIGNING_KEY"  # evidence.signing.SIGNING_KEY_ENV

# sqlalchemy.engine.url._parse_url's pattern (SQLAlchemy 2.0), which make_url applies.
_URL = re.compile(
    r"""
        (?P<name>[\w\+]+)://
        (?:
            (?P<username>[^:/]*)
            (?::(?P<password>[^@]*))?
        @)?
        (?:
            (?:
                \[(?P<ipv6host>[^/\?]+)\] |
                (?P<ipv4host>[^/:\?]+)
            )?
            (?::(?P<port>[^/\?]*))?
        )?
        (?:/(?P<database>[^\?]*))?
        (?:\?(?P<query>.*))?
        """,
    re.X,
)


def refused(url: str | None, environ: Mapping[str, str]) -> bool:
    """Whether opening the store to append (``open_store(url, create=True)``) would refuse it."""
    raw = url or environ.get(STORE_URL_ENV)
    if not raw:
        return False  # the embedded default under .evidence/
    match = _URL.match(raw)
    if match is None:
        return True
    if match["port"] is not None:  # present but empty is refused too (SQLAlchemy's URL.create: int(""))
        try:
            int(match["port"])
        except ValueError:
            return True
    driver = match["name"]
    backend = driver.split("+", 1)[0]
    if backend in ("postgresql", "postgres"):
        if driver not in ("postgresql", "postgres", "postgresql+psycopg"):
            return True
        return not environ.get(BLOB_URL_ENV) or not environ.get(SIGNING_KEY_ENV)
    if backend == "sqlite":
        database = match["database"]
        return database is None or unquote(database) in ("", ":memory:")
    return True

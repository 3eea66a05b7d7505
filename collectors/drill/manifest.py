"""What a backup held, recorded when it was taken, and compared after a restore: per table, the row
count and an order-independent checksum of the rows.

The checksum (``hash-sum``, the manifest's ``checksum_algorithm``): each row's 64-bit hash, the sum of
those hashes over the table (exact, as numeric), written ``h:<sum>``. The row hash is PostgreSQL's
``hash_record_extended`` (each column's own extended hash function, the ones hash partitioning relies
on staying stable across versions) mixed once more through ``hashint8extended``, so swapping column
values between rows changes the sum. A sum needs no sort and runs as a parallel scan, and hashing a
value needs no text output: a 1 GB table takes about a second, where md5 over the rows' text took 15.
A table with a column type that has no extended hash (``json``, ``point``...) falls back to the md5
of each row's text (its first 64 bits, summed; ``m:<sum>``), with the session's text output pinned
(UTC, ISO dates) so the two sides print values alike. The same schema takes the same path on both
sides; a different one differs in its checksum, which is what it should do.

Manifests written before it (no ``checksum_algorithm``) hold ``md5-sorted``: the md5 over the sorted
row md5s, 15 s a GB; a restore is compared with the algorithm its manifest was written with.

The manifest is plain JSON beside the backup (a ``pg_basebackup`` folder, a pgBackRest backup set,
inside a restic snapshot). Comparing is a pure function: expected manifest x restored manifest ->
one row per table, with its status.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evidence.files import write_atomic

Manifest = dict[str, Any]

_DATABASES = "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1"
_TABLES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
ORDER BY 1, 2
"""


CHECKSUM = "hash-sum"
LEGACY_CHECKSUM = "md5-sorted"  # manifests without checksum_algorithm
_HASHED = (
    "SELECT count(*), 'h:' || coalesce(sum(hashint8extended(hash_record_extended(t, 0), 0)), 0) FROM {}.{} t"
)
_MD5_SUMMED = (
    "SELECT count(*), 'm:' || coalesce(sum(('x' || left(md5(t::text), 16))::bit(64)::bigint), 0) FROM {}.{} t"
)
_MD5_SORTED = (
    "SELECT count(*), coalesce(md5(string_agg(h, '' ORDER BY h)), '') "
    "FROM (SELECT md5(t::text) AS h FROM {}.{} t) AS rows"
)
_PINNED_OUTPUT = (
    "SET TimeZone = 'UTC'",
    "SET DateStyle = 'ISO, MDY'",
    "SET IntervalStyle = 'postgres'",
    "SET extra_float_digits = 1",
    "SET bytea_output = 'hex'",
)


def algorithm(manifest: Manifest) -> str:
    """The checksum a manifest was written with."""
    return str(manifest.get("checksum_algorithm") or LEGACY_CHECKSUM)


def table_digests(
    conninfo: dict[str, Any], dbname: str, checksum: str = CHECKSUM
) -> dict[str, dict[str, Any]]:
    """Row count and checksum of every user table of one database."""
    import psycopg
    from psycopg import sql

    if checksum not in (CHECKSUM, LEGACY_CHECKSUM):
        raise ValueError(f"unknown manifest checksum {checksum!r}")
    found: dict[str, dict[str, Any]] = {}
    with psycopg.connect(**conninfo, dbname=dbname, autocommit=True) as conn:
        if checksum == CHECKSUM:
            for setting in _PINNED_OUTPUT:
                conn.execute(setting)
        tables = conn.execute(_TABLES).fetchall()
        for schema, table in tables:
            name = (sql.Identifier(schema), sql.Identifier(table))
            if checksum == LEGACY_CHECKSUM:
                row = conn.execute(sql.SQL(_MD5_SORTED).format(*name)).fetchone()
            else:
                try:
                    row = conn.execute(sql.SQL(_HASHED).format(*name)).fetchone()
                except psycopg.errors.UndefinedFunction:  # a column type without an extended hash
                    row = conn.execute(sql.SQL(_MD5_SUMMED).format(*name)).fetchone()
            count, digest = row  # type: ignore[misc]
            found[f"{schema}.{table}"] = {"rows": int(count), "checksum": str(digest)}
    return found


def take(conninfo: dict[str, Any], databases: list[str] | None = None, checksum: str = CHECKSUM) -> Manifest:
    """The manifest of a running cluster (every connectable database, or the ones named)."""
    import psycopg

    if databases is None:
        with psycopg.connect(**conninfo, dbname="postgres", autocommit=True) as conn:
            databases = [r[0] for r in conn.execute(_DATABASES).fetchall()]
    return {
        "taken_at": datetime.now(UTC).isoformat(),
        "checksum_algorithm": checksum,
        "databases": {db: table_digests(conninfo, db, checksum) for db in databases},
    }


def write(manifest: Manifest, path: Path) -> None:
    """Written aside and renamed: a drill reading it meanwhile sees the old manifest or the new one,
    never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(manifest, indent=1, sort_keys=True), mode=0o644)


def read(path: Path) -> Manifest:
    return dict(json.loads(path.read_text()))


def compare(expected: Manifest, restored: Manifest) -> list[dict[str, Any]]:
    """One row per table the backup held: pass when the restore has the same rows and checksum."""
    rows: list[dict[str, Any]] = []
    want_algo, got_algo = algorithm(expected), algorithm(restored)
    for db, tables in sorted(expected.get("databases", {}).items()):
        got_tables = restored.get("databases", {}).get(db)
        for name, want in sorted(tables.items()):
            got = (got_tables or {}).get(name)
            row: dict[str, Any] = {
                "resource": f"{db}/{name}",
                "expected_rows": want["rows"],
                "restored_rows": got["rows"] if got else None,
                "checksum_match": got is not None and got["checksum"] == want["checksum"],
            }
            if got_tables is None:
                row.update(status="fail", reason=f"database {db} missing after restore")
            elif got is not None and want_algo != got_algo:
                row.update(
                    status="fail",
                    checksum_match=False,
                    reason=f"checksums not comparable: manifest {want_algo}, restore {got_algo}",
                )
            elif got is None:
                row.update(status="fail", reason="table missing after restore")
            elif got["rows"] != want["rows"]:
                row.update(status="fail", reason=f"{got['rows']} rows restored, {want['rows']} backed up")
            elif got["checksum"] != want["checksum"]:
                row.update(status="fail", reason="checksum mismatch (same row count, different data)")
            else:
                row.update(status="pass", reason=f"{want['rows']} rows, checksum matches")
            rows.append(row)
    return rows

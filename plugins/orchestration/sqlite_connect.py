"""Connection arguments for an Airflow metadata database on SQLite (the embedded default).

The api-server, scheduler, dag-processor and triggerer all write to one SQLite file. SQLite lets one
writer at a time in and makes the others wait for the lock up to the driver's busy timeout: 5 s by
default in Python's ``sqlite3``, after which the write fails with "database is locked". On a loaded
2-core machine a scheduler loop can hold the lock longer than that, and the REST API then answers
HTTP 500 ("Database error"). Waiting longer costs nothing when the lock is free.

Airflow reads these through ``[database] sql_alchemy_connect_args`` and
``sql_alchemy_connect_args_async`` (import paths), which ``LocalAirflow`` sets for a SQLite metadata
database. This module imports nothing: Airflow imports it while it configures its own ORM.
"""

BUSY_TIMEOUT_SECONDS = 120

SYNC = {"timeout": BUSY_TIMEOUT_SECONDS}  # sqlite3.connect(timeout=...)
ASYNC = {"timeout": BUSY_TIMEOUT_SECONDS}  # aiosqlite.connect passes it on to sqlite3.connect

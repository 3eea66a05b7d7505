"""PostgreSQL evidence, daily: ssl enforced in pg_hba, connection limits, streaming replication,
pgbouncer pooling and pg_verifybackup over the pg_basebackup folder, from the Airflow Postgres
connection (``postgres_default``; its extra may carry pgbouncer_port, basebackup_dir, lag limits)."""

from plugins.orchestration.family_dags import family_dag

dag = family_dag("pgsql", schedule="@daily", tags=("soc2", "dr"), doc_md=__doc__)

"""pgBackRest evidence, daily: stanza check, backup sets, WAL archive continuity, repository cipher and
retention, for every stanza the Airflow connection (``pgbackrest_default``) names."""

from plugins.orchestration.family_dags import family_dag

dag = family_dag("pgbackrest", schedule="@daily", tags=("soc2", "dr"), doc_md=__doc__)

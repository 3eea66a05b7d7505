"""restic evidence, daily: snapshot freshness, ``restic check`` and repository encryption for every
repository the Airflow connection (``restic_default``) names."""

from plugins.orchestration.family_dags import family_dag

dag = family_dag("restic", schedule="@daily", tags=("soc2", "dr"), doc_md=__doc__)

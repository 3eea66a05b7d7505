"""Scheduled restore drills (an Airflow DAG): weekly, when the ``drill_default`` connection names a
backup source (otherwise nothing is planned; on-demand drills are the ``dr_drill`` DAG)."""

from plugins.orchestration.family_dags import family_dag

dag = family_dag("drill", schedule="@weekly", tags=("dr",), doc_md=__doc__)

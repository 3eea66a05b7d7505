"""Redis evidence, daily, through Airflow: every redis collector over every configured server.

Thin wiring: the DAG is built by ``plugins.orchestration.family_dags.family_dag`` from the family's
declarations. Servers and credentials come from the Airflow connection ``redis_default`` (host, port, login,
password; its extra may list more servers under ``urls``) or the EVIDENCE_REDIS_* variables.
"""

from plugins.orchestration.family_dags import family_dag

dag = family_dag("redis", schedule="@daily", tags=("soc2", "gdpr"), doc_md=__doc__)

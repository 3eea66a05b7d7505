"""HTTPS endpoint evidence, daily, through Airflow: every https collector over every configured URL.

Thin wiring: the DAG is built by ``plugins.orchestration.family_dags.family_dag`` from the family's
declarations. Endpoints come from the Airflow connection ``https_endpoints_default`` (its extra lists ``urls``
and ``http_urls``) or the EVIDENCE_HTTPS_* variables; no credentials are sent.
"""

from plugins.orchestration.family_dags import family_dag

dag = family_dag("https", schedule="@daily", tags=("soc2", "gdpr"), doc_md=__doc__)

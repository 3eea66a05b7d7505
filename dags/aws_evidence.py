"""AWS evidence, daily, through Airflow: every AWS collector over every configured account and region.

Thin wiring: the DAG is built by ``plugins.orchestration.family_dags.family_dag`` from the AWS
collector family's declarations (its collectors, evidence types and settings become the params of
the trigger form). Credentials come from the Airflow AWS connection (``conn_id``, default
``aws_default``): its login/password, or boto3's chain; its extra may carry ``endpoint_url`` (an
emulator or private endpoint), ``regions``, ``accounts`` and ``concurrency``.
"""

from plugins.orchestration.family_dags import family_dag

dag = family_dag("aws", schedule="@daily", tags=("soc2", "gdpr"), doc_md=__doc__)

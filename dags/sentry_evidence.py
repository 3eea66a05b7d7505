"""Sentry evidence, daily, through Airflow: organization settings and teams, and every project's
client keys, event volume, alert rules and grouping.

Thin wiring: the DAG is built by ``plugins.orchestration.family_dags.family_dag`` from the Sentry
collector family's declarations. Credentials come from an Airflow HTTP connection (``conn_id``,
default ``sentry_default``): host (default https://sentry.io), password = an auth token with the scopes
``evidence policy sentry`` prints, extra ``organization``.
"""

from plugins.orchestration.family_dags import family_dag

dag = family_dag("sentry", schedule="@daily", tags=("soc2", "gdpr"), doc_md=__doc__)

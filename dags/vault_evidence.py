"""Vault evidence, daily, through Airflow: the server's sys/ configuration and KV v2 secret metadata.

Thin wiring: the DAG is built by ``plugins.orchestration.family_dags.family_dag`` from the Vault
collector family's declarations. Credentials come from the Airflow Vault connection (``conn_id``,
default ``vault_default``): host/port (or extra ``url``), password as the token, or login/password as
an AppRole role_id/secret_id (extra ``auth_type: approle``); the extra may set ``kv_mounts`` and the
age/TTL limits. The token needs the policy ``evidence policy vault`` prints.
"""

from plugins.orchestration.family_dags import family_dag

dag = family_dag("vault", schedule="@daily", tags=("soc2", "gdpr"), doc_md=__doc__)

"""Event-driven collection through Airflow: SQS (AWS Config / AWS Backup via EventBridge) and Redis
pub/sub messages through AssetWatchers, and asset events posted to the REST API, each collect exactly
the evidence types and resource they name. Built by ``plugins.orchestration.events.events_dag``.
"""

from plugins.orchestration.events import events_dag

dag = events_dag()

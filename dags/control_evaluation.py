"""Control evaluation through Airflow, whenever evidence is collected: posture recomputed, stale
controls marked, a posture snapshot appended as evidence, regressions notified once (SMTP, webhook).
Built by ``plugins.orchestration.evaluation.evaluation_dag``; see its documentation for the settings.
"""

from plugins.orchestration.evaluation import evaluation_dag

dag = evaluation_dag()

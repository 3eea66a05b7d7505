"""DR drill, on demand: restore a real backup (pgBackRest, pg_basebackup, restic) into a scratch
cluster, verify it, measure RTO and RPO against the targets, and append one ``drill.restore.postgres`` record;
or (kind failover/replication) fail a scratch primary over to its streaming standby
(``drill.failover.postgres``) or measure the standby's lag and catch-up (``drill.replication.postgres``).

Trigger it from the Airflow UI's trigger form or through the REST API
(``POST /api/v2/dags/dr_drill/dagRuns`` with ``conf``: kind, target, backup_source, backup_id,
rto_target_seconds, rpo_target_seconds, check_sql, database, keep). Thin wiring: the drill is the
``drill`` collector family's, the same code path as ``evidence drill restore|failover|replication``.
"""

from plugins.orchestration.drills import dr_drill_dag

dag = dr_drill_dag(doc_md=__doc__)

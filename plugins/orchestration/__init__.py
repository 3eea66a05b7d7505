"""Airflow at the edge: the DAG factories and task bodies that run the core and the collector
families through Airflow. DAG files under ``dags/`` are one call each into this package.

Nothing here holds business logic: collection is ``family.collect``, evaluation is
``evidence.posture.assess`` and ``evidence.evaluation``, events are ``family.units_for_event``.
This package turns Airflow's context (run type, triggering asset events, executor, connections)
into the core's terms, and the core's results into Airflow's (asset events, notifications).
"""

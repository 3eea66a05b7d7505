"""The Compliance section of the Airflow UI: posture, controls, evidence, exceptions, attestations,
reminders, DR drills and auditor bundles (``plugin`` registers it; ``app`` serves it; ``views`` holds
the queries and view models, with no Airflow)."""

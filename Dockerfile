# The Airflow image with this project installed (used by docker-compose.yml).
# Versions follow uv.lock: Airflow 3.3.2 on Python 3.11.
FROM apache/airflow:3.3.2-python3.11
USER airflow
COPY --chown=airflow:root pyproject.toml uv.lock README.md /opt/evidence/
COPY --chown=airflow:root evidence /opt/evidence/evidence
COPY --chown=airflow:root collectors /opt/evidence/collectors
COPY --chown=airflow:root plugins /opt/evidence/plugins
COPY --chown=airflow:root evidence_schemas /opt/evidence/evidence_schemas
RUN pip install --no-cache-dir "/opt/evidence[airflow]"
COPY --chown=airflow:root dags /opt/airflow/dags

# The Airflow image with this project installed (docker-compose.yml). Versions follow uv.lock: Airflow
# 3.3.2 on Python 3.11; every other dependency is installed at the locked version (uv export), and the
# project itself in editable mode, so the source folders docker-compose.yml mounts are the code that runs
# (DAGs, plugins, collectors, the core) and its entry points (collector families, the Airflow plugin).
FROM apache/airflow:3.3.2-python3.11
USER airflow
COPY --chown=airflow:root pyproject.toml uv.lock README.md /opt/evidence/
COPY --chown=airflow:root evidence /opt/evidence/evidence
COPY --chown=airflow:root collectors /opt/evidence/collectors
COPY --chown=airflow:root plugins /opt/evidence/plugins
COPY --chown=airflow:root evidence_schemas /opt/evidence/evidence_schemas
RUN pip install --no-cache-dir uv==0.13.8 \
 && cd /opt/evidence \
 && uv export --frozen --no-dev --extra airflow --no-emit-project --no-hashes -o /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && pip install --no-cache-dir --no-deps -e /opt/evidence \
 && rm /tmp/requirements.txt
COPY --chown=airflow:root dags /opt/airflow/dags

#!/usr/bin/env bash
# docker-entrypoint-initdb.d hook of the postgres image (docker-compose.yml): the evidence store's roles
# and database from deploy/postgres-init.sql, with the passwords from the environment (.env, generated
# by scripts/compose-env). No password is written in the repository; a missing one stops the init.
set -euo pipefail
: "${EVIDENCE_DB_OWNER_PASSWORD:?set EVIDENCE_DB_OWNER_PASSWORD (scripts/compose-env)}"
: "${EVIDENCE_DB_APP_PASSWORD:?set EVIDENCE_DB_APP_PASSWORD (scripts/compose-env)}"
: "${EVIDENCE_DB_AUDITOR_PASSWORD:?set EVIDENCE_DB_AUDITOR_PASSWORD (scripts/compose-env)}"
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER}" --dbname "${POSTGRES_DB}" \
  -v owner_password="${EVIDENCE_DB_OWNER_PASSWORD}" \
  -v app_password="${EVIDENCE_DB_APP_PASSWORD}" \
  -v auditor_password="${EVIDENCE_DB_AUDITOR_PASSWORD}" \
  -f /deploy/postgres-init.sql

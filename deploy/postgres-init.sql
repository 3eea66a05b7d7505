-- The evidence store's PostgreSQL roles and database, least privilege (run once, as a superuser;
-- docker-compose mounts it into the postgres image's docker-entrypoint-initdb.d).
--
--   evidence_owner    owns the database, the schema and the tables: creates and upgrades the schema
--                     (`evidence --store postgresql://evidence_owner@host/evidence init`), nothing else.
--                     Only it can drop or disable the append-only triggers: keep its credential off the
--                     Airflow workers.
--   evidence          the application (Airflow workers, the CLI that appends): SELECT and INSERT only.
--                     It cannot UPDATE, DELETE, TRUNCATE, ALTER or DROP anything, so its credential
--                     cannot remove the triggers or rewrite history.
--   evidence_auditor  SELECT only (`evidence verify`, `list`, `show`, proofs).
--
-- Names can be set with psql variables (-v owner=... -v app=... -v auditor=... -v db=...); the passwords
-- must be (-v owner_password=... -v app_password=... -v auditor_password=...): none is written here.
-- docker-compose.yml runs this through deploy/postgres-init.sh with the passwords from .env.

\if :{?owner} \else \set owner evidence_owner \endif
\if :{?app} \else \set app evidence \endif
\if :{?auditor} \else \set auditor evidence_auditor \endif
\if :{?db} \else \set db evidence \endif
\set ON_ERROR_STOP on
\if :{?owner_password} \else
  DO $$ BEGIN RAISE EXCEPTION 'no password for the owner role: psql -v owner_password=...'; END $$;
\endif
\if :{?app_password} \else
  DO $$ BEGIN RAISE EXCEPTION 'no password for the application role: psql -v app_password=...'; END $$;
\endif
\if :{?auditor_password} \else
  DO $$ BEGIN RAISE EXCEPTION 'no password for the auditor role: psql -v auditor_password=...'; END $$;
\endif

CREATE ROLE :"owner" LOGIN PASSWORD :'owner_password';
CREATE ROLE :"app" LOGIN PASSWORD :'app_password';
CREATE ROLE :"auditor" LOGIN PASSWORD :'auditor_password';
CREATE DATABASE :"db" OWNER :"owner";

\connect :"db"
-- Only the owner creates objects; the others may use the schema and the tables it creates.
ALTER SCHEMA public OWNER TO :"owner";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app", :"auditor";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT, INSERT ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO :"auditor";

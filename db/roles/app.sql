-- The app's own login role: it reads the catalog and nothing else. Run by the one-shot
-- compose service postgres-roles each time Postgres starts, and by backup.restore after a
-- database is restored. Idempotent. The role and its password come from the environment
-- (psql's \getenv), so they are never part of the SQL text or of a command line.
SET client_min_messages = warning;
\getenv app_role APP_ROLE
\getenv app_password APP_ROLE_PASSWORD

SELECT format('CREATE ROLE %I', :'app_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') \gexec

ALTER ROLE :"app_role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
    NOBYPASSRLS CONNECTION LIMIT 20 PASSWORD :'app_password';
ALTER ROLE :"app_role" SET default_transaction_read_only = on;

GRANT CONNECT ON DATABASE :"DBNAME" TO :"app_role";
-- The seed makes the schema on first start; made here too, so the grants hold before it.
CREATE SCHEMA IF NOT EXISTS mirante;
GRANT USAGE ON SCHEMA mirante TO :"app_role";
GRANT SELECT ON ALL TABLES IN SCHEMA mirante TO :"app_role";
-- Tables the seed (run as the superuser) adds later are readable too.
ALTER DEFAULT PRIVILEGES IN SCHEMA mirante GRANT SELECT ON TABLES TO :"app_role";

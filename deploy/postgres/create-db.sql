-- The govbot database and its role, least privilege: run once as a PostgreSQL superuser,
--   psql -v ON_ERROR_STOP=1 -v pw="$(cat govbot-db-password)" -f create-db.sql
-- The role is no superuser, cannot create databases or roles, and owns only the schema
-- `govbot`, where `govbot migrate` creates every table (its search_path starts with
-- "$user"). citext (a trusted extension shipped with PostgreSQL) is created here by the
-- superuser, so migration 003's CREATE EXTENSION IF NOT EXISTS finds it.
-- UTF-8 with a UTF-8 locale: the inbox search folds case by it (C.UTF-8 or kk_KZ.UTF-8).
-- CONNECTION LIMIT: instances x DATABASE_POOL_SIZE, plus one per instance while it starts,
-- plus a few for `govbot` commands and pg_dump (docs/DEPLOY.md, PostgreSQL).
CREATE ROLE govbot LOGIN PASSWORD :'pw' NOSUPERUSER NOCREATEDB NOCREATEROLE CONNECTION LIMIT 60;
CREATE DATABASE govbot TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8';
REVOKE ALL ON DATABASE govbot FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE govbot TO govbot;
\connect govbot
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO govbot;
CREATE EXTENSION IF NOT EXISTS citext SCHEMA public;
CREATE SCHEMA govbot AUTHORIZATION govbot;

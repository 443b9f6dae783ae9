-- A database for govbot, least privilege. Run as a PostgreSQL superuser:
--   psql -v ON_ERROR_STOP=1 -v db=govbot -f create-database.sql
-- The role govbot (create-role.sql) may connect and owns only the schema `govbot`, where
-- `govbot migrate` creates every table (its search_path starts with "$user"). citext (a
-- trusted extension shipped with PostgreSQL) is created here by the superuser, so that
-- migration 003's CREATE EXTENSION IF NOT EXISTS finds it. UTF-8 with a UTF-8 locale: the
-- inbox search folds case by it (C.UTF-8, or kk_KZ.UTF-8 where the OS has it).
-- For a restore, add -v restore=1: the dump brings the schema `govbot` itself.
CREATE DATABASE :"db" TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8';
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO govbot;
\connect :"db"
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO govbot;
CREATE EXTENSION IF NOT EXISTS citext SCHEMA public;
\if :{?restore}
\else
CREATE SCHEMA govbot AUTHORIZATION govbot;
\endif

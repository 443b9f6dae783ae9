-- The role govbot logs in as: no superuser, cannot create databases or roles. Run once per
-- cluster as a PostgreSQL superuser (on the database host: sudo -u postgres psql ...):
--   psql -v ON_ERROR_STOP=1 -v pw="$(cat govbot-db-password)" -f create-role.sql
-- CONNECTION LIMIT: instances x DATABASE_POOL_SIZE, plus DATABASE_POOL_SIZE for each
-- `govbot` command running beside them (each opens a pool too); see docs/DEPLOY.md.
CREATE ROLE govbot LOGIN PASSWORD :'pw' NOSUPERUSER NOCREATEDB NOCREATEROLE CONNECTION LIMIT 60;

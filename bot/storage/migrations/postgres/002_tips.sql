-- As sqlite/002_tips.sql.
ALTER TABLE tickets ADD COLUMN identity BYTEA;
ALTER TABLE tickets ADD COLUMN owner_hash TEXT;
CREATE INDEX tickets_owner ON tickets (owner_hash) WHERE owner_hash IS NOT NULL;

-- Corruption tips: a confidential tipster's contact, sealed with DATA_KEY (investigators
-- only), and a keyed hash of the filing chat so that chat alone can open the tip by its
-- reference. Both stay NULL for anonymous tips, which keep nothing about the sender.
ALTER TABLE tickets ADD COLUMN identity BLOB;
ALTER TABLE tickets ADD COLUMN owner_hash TEXT;
CREATE INDEX tickets_owner ON tickets (owner_hash) WHERE owner_hash IS NOT NULL;

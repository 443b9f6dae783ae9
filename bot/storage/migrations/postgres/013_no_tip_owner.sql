-- As sqlite/013_no_tip_owner.sql.
UPDATE tickets SET owner_hash = NULL WHERE owner_hash IS NOT NULL;

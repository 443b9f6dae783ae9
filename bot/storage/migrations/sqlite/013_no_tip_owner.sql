-- A confidential tip no longer keeps a keyed hash of the chat that filed it: with DATA_KEY
-- the hash named the chat. The tipster finds the tip by the receipt; investigators reach
-- them through the contact sealed to the tip's staff-only key.
UPDATE tickets SET owner_hash = NULL WHERE owner_hash IS NOT NULL;

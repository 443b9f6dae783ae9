-- Further keys of a citizen's chat (issue 16, WhatsApp usernames). Since 2026 WhatsApp names
-- a user by a business-scoped user ID (BSUID) beside, or instead of, their number; a webhook
-- that names both links them here, so the citizen keeps tickets, news, conversation and
-- status whichever of the two their next message comes from. citizens.chat_hash stays the
-- key the citizen last wrote from (where answers go); the others live here. As in citizens,
-- a key is a keyed hash for lookups and encrypted for key rotation, never plaintext.
CREATE TABLE citizen_keys (
    id         INTEGER PRIMARY KEY,
    channel    TEXT    NOT NULL,
    key_hash   TEXT    NOT NULL,
    address    BLOB    NOT NULL,
    citizen_id INTEGER NOT NULL REFERENCES citizens (id) ON DELETE CASCADE,
    UNIQUE (channel, key_hash)
);
CREATE INDEX citizen_keys_citizen ON citizen_keys (citizen_id);

-- Sealed tips (bot/sealing.py): each tip has a key pair of its own; everything in it is
-- sealed to its public key, and its private key is wrapped for each holder. Tips keep
-- their row in `tickets` but take random ids above 2^40, where the sequence of the other
-- tickets (and of their messages and events) never goes: no id orders a tip among them.
ALTER TABLE tickets ADD COLUMN tip_public BLOB;
-- The receipt's first six digits, hashed without a key: finds the few tips a receipt may
-- open; the whole receipt (Argon2id) is what opens one.
ALTER TABLE tickets ADD COLUMN receipt_locator TEXT;
CREATE INDEX tickets_receipt_locator ON tickets (receipt_locator)
    WHERE receipt_locator IS NOT NULL;

-- A tip's private key, wrapped for 'staff:<id>', 'recovery' or 'receipt'.
CREATE TABLE tip_keys (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    holder    TEXT    NOT NULL,
    wrapped   BLOB    NOT NULL,
    PRIMARY KEY (ticket_id, holder)
) WITHOUT ROWID;

-- A tip's files, sealed inside the database: no file on disk, so no inode times.
CREATE TABLE tip_files (
    id           INTEGER PRIMARY KEY,  -- random, like the tip's
    ticket_id    INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    sealed       BLOB    NOT NULL
);
CREATE INDEX tip_files_ticket ON tip_files (ticket_id);

-- Investigators' key pairs; the private half wrapped under Argon2id of their password.
CREATE TABLE staff_keys (
    staff_id        INTEGER PRIMARY KEY REFERENCES staff_users (id) ON DELETE CASCADE,
    public_key      BLOB    NOT NULL,
    wrapped_private BLOB    NOT NULL
);

-- The recovery key's public half; its private half is printed once and kept offline.
CREATE TABLE recovery_key (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    public_key BLOB NOT NULL
);

-- A signed-in investigator's private key, wrapped under a key derived from the session
-- cookie (which the database keeps only hashed).
ALTER TABLE staff_sessions ADD COLUMN tip_key BLOB;

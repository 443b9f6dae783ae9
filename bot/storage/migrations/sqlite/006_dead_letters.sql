-- Inbound updates that could not be taken: unparsable, or a leftover inbox row that can no
-- longer be read. Moved here instead of being retried, so one bad update can neither fail
-- every start nor be replayed for ever. `reason` names the error (class, field), never
-- content; `payload` is the raw update sealed exactly as in the inbox (context "inbox"),
-- NULL when there was none.
CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY,
    channel     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    payload     BLOB,
    received_at TEXT NOT NULL,
    failed_at   TEXT NOT NULL
);

CREATE INDEX dead_letters_failed_at ON dead_letters (failed_at);

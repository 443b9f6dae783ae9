-- Staff console: accounts, signed-in sessions, API tokens and the audit log.

CREATE TABLE staff_users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT    NOT NULL,   -- Argon2id, PHC string
    role          TEXT    NOT NULL
                  CHECK (role IN ('admin', 'reviewer', 'investigator', 'operator')),
    locale        TEXT    NOT NULL DEFAULT 'kk',
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT    NOT NULL
);

-- A signed-in browser. The cookie carries the random id (signed); only its hash is kept.
CREATE TABLE staff_sessions (
    id_hash      TEXT    PRIMARY KEY,
    staff_id     INTEGER NOT NULL REFERENCES staff_users (id) ON DELETE CASCADE,
    created_at   TEXT    NOT NULL,
    last_seen_at TEXT    NOT NULL,
    ip           TEXT
) WITHOUT ROWID;
CREATE INDEX staff_sessions_user ON staff_sessions (staff_id);

-- Per-user tokens for the JSON API; only a hash of the token is stored.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    staff_id     INTEGER NOT NULL REFERENCES staff_users (id) ON DELETE CASCADE,
    token_hash   TEXT    NOT NULL UNIQUE,
    label        TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);

-- Append-only: every entry's hash covers the previous entry's hash, so an edited or deleted
-- row breaks the chain. AUTOINCREMENT keeps ids from ever being reused, so removing the
-- newest rows shows as a gap against sqlite_sequence.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT    NOT NULL,
    actor     TEXT    NOT NULL,
    role      TEXT,
    action    TEXT    NOT NULL,
    target    TEXT,
    detail    TEXT    NOT NULL DEFAULT '{}',
    ip        TEXT,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE INDEX tickets_created ON tickets (created_at);
CREATE INDEX tickets_due ON tickets (status, due_on);
CREATE INDEX ticket_messages_outbox ON ticket_messages (outbox_id);

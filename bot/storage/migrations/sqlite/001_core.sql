-- Citizens, conversations and tickets: what the citizen-facing flows need.
-- A citizen's chat key (Telegram chat id, WhatsApp number) is never stored in plaintext:
-- `chat_hash` is a keyed hash for lookups, `address` the encrypted key for sending.
CREATE TABLE citizens (
    id              INTEGER PRIMARY KEY,
    channel         TEXT    NOT NULL,
    chat_hash       TEXT    NOT NULL,
    address         BLOB    NOT NULL,
    locale          TEXT,
    region          TEXT,
    subscribed      INTEGER NOT NULL DEFAULT 0,
    sub_regions     TEXT    NOT NULL DEFAULT '[]',
    unreachable     INTEGER NOT NULL DEFAULT 0,
    last_inbound_at TEXT,
    created_at      TEXT    NOT NULL,
    UNIQUE (channel, chat_hash)
);
CREATE INDEX citizens_subscribed ON citizens (subscribed, channel, locale);

-- One open conversation per citizen; `data` is encrypted JSON (drafts hold personal data).
CREATE TABLE sessions (
    citizen_id INTEGER PRIMARY KEY REFERENCES citizens (id) ON DELETE CASCADE,
    flow       TEXT NOT NULL,
    state      TEXT NOT NULL,
    data       BLOB NOT NULL,
    updated_at TEXT NOT NULL
);

-- External message ids already handled, stored as keyed hashes (dedupe without a trail).
CREATE TABLE processed_ids (
    key          TEXT PRIMARY KEY,
    processed_at TEXT NOT NULL
) WITHOUT ROWID;

-- Webhook updates recorded before the HTTP answer, removed once handled.
CREATE TABLE inbox (
    id          INTEGER PRIMARY KEY,
    channel     TEXT NOT NULL,
    payload     BLOB NOT NULL,
    received_at TEXT NOT NULL
);

CREATE TABLE tickets (
    id          INTEGER PRIMARY KEY,
    reference   TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL CHECK (kind IN ('complaint', 'feedback', 'tip')),
    status      TEXT    NOT NULL DEFAULT 'new'
                CHECK (status IN ('new', 'in_review', 'waiting', 'resolved', 'rejected')),
    privacy     TEXT    NOT NULL DEFAULT 'named'
                CHECK (privacy IN ('named', 'confidential', 'anonymous')),
    citizen_id  INTEGER REFERENCES citizens (id),  -- NULL for anonymous tips, always
    channel     TEXT,
    locale      TEXT    NOT NULL,
    category    TEXT,
    subject     TEXT,   -- state body or service centre: a code from data/ or typed text
    region      TEXT,
    rating      INTEGER CHECK (rating BETWEEN 1 AND 5),
    summary     TEXT,   -- the citizen's own words (NULL for tips: they live in `sealed`)
    details     TEXT    NOT NULL DEFAULT '{}',  -- JSON of further fields (NULL-free)
    sealed      BLOB,   -- tips: encrypted JSON of everything the tipster said
    receipt_hash TEXT   UNIQUE,
    due_on      TEXT,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    assignee_id INTEGER,
    version     INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX tickets_citizen ON tickets (citizen_id);
CREATE INDEX tickets_status ON tickets (kind, status);

CREATE TABLE ticket_attachments (
    id           INTEGER PRIMARY KEY,
    ticket_id    INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    blob_id      TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    file_name    TEXT
);
CREATE INDEX ticket_attachments_ticket ON ticket_attachments (ticket_id);

-- The thread between staff and the citizen. `body` is plaintext, `sealed` encrypted (tips).
CREATE TABLE ticket_messages (
    id         INTEGER PRIMARY KEY,
    ticket_id  INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    author     TEXT    NOT NULL CHECK (author IN ('citizen', 'staff', 'system')),
    staff_id   INTEGER,
    internal   INTEGER NOT NULL DEFAULT 0,
    body       TEXT,
    sealed     BLOB,
    outbox_id  INTEGER,
    created_at TEXT    NOT NULL
);
CREATE INDEX ticket_messages_ticket ON ticket_messages (ticket_id);

CREATE TABLE ticket_events (
    id         INTEGER PRIMARY KEY,
    ticket_id  INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT '{}',
    created_at TEXT    NOT NULL
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id);

-- Every service-quality rating, for statistics; low ones also open a ticket.
CREATE TABLE ratings (
    id         INTEGER PRIMARY KEY,
    category   TEXT    NOT NULL,
    centre     TEXT,
    region     TEXT,
    rating     INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    reasons    TEXT    NOT NULL DEFAULT '[]',
    ticket_id  INTEGER REFERENCES tickets (id),
    locale     TEXT    NOT NULL,
    created_at TEXT    NOT NULL
);
CREATE INDEX ratings_created ON ratings (created_at);

-- Messages that leave outside a conversation turn: staff replies, status notes, held
-- WhatsApp messages. One row each, so delivery state is visible and nothing is sent twice.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    citizen_id   INTEGER NOT NULL REFERENCES citizens (id),
    channel      TEXT    NOT NULL,
    purpose      TEXT    NOT NULL,
    payload      BLOB    NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'held', 'sending', 'sent', 'delivered', 'read',
                                   'failed', 'undelivered')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    external_id  TEXT,
    next_attempt_at TEXT NOT NULL,
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_external ON outbox (external_id);

-- Wrong reference/receipt attempts per chat (keyed hash), to make guessing receipts futile.
CREATE TABLE lookup_attempts (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start TEXT    NOT NULL,
    locked_until TEXT
) WITHOUT ROWID;

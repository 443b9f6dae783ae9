-- As sqlite/021_media_tokens.sql.
ALTER TABLE ticket_attachments ADD COLUMN message_id BIGINT REFERENCES ticket_messages (id);

CREATE TABLE media_tokens (
    tag        TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL
);

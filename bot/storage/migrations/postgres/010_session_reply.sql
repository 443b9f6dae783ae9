-- As sqlite/010_session_reply.sql.
ALTER TABLE sessions ADD COLUMN reply BYTEA;
ALTER TABLE sessions ADD COLUMN reply_key TEXT;
ALTER TABLE sessions ADD COLUMN reply_seq BIGINT;
CREATE INDEX sessions_reply_seq ON sessions (reply_seq) WHERE reply_seq IS NOT NULL;
CREATE TABLE reply_watermark (
    id      BIGINT PRIMARY KEY CHECK (id = 1),
    sent_to BIGINT NOT NULL
);

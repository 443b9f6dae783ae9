-- A conversation's last answer is kept with its session, written by the same statement as
-- the step's state (a separate outbox row per step cost a fifth of the bot's throughput).
-- `reply_seq` orders the answers as their steps committed; the outbox worker records in
-- `reply_watermark` the sequence number up to which every answer was sent, so a start
-- after a crash sends again exactly the answers after it.
ALTER TABLE sessions ADD COLUMN reply BLOB;
ALTER TABLE sessions ADD COLUMN reply_key TEXT;
ALTER TABLE sessions ADD COLUMN reply_seq INTEGER;
CREATE INDEX sessions_reply_seq ON sessions (reply_seq) WHERE reply_seq IS NOT NULL;
CREATE TABLE reply_watermark (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    sent_to INTEGER NOT NULL
);

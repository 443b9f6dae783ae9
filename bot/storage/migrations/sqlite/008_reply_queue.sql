-- An answer that a step could not deliver itself (a failed send, or one found unsent after
-- a crash) becomes an outbox row; `inbound_key` is the dedupe key of the message it
-- answers, so a platform's retry of that message can be answered with it instead.
ALTER TABLE outbox ADD COLUMN inbound_key TEXT;
CREATE INDEX outbox_inbound ON outbox (inbound_key) WHERE inbound_key IS NOT NULL;

-- As sqlite/008_reply_queue.sql.
ALTER TABLE outbox ADD COLUMN inbound_key TEXT;
CREATE INDEX outbox_inbound ON outbox (inbound_key) WHERE inbound_key IS NOT NULL;

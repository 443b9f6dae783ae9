-- Conversation replies are written in the step's transaction before they are sent (the
-- outbox rows with purpose 'reply'); `inbound_key` is the dedupe key of the message they
-- answer, so a platform's retry of that message can be answered with them again.
ALTER TABLE outbox ADD COLUMN inbound_key TEXT;
CREATE INDEX outbox_inbound ON outbox (inbound_key) WHERE inbound_key IS NOT NULL;

-- Conversation replies pass through the outbox at the rate citizens write (inserted in the
-- step, deleted once sent): the indexes that only the worker's claims and Twilio's status
-- reports use now cover just the rows those look for.
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
DROP INDEX outbox_external;
CREATE INDEX outbox_external ON outbox (external_id) WHERE external_id IS NOT NULL;

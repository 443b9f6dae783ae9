-- As sqlite/009_lean_outbox_indexes.sql.
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
DROP INDEX outbox_external;
CREATE INDEX outbox_external ON outbox (external_id) WHERE external_id IS NOT NULL;

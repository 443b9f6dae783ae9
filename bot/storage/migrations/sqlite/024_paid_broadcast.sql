-- Telegram paid broadcasts (Bot API allow_paid_broadcast): the operator's explicit choice
-- per campaign, 0 or 1. Each delivery row carries its lane (`paid`: a Telegram row of a
-- paid campaign), so the engine claims each lane's rows at that lane's rate from one index.
ALTER TABLE campaigns ADD COLUMN paid_broadcast INTEGER NOT NULL DEFAULT 0;
ALTER TABLE campaign_deliveries ADD COLUMN paid INTEGER NOT NULL DEFAULT 0;
DROP INDEX campaign_deliveries_due;
CREATE INDEX campaign_deliveries_due
    ON campaign_deliveries (channel, paid, status, next_attempt_at);

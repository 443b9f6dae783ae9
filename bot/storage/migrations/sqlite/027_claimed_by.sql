-- Several instances (issue 17): the instance that marked a row 'sending'. When an instance
-- dies (its "instance:<id>" lease expires), the others recover its rows and only its rows:
-- a campaign delivery becomes 'unknown' (at most once), an outbox row goes back to
-- 'pending'. NULL on a single SQLite instance, which recovers everything on start.
ALTER TABLE campaign_deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;

-- A step's answer kept with its session names the instance that numbers and sends it;
-- each instance records how far it has sent (its watermark), so that the answers of one
-- that died are sent by another, and nobody else's.
ALTER TABLE sessions ADD COLUMN reply_by TEXT;
CREATE TABLE reply_watermarks (
    holder  TEXT PRIMARY KEY,
    sent_to INTEGER NOT NULL
);

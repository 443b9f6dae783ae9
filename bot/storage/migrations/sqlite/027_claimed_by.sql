-- Several instances (issue 17): the instance that marked an outbox row 'sending'. When an
-- instance dies (its "instance:<id>" lease expires), the others put its rows, and only
-- its rows, back to 'pending'. NULL on a single SQLite instance, which recovers every row
-- on start. (Campaign deliveries keep a lease of their own: bot/campaigns/engine.py.)
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;

-- A step's answer kept with its session names the instance that numbers and sends it;
-- each instance records how far it has sent (its watermark), so that the answers of one
-- that died are sent by another, and nobody else's.
ALTER TABLE sessions ADD COLUMN reply_by TEXT;
CREATE TABLE reply_watermarks (
    holder  TEXT PRIMARY KEY,
    sent_to INTEGER NOT NULL
);

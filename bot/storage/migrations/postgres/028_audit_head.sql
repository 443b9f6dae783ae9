-- The highest audit id ever written, kept beside the log as SQLite keeps it in
-- sqlite_sequence: `audit verify` compares the last row with it, so that deleting the
-- newest entries (triggers dropped first) shows as entries missing at the end. Written
-- by a trigger in the same transaction as the row, so a rolled-back entry leaves no gap.
CREATE TABLE audit_head (
    one     INTEGER PRIMARY KEY CHECK (one = 1),
    last_id BIGINT  NOT NULL
);
INSERT INTO audit_head (one, last_id) SELECT 1, coalesce(max(id), 0) FROM audit_log;

CREATE FUNCTION audit_head_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE audit_head SET last_id = greatest(last_id, NEW.id) WHERE one = 1;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_head_follow AFTER INSERT ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_head_follow();

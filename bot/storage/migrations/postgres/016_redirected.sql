-- As sqlite/016_redirected.sql: PostgreSQL widens the status CHECK by replacing it.
ALTER TABLE tickets ADD COLUMN redirected_to TEXT;
ALTER TABLE tickets DROP CONSTRAINT tickets_status_check;
ALTER TABLE tickets ADD CONSTRAINT tickets_status_check
    CHECK (status IN ('new', 'in_review', 'waiting', 'resolved', 'rejected', 'redirected'));

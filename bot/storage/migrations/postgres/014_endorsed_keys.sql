-- As sqlite/014_endorsed_keys.sql.
ALTER TABLE staff_keys ADD COLUMN endorsed BIGINT NOT NULL DEFAULT 0;
UPDATE staff_keys SET endorsed = 1
WHERE staff_id NOT IN (
    SELECT u.id FROM staff_users u JOIN audit_log a ON a.target = u.username::text
    WHERE a.actor LIKE 'staff:%'
      AND a.action IN ('account.add', 'account.password', 'account.role')
);
ALTER TABLE staff_keys ADD COLUMN made_on TEXT;
ALTER TABLE staff_keys ADD COLUMN made_by TEXT;

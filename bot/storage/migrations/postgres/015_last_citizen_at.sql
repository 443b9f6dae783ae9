-- As sqlite/015_last_citizen_at.sql.
ALTER TABLE tickets ADD COLUMN last_citizen_at TEXT;
UPDATE tickets SET last_citizen_at = (
    SELECT max(m.created_at) FROM ticket_messages m
    WHERE m.ticket_id = tickets.id AND m.author = 'citizen'
);

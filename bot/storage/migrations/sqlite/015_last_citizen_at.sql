-- When the citizen last wrote to the ticket (an answer in the chat, a reply from the
-- status flow): the inbox shows who is waiting for whom. updated_at keeps its meaning
-- (any change by anyone); this one moves only on the citizen's own messages.
ALTER TABLE tickets ADD COLUMN last_citizen_at TEXT;
UPDATE tickets SET last_citizen_at = (
    SELECT max(m.created_at) FROM ticket_messages m
    WHERE m.ticket_id = tickets.id AND m.author = 'citizen'
);

-- Inbox search that ignores case in every alphabet: SQLite's LIKE folds ASCII only, so
-- "цон" missed "ЦОН". One full-text row per ticket (rowid = ticket id), tokenised by
-- unicode61 with diacritics kept (ә is not а, і is not и). Triggers keep it current, so
-- no writer has to remember it. Tips are never indexed: their content is sealed and their
-- messages have no plaintext body.
CREATE VIRTUAL TABLE ticket_search USING fts5(
    reference, summary, applicant, iin, subject, messages,
    tokenize = 'unicode61 remove_diacritics 0'
);

CREATE TRIGGER ticket_search_add AFTER INSERT ON tickets WHEN new.kind <> 'tip'
BEGIN
    INSERT INTO ticket_search (rowid, reference, summary, applicant, iin, subject, messages)
    VALUES (new.id, new.reference, new.summary, json_extract(new.details, '$.applicant_name'),
            json_extract(new.details, '$.iin'), new.subject, '');
END;

CREATE TRIGGER ticket_search_edit AFTER UPDATE OF reference, summary, details, subject
ON tickets WHEN new.kind <> 'tip'
BEGIN
    UPDATE ticket_search SET reference = new.reference, summary = new.summary,
        applicant = json_extract(new.details, '$.applicant_name'),
        iin = json_extract(new.details, '$.iin'), subject = new.subject
    WHERE rowid = new.id;
END;

CREATE TRIGGER ticket_search_drop AFTER DELETE ON tickets
BEGIN
    DELETE FROM ticket_search WHERE rowid = old.id;
END;

-- Only the citizen's own words join the index; staff replies and internal notes do not.
CREATE TRIGGER ticket_search_message AFTER INSERT ON ticket_messages
WHEN new.author = 'citizen' AND new.body IS NOT NULL
BEGIN
    UPDATE ticket_search SET messages = messages || char(10) || new.body
    WHERE rowid = new.ticket_id;
END;

-- Tickets filed before this migration.
INSERT INTO ticket_search (rowid, reference, summary, applicant, iin, subject, messages)
SELECT t.id, t.reference, t.summary, json_extract(t.details, '$.applicant_name'),
       json_extract(t.details, '$.iin'), t.subject,
       coalesce((SELECT group_concat(m.body, char(10)) FROM ticket_messages m
                 WHERE m.ticket_id = t.id AND m.author = 'citizen' AND m.body IS NOT NULL), '')
FROM tickets t WHERE t.kind <> 'tip';

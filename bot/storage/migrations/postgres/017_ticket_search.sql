-- As sqlite/017_ticket_search.sql: one search row per ticket (ticket_id = the ticket's
-- id), kept current by triggers; tips are never indexed. FTS5 becomes a plain table whose
-- `document` (a generated tsvector, 'simple' configuration: lower-cased words, no stemming,
-- diacritics kept) has a GIN index. Query it with
--     WHERE document @@ to_tsquery('simple', 'word1:* & word2:*')
-- (prefix terms, as FTS5's "word"*). Case folding follows the database's LC_CTYPE: create
-- the database with a UTF-8 locale (C.UTF-8 or kk_KZ.UTF-8) so "ЦОН" folds to "цон".
CREATE TABLE ticket_search (
    ticket_id BIGINT PRIMARY KEY,
    reference TEXT,
    summary   TEXT,
    applicant TEXT,
    iin       TEXT,
    subject   TEXT,
    messages  TEXT NOT NULL DEFAULT '',
    document  tsvector GENERATED ALWAYS AS (to_tsvector('simple',
        coalesce(reference, '') || ' ' || coalesce(summary, '') || ' '
        || coalesce(applicant, '') || ' ' || coalesce(iin, '') || ' '
        || coalesce(subject, '') || ' ' || messages)) STORED
);
CREATE INDEX ticket_search_document ON ticket_search USING gin (document);

CREATE FUNCTION ticket_search_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ticket_search (ticket_id, reference, summary, applicant, iin, subject, messages)
    VALUES (NEW.id, NEW.reference, NEW.summary, NEW.details::jsonb ->> 'applicant_name',
            NEW.details::jsonb ->> 'iin', NEW.subject, '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER ticket_search_add AFTER INSERT ON tickets
FOR EACH ROW WHEN (NEW.kind <> 'tip') EXECUTE FUNCTION ticket_search_add();

CREATE FUNCTION ticket_search_edit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ticket_search SET reference = NEW.reference, summary = NEW.summary,
        applicant = NEW.details::jsonb ->> 'applicant_name',
        iin = NEW.details::jsonb ->> 'iin', subject = NEW.subject
    WHERE ticket_id = NEW.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER ticket_search_edit AFTER UPDATE OF reference, summary, details, subject
ON tickets FOR EACH ROW WHEN (NEW.kind <> 'tip') EXECUTE FUNCTION ticket_search_edit();

CREATE FUNCTION ticket_search_drop() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM ticket_search WHERE ticket_id = OLD.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER ticket_search_drop AFTER DELETE ON tickets
FOR EACH ROW EXECUTE FUNCTION ticket_search_drop();

-- Only the citizen's own words join the index; staff replies and internal notes do not.
CREATE FUNCTION ticket_search_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ticket_search SET messages = messages || chr(10) || NEW.body
    WHERE ticket_id = NEW.ticket_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER ticket_search_message AFTER INSERT ON ticket_messages
FOR EACH ROW WHEN (NEW.author = 'citizen' AND NEW.body IS NOT NULL)
EXECUTE FUNCTION ticket_search_message();

-- Tickets filed before this migration.
INSERT INTO ticket_search (ticket_id, reference, summary, applicant, iin, subject, messages)
SELECT t.id, t.reference, t.summary, t.details::jsonb ->> 'applicant_name',
       t.details::jsonb ->> 'iin', t.subject,
       coalesce((SELECT string_agg(m.body, chr(10) ORDER BY m.id) FROM ticket_messages m
                 WHERE m.ticket_id = t.id AND m.author = 'citizen' AND m.body IS NOT NULL), '')
FROM tickets t WHERE t.kind <> 'tip';

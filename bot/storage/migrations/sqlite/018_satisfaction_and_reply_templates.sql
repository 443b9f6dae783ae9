-- What the citizen said after a complaint was closed: whether the problem was solved and a
-- rating of the answer (1-5). One row per closing that asked; a later closing asks again.
-- closed_on (the day in Almaty) starts the 10 working days in which "not solved" reopens.
CREATE TABLE ticket_satisfaction (
    id          INTEGER PRIMARY KEY,
    ticket_id   INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('resolved', 'rejected')),
    closed_on   TEXT    NOT NULL,
    asked_at    TEXT    NOT NULL,
    solved      INTEGER CHECK (solved IN (0, 1)),
    rating      INTEGER CHECK (rating BETWEEN 1 AND 5),
    answered_at TEXT,
    reopened    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX ticket_satisfaction_ticket ON ticket_satisfaction (ticket_id, id);

-- Canned replies that admins keep for staff: a title and the text in each language, with
-- the placeholders {reference}, {deadline} and {name} filled in on the ticket page.
CREATE TABLE reply_templates (
    id         INTEGER PRIMARY KEY,
    title      TEXT NOT NULL,
    kk         TEXT NOT NULL,
    ru         TEXT NOT NULL,
    en         TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

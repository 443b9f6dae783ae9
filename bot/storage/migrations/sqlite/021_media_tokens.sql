-- Files staff send with a reply (bot/web/staff/ticket.py) are ticket attachments that name
-- the staff message they went with; a citizen's own files have none.
ALTER TABLE ticket_attachments ADD COLUMN message_id INTEGER REFERENCES ticket_messages (id);

-- Media links (bot/media_links.py) already fetched: a link opens once. A row names the
-- link's MAC, never the file, and goes once the link has expired anyway.
CREATE TABLE media_tokens (
    tag        TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL
) WITHOUT ROWID;

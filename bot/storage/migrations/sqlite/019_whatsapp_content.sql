-- Twilio Content API resources for interactive WhatsApp replies (quick replies, list
-- pickers), one per definition: created once on first use, reused across restarts. The key
-- is the SHA-256 of the definition's canonical JSON; the body and titles are variables,
-- so the table holds a handful of rows and never a citizen's text.
CREATE TABLE whatsapp_content (
    definition_hash TEXT PRIMARY KEY,
    content_sid     TEXT NOT NULL,
    created_at      TEXT NOT NULL
);

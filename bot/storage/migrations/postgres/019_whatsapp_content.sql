-- As sqlite/019_whatsapp_content.sql.
CREATE TABLE whatsapp_content (
    definition_hash TEXT PRIMARY KEY,
    content_sid     TEXT NOT NULL,
    created_at      TEXT NOT NULL
);

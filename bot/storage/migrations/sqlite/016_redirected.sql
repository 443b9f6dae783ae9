-- An appeal outside the agency's competence is forwarded to the competent body (status
-- 'redirected', the body's name as staff typed it). The status CHECK is widened in place,
-- as SQLite's documentation allows for loosening a CHECK (no row can break it): rebuilding
-- `tickets` would cascade-delete every message, event and attachment that refers to it.
-- The column comes first: ADD COLUMN edits the table's text at offsets read before this
-- edit. RESET turns schema writing off and reloads the schema for the migrations after it.
ALTER TABLE tickets ADD COLUMN redirected_to TEXT;
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql, '''rejected'')', '''rejected'', ''redirected'')')
WHERE type = 'table' AND name = 'tickets';
PRAGMA writable_schema = RESET;

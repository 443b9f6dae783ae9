-- As sqlite/012_api_token_expiry.sql.
ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;
UPDATE api_tokens SET expires_at = created_at;
UPDATE api_tokens
SET revoked_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')
WHERE revoked_at IS NULL;
CREATE INDEX api_tokens_owner ON api_tokens (staff_id);

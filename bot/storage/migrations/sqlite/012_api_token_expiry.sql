-- API tokens expire (API_TOKEN_DAYS from when their owner made them), and each person
-- makes their own (issue 12). Until now only an admin made tokens, for any account, so no
-- existing token is known to be its owner's own: every one is revoked here, and its owner
-- makes a new one on their tokens page. The old rows keep their history (label, last use).
ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;
UPDATE api_tokens SET expires_at = created_at;
UPDATE api_tokens SET revoked_at = strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')
    WHERE revoked_at IS NULL;
CREATE INDEX api_tokens_owner ON api_tokens (staff_id);

-- Tips are sealed only to investigator keys that someone already trusted with tips has
-- endorsed (an investigator's grant on /staff/keys, `govbot keys grant` with the recovery
-- key, or `govbot staff add` on the server's shell). A key an admin could have made on the
-- console (a new account, a password reset, a first sign-in after a role change) waits
-- for that grant. The keys stored before this change were every recipient already, but
-- one whose account an admin created, reset or re-roled on the console may be the admin's:
-- those wait too (listed on the Keys page); new tips still reach the recovery key.
ALTER TABLE staff_keys ADD COLUMN endorsed INTEGER NOT NULL DEFAULT 0;
UPDATE staff_keys SET endorsed = 1
WHERE staff_id NOT IN (
    SELECT u.id FROM staff_users u JOIN audit_log a ON a.target = u.username
    WHERE a.actor LIKE 'staff:%'
      AND a.action IN ('account.add', 'account.password', 'account.role')
);
-- When the key pair was made (the day only) and how: 'account' (with a new account),
-- 'reset' (an admin's password reset), 'sign-in' (the account's first sign-in as an
-- investigator). Shown to the investigator who is asked to grant it; unknown before this.
ALTER TABLE staff_keys ADD COLUMN made_on TEXT;
ALTER TABLE staff_keys ADD COLUMN made_by TEXT;

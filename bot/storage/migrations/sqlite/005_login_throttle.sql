-- Staff sign-in attempts counted per (account, client address) and per account (keyed
-- hashes: no user name or address is stored). The policy is bot/staff/throttle.py.
CREATE TABLE login_throttle (
    key           TEXT PRIMARY KEY,
    failures      INTEGER NOT NULL,
    since         TEXT    NOT NULL,
    blocked_until TEXT
) WITHOUT ROWID;

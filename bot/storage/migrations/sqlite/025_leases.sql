-- Leases (bot/leases.py): which govbot instance does the work only one may do at a time
-- (the leader's periodic jobs, Telegram long polling). A row is held by `holder` (a random
-- id per process) until `expires_at` (the database's clock, ISO text in UTC); an instance
-- takes or renews it with one INSERT ... ON CONFLICT DO UPDATE ... WHERE.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

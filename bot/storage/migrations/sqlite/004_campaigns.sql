-- Broadcast campaigns. A campaign is what the operator composed and when it goes; a run is
-- one occurrence of it (one for "now" or "at", one a week for "every Monday"); a delivery
-- is one durable row per run and recipient, so a crash and a restart neither repeat nor
-- skip anyone (see bot/campaigns/engine.py for the claim/send/mark protocol).
CREATE TABLE campaigns (
    id           INTEGER PRIMARY KEY,
    title        TEXT    NOT NULL,
    texts        TEXT    NOT NULL,               -- JSON {lang: text}
    fallback     TEXT    NOT NULL DEFAULT 'refuse', -- missing language: refuse | skip | kk | ru | en
    templates    TEXT    NOT NULL DEFAULT '{}',  -- JSON {lang: WhatsApp ContentSid}
    image        TEXT,                           -- JSON {blob_id, content_type} or NULL
    regions      TEXT    NOT NULL DEFAULT '[]',  -- JSON region codes, [] = everywhere
    languages    TEXT    NOT NULL DEFAULT '[]',  -- JSON languages, [] = all
    channels     TEXT    NOT NULL DEFAULT '[]',  -- JSON channels, [] = all
    recurring    TEXT,                           -- crontab rule in Asia/Almaty, or NULL
    next_run_at  TEXT,                           -- UTC; NULL when nothing more is planned
    status       TEXT    NOT NULL DEFAULT 'scheduled'
                 CHECK (status IN ('scheduled', 'sending', 'paused', 'done', 'cancelled')),
    created_by   TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL
);
CREATE INDEX campaigns_due ON campaigns (status, next_run_at);

CREATE TABLE campaign_runs (
    id          INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
    planned_at  TEXT    NOT NULL,
    started_at  TEXT    NOT NULL,
    finished_at TEXT,
    status      TEXT    NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'paused', 'done', 'cancelled')),
    -- One occurrence is started at most once, however often the scheduler fires.
    UNIQUE (campaign_id, planned_at)
);

CREATE TABLE campaign_deliveries (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES campaign_runs (id),
    citizen_id      INTEGER NOT NULL REFERENCES citizens (id),
    channel         TEXT    NOT NULL,
    locale          TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'skipped',
                                      'unknown', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    throttled       INTEGER NOT NULL DEFAULT 0,
    error           TEXT,
    external_id     TEXT,
    next_attempt_at TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    UNIQUE (run_id, citizen_id)
);
CREATE INDEX campaign_deliveries_due ON campaign_deliveries (channel, status, next_attempt_at);
CREATE INDEX campaign_deliveries_run ON campaign_deliveries (run_id, status);

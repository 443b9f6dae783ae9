-- As sqlite/005_login_throttle.sql.
CREATE TABLE login_throttle (
    key           TEXT PRIMARY KEY,
    failures      BIGINT NOT NULL,
    since         TEXT   NOT NULL,
    blocked_until TEXT
);

-- Short-term limit overrides per user and team (requests and input+output tokens per
-- minute, calls in flight): NULL takes the configured default (ratelimit.*), -1 is
-- unlimited, n >= 0 is at most n.
ALTER TABLE teams ADD COLUMN rpm INTEGER NULL;
ALTER TABLE teams ADD COLUMN tpm INTEGER NULL;
ALTER TABLE teams ADD COLUMN max_concurrent INTEGER NULL;
ALTER TABLE user_limits ADD COLUMN rpm INTEGER NULL;
ALTER TABLE user_limits ADD COLUMN tpm INTEGER NULL;
ALTER TABLE user_limits ADD COLUMN max_concurrent INTEGER NULL;

-- What each proxy's rate limiter saw in the last minute, per subject (user:ID /
-- team:ID), written by every proxy every few seconds (never per call), read by
-- `user info` and the admin API. Rows older than a few seconds are stale.
CREATE TABLE rate_activity (
    proxy      TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    requests   INTEGER NOT NULL,
    tokens     INTEGER NOT NULL,
    in_flight  INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (proxy, subject)
);

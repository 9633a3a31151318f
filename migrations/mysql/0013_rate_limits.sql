-- Short-term limit overrides per user and team (requests and input+output tokens per
-- minute, calls in flight): NULL takes the configured default (ratelimit.*), -1 is
-- unlimited, n >= 0 is at most n.
ALTER TABLE teams
    ADD COLUMN rpm BIGINT NULL,
    ADD COLUMN tpm BIGINT NULL,
    ADD COLUMN max_concurrent BIGINT NULL;
ALTER TABLE user_limits
    ADD COLUMN rpm BIGINT NULL,
    ADD COLUMN tpm BIGINT NULL,
    ADD COLUMN max_concurrent BIGINT NULL;

-- What each proxy's rate limiter saw in the last minute, per subject (user:ID /
-- team:ID), written by every proxy every few seconds (never per call), read by
-- `user info` and the admin API. Rows older than a few seconds are stale.
CREATE TABLE rate_activity (
    proxy      VARCHAR(255) NOT NULL,
    subject    VARCHAR(64)  NOT NULL,
    requests   BIGINT       NOT NULL,
    tokens     BIGINT       NOT NULL,
    in_flight  BIGINT       NOT NULL,
    updated_at BIGINT       NOT NULL,
    PRIMARY KEY (proxy, subject)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

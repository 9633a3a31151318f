-- Quota counters: capacity granted to proxies, per subject (user:ID / team:ID), metric
-- (requests / micro_usd) and calendar period (2026-11-25 / 2026-11 in quota.timezone).
-- A new period is a new row, so a reset is never a mass update.
CREATE TABLE quota_counters (
    subject    VARCHAR(64) NOT NULL,
    metric     VARCHAR(16) NOT NULL,
    period     VARCHAR(16) NOT NULL,
    granted    BIGINT      NOT NULL DEFAULT 0,
    updated_at BIGINT      NOT NULL,
    PRIMARY KEY (subject, metric, period)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE scheduler_runs (
    job     VARCHAR(32)  NOT NULL,
    period  VARCHAR(16)  NOT NULL,
    ran_at  BIGINT       NOT NULL,
    ran_by  VARCHAR(128) NOT NULL,
    PRIMARY KEY (job, period)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE quota_events (
    id         BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    kind       VARCHAR(16)  NOT NULL,
    subject    VARCHAR(64)  NOT NULL,
    limit_name VARCHAR(64)  NOT NULL,
    period     VARCHAR(16)  NOT NULL,
    detail     VARCHAR(1024) NOT NULL,
    created_at BIGINT       NOT NULL,
    sent_at    BIGINT       NULL,
    UNIQUE KEY quota_events_once (kind, subject, limit_name, period)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

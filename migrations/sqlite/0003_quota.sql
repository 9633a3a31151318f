-- Quota counters: capacity granted to proxies, per subject (user:ID / team:ID), metric
-- (requests / micro_usd) and calendar period (2026-11-25 / 2026-11 in quota.timezone).
-- A new period is a new row, so a reset is never a mass update.
CREATE TABLE quota_counters (
    subject    TEXT    NOT NULL,
    metric     TEXT    NOT NULL,
    period     TEXT    NOT NULL,
    granted    INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (subject, metric, period)
);

-- Jobs that exactly one proxy runs per period (the daily reset).
CREATE TABLE scheduler_runs (
    job     TEXT    NOT NULL,
    period  TEXT    NOT NULL,
    ran_at  INTEGER NOT NULL,
    ran_by  TEXT    NOT NULL,
    PRIMARY KEY (job, period)
);

-- Quota events for the notifier (warnings once per limit and period, blocks, resets).
CREATE TABLE quota_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    limit_name TEXT    NOT NULL,
    period     TEXT    NOT NULL,
    detail     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    sent_at    INTEGER NULL,
    UNIQUE (kind, subject, limit_name, period)
);

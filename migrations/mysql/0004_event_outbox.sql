-- The outbox of domain events (blocked, unblocked, warning, reset done, ...). Each event
-- is written in the same transaction as the change it describes. `dedupe_key` makes
-- once-per-period events (warnings, automatic blocks, the daily reset) unique across
-- every proxy on the database; it replaces `quota_events`.
CREATE TABLE domain_events (
    id         BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    kind       VARCHAR(32)  NOT NULL,
    subject    VARCHAR(160) NULL,
    dedupe_key VARCHAR(255) NULL,
    payload    MEDIUMTEXT   NOT NULL,
    created_at BIGINT       NOT NULL,
    UNIQUE KEY domain_events_once (dedupe_key),
    KEY domain_events_time (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Subscribers (the log today; email, webhooks and the IAM backstop later). A subscriber
-- sees the events written after it first registered.
CREATE TABLE event_consumers (
    name        VARCHAR(64) NOT NULL PRIMARY KEY,
    start_after BIGINT      NOT NULL,
    created_at  BIGINT      NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- One row per (subscriber, event): claimed by one proxy at a time under a lease, marked
-- delivered once handled.
CREATE TABLE event_deliveries (
    consumer     VARCHAR(64)   NOT NULL,
    event_id     BIGINT        NOT NULL,
    claimed_by   VARCHAR(128)  NULL,
    claim_token  CHAR(32)      NULL,
    lease_until  BIGINT        NOT NULL DEFAULT 0,
    attempts     INT           NOT NULL DEFAULT 0,
    last_error   VARCHAR(1024) NULL,
    delivered_at BIGINT        NULL,
    PRIMARY KEY (consumer, event_id),
    KEY event_deliveries_pending (consumer, delivered_at, lease_until),
    KEY event_deliveries_token (claim_token),
    CONSTRAINT event_deliveries_event FOREIGN KEY (event_id) REFERENCES domain_events(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

DROP TABLE quota_events;

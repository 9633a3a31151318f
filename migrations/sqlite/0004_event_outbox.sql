-- The outbox of domain events (blocked, unblocked, warning, reset done, ...). Each event
-- is written in the same transaction as the change it describes. `dedupe_key` makes
-- once-per-period events (warnings, automatic blocks, the daily reset) unique across
-- every proxy on the database; it replaces `quota_events`.
CREATE TABLE domain_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL,
    subject    TEXT    NULL,
    dedupe_key TEXT    NULL UNIQUE,
    payload    TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX domain_events_time ON domain_events(created_at);

-- Subscribers (the log today; email, webhooks and the IAM backstop later). A subscriber
-- sees the events written after it first registered.
CREATE TABLE event_consumers (
    name        TEXT    PRIMARY KEY,
    start_after INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);

-- One row per (subscriber, event): claimed by one proxy at a time under a lease, marked
-- delivered once handled.
CREATE TABLE event_deliveries (
    consumer     TEXT    NOT NULL,
    event_id     INTEGER NOT NULL REFERENCES domain_events(id) ON DELETE CASCADE,
    claimed_by   TEXT    NULL,
    claim_token  TEXT    NULL,
    lease_until  INTEGER NOT NULL DEFAULT 0,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT    NULL,
    delivered_at INTEGER NULL,
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX event_deliveries_pending ON event_deliveries(consumer, delivered_at, lease_until);
CREATE INDEX event_deliveries_token ON event_deliveries(claim_token);

DROP TABLE quota_events;

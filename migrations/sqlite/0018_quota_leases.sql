-- Quota leases (SQLite): per proxy and counter, the units of `quota_counters.granted`
-- that proxy holds in reserve, i.e. granted to it and not usable until it moves them out
-- of this row (one conditional update, under the write lock). `expires_at` is renewed by
-- the running proxy; once it has passed, any proxy may reclaim the reserve: it deletes
-- the row and takes `reserve` off the counter in one transaction, so reserved units come
-- back after a crash and are never both reclaimed and used. `owner` names one run of one
-- proxy (a new one at each start).
CREATE TABLE quota_leases (
    owner      TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    metric     TEXT    NOT NULL,
    period     TEXT    NOT NULL,
    reserve    INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (owner, subject, metric, period)
);
CREATE INDEX quota_leases_expiry ON quota_leases (expires_at);

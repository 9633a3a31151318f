-- Quota leases (MySQL/MariaDB): per proxy and counter, the units of `quota_counters.granted`
-- that proxy holds in reserve, i.e. granted to it and not usable until it moves them out
-- of this row (one conditional update, under the row lock). `expires_at` is renewed by
-- the running proxy; once it has passed, any proxy may reclaim the reserve: it deletes
-- the row and takes `reserve` off the counter in one transaction, so reserved units come
-- back after a crash and are never both reclaimed and used. `owner` names one run of one
-- proxy (a new one at each start).
CREATE TABLE quota_leases (
    owner      VARCHAR(64)  NOT NULL,
    subject    VARCHAR(64)  NOT NULL,
    metric     VARCHAR(16)  NOT NULL,
    period     VARCHAR(16)  NOT NULL,
    reserve    BIGINT       NOT NULL,
    expires_at BIGINT       NOT NULL,
    PRIMARY KEY (owner, subject, metric, period),
    KEY quota_leases_expiry (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

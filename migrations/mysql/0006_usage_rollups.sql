-- Usage rollups (MySQL/MariaDB): per-call rows summed as they are written, so reports
-- over months read thousands of rows instead of millions. Kept in the same transaction
-- as the `bedrock_requests` insert (see src/store/rollups.rs and docs/REPORTS.md).

-- Per local day (in `quota.timezone` at write time), user, team and model.
-- `rollup_key` is a hash of (day, user_id, username, team, model_id): the natural key is
-- longer than InnoDB's 3072-byte index limit. Clustered by day, so a date range is one
-- sequential scan.
CREATE TABLE usage_daily (
    day                CHAR(10)     NOT NULL,
    rollup_key         CHAR(32)     CHARACTER SET ascii NOT NULL,
    user_id            BIGINT       NOT NULL,
    username           VARCHAR(128) NOT NULL,
    team               VARCHAR(128) NOT NULL,
    model_id           VARCHAR(512) NOT NULL,
    requests           BIGINT       NOT NULL,
    errors             BIGINT       NOT NULL,
    input_tokens       BIGINT       NOT NULL,
    output_tokens      BIGINT       NOT NULL,
    cache_read_tokens  BIGINT       NOT NULL,
    cache_write_tokens BIGINT       NOT NULL,
    cost_usd           DOUBLE       NOT NULL,
    PRIMARY KEY (day, rollup_key),
    KEY usage_daily_team (team, day),
    KEY usage_daily_user (username, day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Per UTC hour (start, epoch ms), team and model.
CREATE TABLE usage_hourly (
    hour_ms            BIGINT       NOT NULL,
    team               VARCHAR(128) NOT NULL,
    model_id           VARCHAR(512) NOT NULL,
    requests           BIGINT       NOT NULL,
    errors             BIGINT       NOT NULL,
    input_tokens       BIGINT       NOT NULL,
    output_tokens      BIGINT       NOT NULL,
    cache_read_tokens  BIGINT       NOT NULL,
    cache_write_tokens BIGINT       NOT NULL,
    cost_usd           DOUBLE       NOT NULL,
    PRIMARY KEY (hour_ms, team, model_id),
    KEY usage_hourly_team (team, hour_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Progress of the one-time backfill of rows written before this migration:
-- `backfill_upto` is the last such row id, `backfill_done` the last id rolled up.
CREATE TABLE rollup_state (
    name  VARCHAR(64) NOT NULL PRIMARY KEY,
    value BIGINT      NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO rollup_state (name, value)
    SELECT 'backfill_upto', COALESCE(MAX(id), 0) FROM bedrock_requests;
INSERT INTO rollup_state (name, value) VALUES ('backfill_done', 0);

-- Usage rollups (SQLite): per-call rows summed as they are written, so reports over
-- months read thousands of rows instead of millions. Kept in the same transaction as
-- the `bedrock_requests` insert (see src/store/rollups.rs and docs/REPORTS.md).

-- Per local day (in `quota.timezone` at write time), user, team and model.
-- `rollup_key` is a hash of (day, user_id, username, team, model_id): MySQL cannot
-- index the natural key (it is longer than 3072 bytes), so both engines key on the hash.
CREATE TABLE usage_daily (
    day                TEXT    NOT NULL,
    rollup_key         TEXT    NOT NULL,
    user_id            INTEGER NOT NULL,
    username           TEXT    NOT NULL,
    team               TEXT    NOT NULL,
    model_id           TEXT    NOT NULL,
    requests           INTEGER NOT NULL,
    errors             INTEGER NOT NULL,
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cost_usd           REAL    NOT NULL,
    PRIMARY KEY (day, rollup_key)
) WITHOUT ROWID;
CREATE INDEX usage_daily_team ON usage_daily(team, day);
CREATE INDEX usage_daily_user ON usage_daily(username, day);

-- Per UTC hour (start, epoch ms), team and model.
CREATE TABLE usage_hourly (
    hour_ms            INTEGER NOT NULL,
    team               TEXT    NOT NULL,
    model_id           TEXT    NOT NULL,
    requests           INTEGER NOT NULL,
    errors             INTEGER NOT NULL,
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cost_usd           REAL    NOT NULL,
    PRIMARY KEY (hour_ms, team, model_id)
) WITHOUT ROWID;
CREATE INDEX usage_hourly_team ON usage_hourly(team, hour_ms);

-- Progress of the one-time backfill of rows written before this migration:
-- `backfill_upto` is the last such row id, `backfill_done` the last id rolled up.
CREATE TABLE rollup_state (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO rollup_state (name, value)
    SELECT 'backfill_upto', COALESCE(MAX(id), 0) FROM bedrock_requests;
INSERT INTO rollup_state (name, value) VALUES ('backfill_done', 0);

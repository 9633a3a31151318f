-- Day totals over all models (SQLite): per user (`usage_user_day_total`) and per team
-- (`usage_team_day_total`). The user list with this month's usage, "month per team" and
-- cost per user over a range read these instead of `usage_daily` / `usage_team_daily`,
-- about twenty (the models in use) times fewer rows. Written by the same code, in the
-- same transaction, as the other rollups (src/store/rollups.rs).
CREATE TABLE usage_user_day_total (
    day                TEXT    NOT NULL,
    user_id            INTEGER NOT NULL,
    username           TEXT    NOT NULL,
    team               TEXT    NOT NULL,
    requests           INTEGER NOT NULL,
    errors             INTEGER NOT NULL,
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cost_usd           REAL    NOT NULL,
    PRIMARY KEY (day, user_id, username, team)
) WITHOUT ROWID;
CREATE INDEX usage_user_day_total_team ON usage_user_day_total(team, day);
CREATE INDEX usage_user_day_total_user ON usage_user_day_total(username, day);

CREATE TABLE usage_team_day_total (
    day                TEXT    NOT NULL,
    team               TEXT    NOT NULL,
    requests           INTEGER NOT NULL,
    errors             INTEGER NOT NULL,
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cost_usd           REAL    NOT NULL,
    PRIMARY KEY (day, team)
) WITHOUT ROWID;

-- Everything `usage_daily` holds so far (rows inserted since 0006 and the id ranges the
-- backfill has done); ranges the backfill has not done yet are summed into every rollup
-- by the backfill itself, after this migration.
INSERT INTO usage_user_day_total (day, user_id, username, team, requests, errors,
        input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd)
    SELECT day, user_id, username, team, SUM(requests), SUM(errors), SUM(input_tokens),
        SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(cost_usd)
    FROM usage_daily GROUP BY day, user_id, username, team;
INSERT INTO usage_team_day_total (day, team, requests, errors, input_tokens,
        output_tokens, cache_read_tokens, cache_write_tokens, cost_usd)
    SELECT day, team, SUM(requests), SUM(errors), SUM(input_tokens),
        SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(cost_usd)
    FROM usage_team_daily GROUP BY day, team;

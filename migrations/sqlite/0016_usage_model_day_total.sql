-- Day totals per model over all users and teams (SQLite): "cost by model" over a range
-- reads one row per model and day instead of one per team as well (31,000 rows for a
-- month of 50 teams and 20 models become 620). Written by the same code, in the same
-- transaction, as the other rollups (src/store/rollups.rs).
CREATE TABLE usage_model_day_total (
    day                TEXT    NOT NULL,
    model_id           TEXT    NOT NULL,
    requests           INTEGER NOT NULL,
    errors             INTEGER NOT NULL,
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cost_usd           REAL    NOT NULL,
    PRIMARY KEY (day, model_id)
) WITHOUT ROWID;

-- Everything `usage_team_daily` holds so far; id ranges the backfill has not done yet
-- are summed into every rollup by the backfill itself, after this migration.
INSERT INTO usage_model_day_total (day, model_id, requests, errors, input_tokens,
        output_tokens, cache_read_tokens, cache_write_tokens, cost_usd)
    SELECT day, model_id, SUM(requests), SUM(errors), SUM(input_tokens),
        SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(cost_usd)
    FROM usage_team_daily GROUP BY day, model_id;

-- Day totals per model over all users and teams (MySQL): "cost by model" over a range
-- reads one row per model and day instead of one per team as well (31,000 rows for a
-- month of 50 teams and 20 models become 620). Written by the same code, in the same
-- transaction, as the other rollups (src/store/rollups.rs). The key (40 + 2,048 bytes)
-- fits InnoDB's 3,072-byte index limit.
CREATE TABLE usage_model_day_total (
    day                CHAR(10)     NOT NULL,
    model_id           VARCHAR(512) NOT NULL,
    requests           BIGINT       NOT NULL,
    errors             BIGINT       NOT NULL,
    input_tokens       BIGINT       NOT NULL,
    output_tokens      BIGINT       NOT NULL,
    cache_read_tokens  BIGINT       NOT NULL,
    cache_write_tokens BIGINT       NOT NULL,
    cost_usd           DOUBLE       NOT NULL,
    PRIMARY KEY (day, model_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT INTO usage_model_day_total (day, model_id, requests, errors, input_tokens,
        output_tokens, cache_read_tokens, cache_write_tokens, cost_usd)
    SELECT day, model_id, SUM(requests), SUM(errors), SUM(input_tokens),
        SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(cost_usd)
    FROM usage_team_daily GROUP BY day, model_id;

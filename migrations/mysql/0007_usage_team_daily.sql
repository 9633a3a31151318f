-- Team-day rollup (MySQL/MariaDB): `usage_daily` without the user, so "a month per team"
-- reads one row per (day, team, model) instead of one per user as well. Written by the
-- same code, in the same transaction, as the other rollups (src/store/rollups.rs).
-- The key is 2,600 bytes in utf8mb4, under InnoDB's 3,072-byte limit.
CREATE TABLE usage_team_daily (
    day                CHAR(10)     NOT NULL,
    team               VARCHAR(128) NOT NULL,
    model_id           VARCHAR(512) NOT NULL,
    requests           BIGINT       NOT NULL,
    errors             BIGINT       NOT NULL,
    input_tokens       BIGINT       NOT NULL,
    output_tokens      BIGINT       NOT NULL,
    cache_read_tokens  BIGINT       NOT NULL,
    cache_write_tokens BIGINT       NOT NULL,
    cost_usd           DOUBLE       NOT NULL,
    PRIMARY KEY (day, team, model_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Everything `usage_daily` holds so far: the rows inserted since 0006 and the id ranges
-- the one-time backfill has done. Ranges it has not done yet are summed into both tables
-- by the backfill itself, after this migration.
INSERT INTO usage_team_daily (day, team, model_id, requests, errors, input_tokens,
        output_tokens, cache_read_tokens, cache_write_tokens, cost_usd)
    SELECT day, team, model_id, SUM(requests), SUM(errors), SUM(input_tokens),
        SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(cost_usd)
    FROM usage_daily GROUP BY day, team, model_id;

-- Day totals over all models (MySQL): per user (`usage_user_day_total`) and per team
-- (`usage_team_day_total`). The user list with this month's usage, "month per team" and
-- cost per user over a range read these instead of `usage_daily` / `usage_team_daily`,
-- about twenty (the models in use) times fewer rows. Written by the same code, in the
-- same transaction, as the other rollups (src/store/rollups.rs). The natural key fits
-- InnoDB's index limit here (no model id), so no hash key is needed.
CREATE TABLE usage_user_day_total (
    day                CHAR(10)     NOT NULL,
    user_id            BIGINT       NOT NULL,
    username           VARCHAR(128) NOT NULL,
    team               VARCHAR(128) NOT NULL,
    requests           BIGINT       NOT NULL,
    errors             BIGINT       NOT NULL,
    input_tokens       BIGINT       NOT NULL,
    output_tokens      BIGINT       NOT NULL,
    cache_read_tokens  BIGINT       NOT NULL,
    cache_write_tokens BIGINT       NOT NULL,
    cost_usd           DOUBLE       NOT NULL,
    PRIMARY KEY (day, user_id, username, team),
    KEY usage_user_day_total_team (team, day),
    KEY usage_user_day_total_user (username, day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE usage_team_day_total (
    day                CHAR(10)     NOT NULL,
    team               VARCHAR(128) NOT NULL,
    requests           BIGINT       NOT NULL,
    errors             BIGINT       NOT NULL,
    input_tokens       BIGINT       NOT NULL,
    output_tokens      BIGINT       NOT NULL,
    cache_read_tokens  BIGINT       NOT NULL,
    cache_write_tokens BIGINT       NOT NULL,
    cost_usd           DOUBLE       NOT NULL,
    PRIMARY KEY (day, team)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

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

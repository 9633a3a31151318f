-- bedrock-gate schema (SQLite). Times are Unix epoch milliseconds (UTC); money is USD.
CREATE TABLE teams (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT    NOT NULL UNIQUE,
    daily_requests     INTEGER NULL,
    monthly_requests   INTEGER NULL,
    daily_budget_usd   REAL    NULL,
    monthly_budget_usd REAL    NULL,
    created_at         INTEGER NOT NULL
);

CREATE TABLE users (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    username    TEXT    NOT NULL UNIQUE,
    person_name TEXT    NOT NULL,
    team_id     INTEGER NOT NULL REFERENCES teams(id),
    email       TEXT    NULL,
    language    TEXT    NOT NULL DEFAULT 'en',
    iam_user    TEXT    NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE user_limits (
    user_id            INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    daily_requests     INTEGER NULL,
    monthly_requests   INTEGER NULL,
    daily_budget_usd   REAL    NULL,
    monthly_budget_usd REAL    NULL,
    updated_at         INTEGER NOT NULL
);

CREATE TABLE api_keys (
    access_key_id TEXT    PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tool_name     TEXT    NOT NULL,
    secret_enc    BLOB    NOT NULL,
    bearer_hash   TEXT    NOT NULL UNIQUE,
    status        TEXT    NOT NULL DEFAULT 'active',
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER NULL
);
CREATE INDEX api_keys_user ON api_keys(user_id);

CREATE TABLE model_pricing (
    model_id           TEXT    PRIMARY KEY,
    input_per_1k       REAL    NOT NULL,
    output_per_1k      REAL    NOT NULL,
    cache_read_per_1k  REAL    NULL,
    cache_write_per_1k REAL    NULL,
    updated_at         INTEGER NOT NULL
);

CREATE TABLE bedrock_requests (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    request_uid         TEXT    NOT NULL UNIQUE,
    created_at          INTEGER NOT NULL,
    user_id             INTEGER NULL,
    username            TEXT    NOT NULL,
    team                TEXT    NOT NULL,
    person              TEXT    NOT NULL,
    tool                TEXT    NOT NULL,
    access_key_id       TEXT    NOT NULL,
    model_id            TEXT    NOT NULL,
    operation           TEXT    NOT NULL,
    upstream_request_id TEXT    NULL,
    source_ip           TEXT    NOT NULL,
    user_agent          TEXT    NULL,
    region              TEXT    NOT NULL,
    status_code         INTEGER NOT NULL,
    error_type          TEXT    NULL,
    input_tokens        INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cache_read_tokens   INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    cost_usd            REAL    NOT NULL,
    latency_ms          INTEGER NOT NULL,
    usage_source        TEXT    NOT NULL
);
CREATE INDEX bedrock_requests_user_time ON bedrock_requests(user_id, created_at);
CREATE INDEX bedrock_requests_team_time ON bedrock_requests(team, created_at);
CREATE INDEX bedrock_requests_time ON bedrock_requests(created_at);

CREATE TABLE user_blocking_status (
    user_id             INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    blocked             INTEGER NOT NULL DEFAULT 0,
    block_kind          TEXT    NULL,
    blocked_reason      TEXT    NULL,
    blocked_at          INTEGER NULL,
    blocked_until       INTEGER NULL,
    blocked_by          TEXT    NULL,
    administrative_safe INTEGER NOT NULL DEFAULT 0,
    safe_until          INTEGER NULL,
    updated_at          INTEGER NOT NULL
);

CREATE TABLE blocking_audit_log (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id           INTEGER NULL,
    username          TEXT    NOT NULL,
    operation         TEXT    NOT NULL,
    reason            TEXT    NULL,
    performed_by      TEXT    NOT NULL,
    requests_at_time  INTEGER NULL,
    limit_at_time     INTEGER NULL,
    usage_percent     REAL    NULL,
    created_at        INTEGER NOT NULL
);
CREATE INDEX blocking_audit_user ON blocking_audit_log(user_id, created_at);

-- One row, bumped by every change to users, keys, limits, blocks or prices; running
-- proxies poll it and reload what they cache.
CREATE TABLE state_version (
    id      INTEGER PRIMARY KEY,
    version INTEGER NOT NULL
);
INSERT INTO state_version (id, version) VALUES (1, 1);

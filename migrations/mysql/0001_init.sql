-- bedrock-gate schema (MySQL / MariaDB / Aurora). Times are Unix epoch milliseconds
-- (UTC); money is USD.
CREATE TABLE teams (
    id                 BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name               VARCHAR(128) NOT NULL UNIQUE,
    daily_requests     BIGINT       NULL,
    monthly_requests   BIGINT       NULL,
    daily_budget_usd   DOUBLE       NULL,
    monthly_budget_usd DOUBLE       NULL,
    created_at         BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE users (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username    VARCHAR(128) NOT NULL UNIQUE,
    person_name VARCHAR(255) NOT NULL,
    team_id     BIGINT       NOT NULL,
    email       VARCHAR(255) NULL,
    language    VARCHAR(8)   NOT NULL DEFAULT 'en',
    iam_user    VARCHAR(128) NULL,
    created_at  BIGINT       NOT NULL,
    CONSTRAINT users_team FOREIGN KEY (team_id) REFERENCES teams(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE user_limits (
    user_id            BIGINT NOT NULL PRIMARY KEY,
    daily_requests     BIGINT NULL,
    monthly_requests   BIGINT NULL,
    daily_budget_usd   DOUBLE NULL,
    monthly_budget_usd DOUBLE NULL,
    updated_at         BIGINT NOT NULL,
    CONSTRAINT user_limits_user FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE api_keys (
    access_key_id VARCHAR(32)    NOT NULL PRIMARY KEY,
    user_id       BIGINT         NOT NULL,
    tool_name     VARCHAR(128)   NOT NULL,
    secret_enc    VARBINARY(256) NOT NULL,
    bearer_hash   CHAR(64)       NOT NULL UNIQUE,
    status        VARCHAR(16)    NOT NULL DEFAULT 'active',
    created_at    BIGINT         NOT NULL,
    revoked_at    BIGINT         NULL,
    KEY api_keys_user (user_id),
    CONSTRAINT api_keys_user_fk FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE model_pricing (
    model_id           VARCHAR(255) NOT NULL PRIMARY KEY,
    input_per_1k       DOUBLE       NOT NULL,
    output_per_1k      DOUBLE       NOT NULL,
    cache_read_per_1k  DOUBLE       NULL,
    cache_write_per_1k DOUBLE       NULL,
    updated_at         BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE bedrock_requests (
    id                  BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    request_uid         CHAR(32)     NOT NULL UNIQUE,
    created_at          BIGINT       NOT NULL,
    user_id             BIGINT       NULL,
    username            VARCHAR(128) NOT NULL,
    team                VARCHAR(128) NOT NULL,
    person              VARCHAR(255) NOT NULL,
    tool                VARCHAR(128) NOT NULL,
    access_key_id       VARCHAR(32)  NOT NULL,
    model_id            VARCHAR(512) NOT NULL,
    operation           VARCHAR(64)  NOT NULL,
    upstream_request_id VARCHAR(128) NULL,
    source_ip           VARCHAR(64)  NOT NULL,
    user_agent          VARCHAR(512) NULL,
    region              VARCHAR(32)  NOT NULL,
    status_code         BIGINT       NOT NULL,
    error_type          VARCHAR(255) NULL,
    input_tokens        BIGINT       NOT NULL,
    output_tokens       BIGINT       NOT NULL,
    cache_read_tokens   BIGINT       NOT NULL,
    cache_write_tokens  BIGINT       NOT NULL,
    cost_usd            DOUBLE       NOT NULL,
    latency_ms          BIGINT       NOT NULL,
    usage_source        VARCHAR(16)  NOT NULL,
    KEY bedrock_requests_user_time (user_id, created_at),
    KEY bedrock_requests_team_time (team, created_at),
    KEY bedrock_requests_time (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE user_blocking_status (
    user_id             BIGINT       NOT NULL PRIMARY KEY,
    blocked             BOOLEAN      NOT NULL DEFAULT FALSE,
    block_kind          VARCHAR(16)  NULL,
    blocked_reason      VARCHAR(512) NULL,
    blocked_at          BIGINT       NULL,
    blocked_until       BIGINT       NULL,
    blocked_by          VARCHAR(128) NULL,
    administrative_safe BOOLEAN      NOT NULL DEFAULT FALSE,
    safe_until          BIGINT       NULL,
    updated_at          BIGINT       NOT NULL,
    CONSTRAINT blocking_user FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE blocking_audit_log (
    id                BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id           BIGINT       NULL,
    username          VARCHAR(128) NOT NULL,
    operation         VARCHAR(32)  NOT NULL,
    reason            VARCHAR(512) NULL,
    performed_by      VARCHAR(128) NOT NULL,
    requests_at_time  BIGINT       NULL,
    limit_at_time     BIGINT       NULL,
    usage_percent     DOUBLE       NULL,
    created_at        BIGINT       NOT NULL,
    KEY blocking_audit_user (user_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE state_version (
    id      BIGINT NOT NULL PRIMARY KEY,
    version BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO state_version (id, version) VALUES (1, 1);

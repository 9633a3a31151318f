-- Admin API tokens: stored only as the SHA-256 hash of the token; a revoked token keeps
-- its row (and its name) so the audit log still says whose it was.
CREATE TABLE admin_tokens (
    id         BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name       VARCHAR(128) NOT NULL,
    token_hash CHAR(64)     NOT NULL,
    created_at BIGINT       NOT NULL,
    created_by VARCHAR(200) NOT NULL,
    revoked_at BIGINT       NULL,
    UNIQUE KEY admin_tokens_name (name),
    UNIQUE KEY admin_tokens_hash (token_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Every change made through the service layer by an administrator (CLI or admin API),
-- written in the same transaction as the change: who, what, which resource, and the
-- value before and after as JSON.
CREATE TABLE admin_audit_log (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    actor       VARCHAR(200) NOT NULL,
    operation   VARCHAR(64)  NOT NULL,
    resource    VARCHAR(512) NOT NULL,
    before_json MEDIUMTEXT   NULL,
    after_json  MEDIUMTEXT   NULL,
    created_at  BIGINT       NOT NULL,
    KEY admin_audit_log_time (created_at),
    KEY admin_audit_log_resource (resource(191))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

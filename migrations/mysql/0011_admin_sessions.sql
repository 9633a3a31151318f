-- Dashboard sessions: made from an admin token at login, stored only as the SHA-256
-- hash of the random session id (the cookie holds the id). A session works while it
-- is not expired, not logged out, and the token it was made from is not revoked.
CREATE TABLE admin_sessions (
    id_hash    CHAR(64)     NOT NULL PRIMARY KEY,
    token_name VARCHAR(128) NOT NULL,
    created_at BIGINT       NOT NULL,
    expires_at BIGINT       NOT NULL,
    ended_at   BIGINT       NULL,
    KEY admin_sessions_expiry (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Dashboard sessions: made from an admin token at login, stored only as the SHA-256
-- hash of the random session id (the cookie holds the id). A session works while it
-- is not expired, not logged out, and the token it was made from is not revoked.
CREATE TABLE admin_sessions (
    id_hash    TEXT    NOT NULL PRIMARY KEY,
    token_name TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    ended_at   INTEGER NULL
);
CREATE INDEX admin_sessions_expiry ON admin_sessions(expires_at);

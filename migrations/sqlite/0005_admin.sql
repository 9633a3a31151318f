-- Admin API tokens: stored only as the SHA-256 hash of the token; a revoked token keeps
-- its row (and its name) so the audit log still says whose it was.
CREATE TABLE admin_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    token_hash TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    revoked_at INTEGER NULL
);

-- Every change made through the service layer by an administrator (CLI or admin API),
-- written in the same transaction as the change: who, what, which resource, and the
-- value before and after as JSON.
CREATE TABLE admin_audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    actor       TEXT    NOT NULL,
    operation   TEXT    NOT NULL,
    resource    TEXT    NOT NULL,
    before_json TEXT    NULL,
    after_json  TEXT    NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX admin_audit_log_time ON admin_audit_log(created_at);
CREATE INDEX admin_audit_log_resource ON admin_audit_log(resource);

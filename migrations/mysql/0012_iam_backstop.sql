-- The CloudTrail/IAM backstop (MySQL/MariaDB).
-- iam_links: the IAM principals whose direct Bedrock calls count as a proxy user's:
-- `kind` = 'iam_user' (an IAM user name) or 'role_session' (an assumed-role session
-- name pattern, `*` matching any run of characters). A principal belongs to one user.
-- Ingested CloudTrail events are made idempotent by their records' request_uid (a hash
-- of the eventID), so no table of seen event ids is needed.
CREATE TABLE iam_links (
    user_id    BIGINT       NOT NULL,
    kind       VARCHAR(16)  NOT NULL,
    principal  VARCHAR(128) NOT NULL,
    created_at BIGINT       NOT NULL,
    PRIMARY KEY (kind, principal),
    KEY iam_links_user (user_id),
    CONSTRAINT iam_links_user_fk FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT IGNORE INTO iam_links (user_id, kind, principal, created_at)
    SELECT id, 'iam_user', iam_user, created_at FROM users
    WHERE iam_user IS NOT NULL AND iam_user <> '';
-- Whether the IAM deny policy was brought in line with the change an audit row
-- records: NULL = no linked IAM user or the backstop is off, 1 = done, 0 = failed.
ALTER TABLE blocking_audit_log ADD COLUMN iam_policy_updated BOOLEAN NULL;

-- The IAM deny policies the backstop put on (MySQL/MariaDB): one row per IAM user and
-- policy name, written before the PutUserPolicy call and deleted after the deny is
-- removed. When an IAM user stops being linked to a blocked proxy user (unlinked, the
-- user deleted) the backstop removes the deny it put there, and only that: a policy of
-- the same name the proxy never put stays. Reconciliation removes the denies of rows
-- whose IAM user is no longer linked to a blocked user (an event missed). `username`:
-- the proxy user it was put for (kept after that user is deleted).
CREATE TABLE iam_denies (
    iam_user    VARCHAR(128) NOT NULL,
    policy_name VARCHAR(128) NOT NULL,
    username    VARCHAR(128) NOT NULL,
    put_at      BIGINT       NOT NULL,
    PRIMARY KEY (iam_user, policy_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The IAM deny policies the backstop put on (SQLite): one row per IAM user and policy
-- name, written before the PutUserPolicy call and deleted after the deny is removed.
-- When an IAM user stops being linked to a blocked proxy user (unlinked, the user
-- deleted) the backstop removes the deny it put there, and only that: a policy of the
-- same name the proxy never put stays. Reconciliation removes the denies of rows whose
-- IAM user is no longer linked to a blocked user (an event missed). `username`: the
-- proxy user it was put for (kept after that user is deleted).
CREATE TABLE iam_denies (
    iam_user    TEXT    NOT NULL,
    policy_name TEXT    NOT NULL,
    username    TEXT    NOT NULL,
    put_at      INTEGER NOT NULL,
    PRIMARY KEY (iam_user, policy_name)
);

-- Who last set a user's own limits: 'defaults' (quota.default_* at creation), 'group'
-- (the [oidc.teams] group that placed the user at sign-in) or 'admin' (limits given at
-- `user create`, or `user set-limits`). Sign-in changes a user's limits only while they
-- are not 'admin'.
ALTER TABLE user_limits ADD COLUMN limits_source VARCHAR(16) NOT NULL DEFAULT 'defaults';
-- Users from before this column: whoever set limits that are there may have been an
-- administrator, so sign-in leaves them alone.
UPDATE user_limits SET limits_source = 'admin'
 WHERE daily_requests IS NOT NULL OR monthly_requests IS NOT NULL
    OR daily_budget_usd IS NOT NULL OR monthly_budget_usd IS NOT NULL;

-- Admin tokens gain a scope: `admin` (the admin API and the dashboard) or `scim`
-- (only /scim/v2, for an identity provider's provisioning).
ALTER TABLE admin_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin';

-- How each user was created (`cli`, `api`, `oidc:<issuer name>`, `scim`); users from
-- before this migration were all created at the command line or the admin API, and are
-- marked `cli`. `active` = 0: deactivated (SCIM `active: false`): no key works, no new
-- key is issued. `external_id`: the identity provider's id for the user (SCIM).
ALTER TABLE users ADD COLUMN origin TEXT NOT NULL DEFAULT 'cli';
ALTER TABLE users ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN external_id TEXT NULL;

-- Groups provisioned by SCIM; a group whose display name is mapped in [oidc.teams]
-- puts its members in that team.
CREATE TABLE scim_groups (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    display_name TEXT    NOT NULL UNIQUE,
    external_id  TEXT    NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE TABLE scim_group_members (
    group_id INTEGER NOT NULL REFERENCES scim_groups(id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX scim_group_members_user ON scim_group_members(user_id);

-- Admin tokens gain a scope: `admin` (the admin API and the dashboard) or `scim`
-- (only /scim/v2, for an identity provider's provisioning).
ALTER TABLE admin_tokens ADD COLUMN scope VARCHAR(16) NOT NULL DEFAULT 'admin';

-- How each user was created (`cli`, `api`, `oidc:<issuer name>`, `scim`); users from
-- before this migration were all created at the command line or the admin API, and are
-- marked `cli`. `active` = FALSE: deactivated (SCIM `active: false`): no key works, no
-- new key is issued. `external_id`: the identity provider's id for the user (SCIM).
ALTER TABLE users ADD COLUMN origin VARCHAR(200) NOT NULL DEFAULT 'cli';
ALTER TABLE users ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE users ADD COLUMN external_id VARCHAR(512) NULL;

-- Groups provisioned by SCIM; a group whose display name is mapped in [oidc.teams]
-- puts its members in that team.
CREATE TABLE scim_groups (
    id           BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    display_name VARCHAR(255) NOT NULL,
    external_id  VARCHAR(512) NULL,
    created_at   BIGINT       NOT NULL,
    updated_at   BIGINT       NOT NULL,
    UNIQUE KEY scim_groups_name (display_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE scim_group_members (
    group_id BIGINT NOT NULL,
    user_id  BIGINT NOT NULL,
    PRIMARY KEY (group_id, user_id),
    KEY scim_group_members_user (user_id),
    CONSTRAINT scim_group_members_group FOREIGN KEY (group_id) REFERENCES scim_groups(id) ON DELETE CASCADE,
    CONSTRAINT scim_group_members_user_fk FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

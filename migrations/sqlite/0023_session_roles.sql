-- Dashboard single sign-on: a session records the role it was opened with (`admin` for
-- admin-token logins and the admin groups, `viewer`, `team_admin`), the signed-in user
-- for sessions opened through an OpenID issuer (NULL for admin-token sessions; such a
-- session is not tied to an admin token), and, for team admins, the teams they may
-- manage (a JSON list of team names).
ALTER TABLE admin_sessions ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE admin_sessions ADD COLUMN oidc_user TEXT NULL;
ALTER TABLE admin_sessions ADD COLUMN teams TEXT NULL;

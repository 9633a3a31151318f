//! What a dashboard session may do: `admin` (everything; admin-token logins and the
//! `oidc.admin_groups`), `viewer` (read every page, change nothing; `oidc.viewer_groups`)
//! or `team_admin` (the users of the named teams: their limits, keys and blocks;
//! `oidc.team_admin_groups`, the teams being those the person's groups map to through
//! `[oidc.teams]`).

use std::fmt;

/// A dashboard session's role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DashboardRole {
    /// Everything.
    Admin,
    /// Read only.
    Viewer,
    /// The users of these teams (sorted, without duplicates, never empty).
    TeamAdmin(Vec<String>),
}

impl DashboardRole {
    /// The stored and shown name: `admin`, `viewer` or `team_admin`.
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Viewer => "viewer",
            Self::TeamAdmin(_) => "team_admin",
        }
    }

    /// The teams a team admin manages (empty for the other roles).
    pub(crate) fn teams(&self) -> &[String] {
        match self {
            Self::TeamAdmin(t) => t,
            _ => &[],
        }
    }

    /// The role as stored (`role`, and `teams` as a JSON list); `None` for a value this
    /// version does not know, or a team admin without teams (such a session is refused).
    pub(crate) fn from_stored(role: &str, teams: Option<&str>) -> Option<Self> {
        match role {
            "admin" => Some(Self::Admin),
            "viewer" => Some(Self::Viewer),
            "team_admin" => {
                let list: Vec<String> = serde_json::from_str(teams?).ok()?;
                Self::team_admin(list)
            }
            _ => None,
        }
    }

    /// A team admin of `teams` (sorted, deduplicated); `None` when there are none.
    pub(crate) fn team_admin(mut teams: Vec<String>) -> Option<Self> {
        teams.sort();
        teams.dedup();
        (!teams.is_empty()).then_some(Self::TeamAdmin(teams))
    }

    /// The `teams` column: a JSON list for team admins, else `None`.
    pub(crate) fn stored_teams(&self) -> Option<String> {
        match self {
            Self::TeamAdmin(t) => serde_json::to_string(t).ok(),
            _ => None,
        }
    }
}

impl fmt::Display for DashboardRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_storage() {
        for role in [
            DashboardRole::Admin,
            DashboardRole::Viewer,
            DashboardRole::team_admin(vec!["ml".into(), "data".into(), "ml".into()]).unwrap(),
        ] {
            let back = DashboardRole::from_stored(role.as_str(), role.stored_teams().as_deref());
            assert_eq!(back.as_ref(), Some(&role));
        }
        assert_eq!(
            DashboardRole::team_admin(vec!["b".into(), "a".into()])
                .unwrap()
                .teams(),
            ["a", "b"]
        );
        assert_eq!(DashboardRole::team_admin(Vec::new()), None);
        assert_eq!(DashboardRole::from_stored("team_admin", Some("[]")), None);
        assert_eq!(DashboardRole::from_stored("team_admin", None), None);
        assert_eq!(DashboardRole::from_stored("root", None), None);
    }
}

//! What operations return: plain `Serialize` views that the command line prints (as
//! text or as this JSON) and the admin API sends as they are.

use serde::Serialize;

use crate::auth::crypto::IssuedKey;
use crate::domain::{KeyStatus, Language, Limits};
use crate::store::{Team, UsageTotals, User};

pub(crate) use crate::store::{AdminToken, AuditEntry, KeyInfo, Price, RequestRecord};

/// A team.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TeamView {
    /// Unique name.
    pub(crate) name: String,
    /// Limits shared by the members.
    pub limits: Limits,
    /// Creation time (epoch ms).
    pub(crate) created_at: i64,
}

impl From<&Team> for TeamView {
    fn from(t: &Team) -> Self {
        Self {
            name: t.name.clone(),
            limits: t.limits,
            created_at: t.created_at,
        }
    }
}

/// Usage today and this month (calendar periods in `quota.timezone`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub(crate) struct DayMonth {
    /// Today.
    #[schema(value_type = Object)]
    pub(crate) day: UsageTotals,
    /// This month.
    #[schema(value_type = Object)]
    pub(crate) month: UsageTotals,
}

/// `team info`: the team, its members and its usage.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TeamInfo {
    /// The team.
    #[serde(flatten)]
    pub(crate) team: TeamView,
    /// Usernames of the members.
    pub(crate) members: Vec<String>,
    /// Usage of all members together.
    pub(crate) usage: DayMonth,
}

/// A user.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// Unique name.
    pub(crate) username: String,
    /// The person's full name.
    pub(crate) person: String,
    /// Team name.
    pub team: String,
    /// Where messages go.
    pub(crate) email: Option<String>,
    /// Message language.
    pub language: Language,
    /// The IAM user linked for the backstop.
    pub(crate) iam_user: Option<String>,
    /// The user's own limits.
    pub limits: Limits,
    /// Creation time (epoch ms).
    pub(crate) created_at: i64,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            username: u.username.clone(),
            person: u.person_name.clone(),
            team: u.team.clone(),
            email: u.email.clone(),
            language: u.language,
            iam_user: u.iam_user.clone(),
            limits: u.limits,
            created_at: u.created_at,
        }
    }
}

/// A key in a user's view (never its secret).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub(crate) struct KeySummary {
    /// The SigV4 access key id.
    pub(crate) access_key_id: String,
    /// The tool it was issued for.
    pub(crate) tool: String,
    /// Active or revoked.
    pub(crate) status: KeyStatus,
    /// Creation time (epoch ms).
    pub(crate) created_at: i64,
}

/// `user info`: the user, usage today and this month, blocking status and keys.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UserInfo {
    /// The user.
    #[serde(flatten)]
    pub(crate) user: UserView,
    /// Usage.
    pub(crate) usage: DayMonth,
    /// Blocking status.
    #[serde(flatten)]
    pub blocking: BlockingView,
    /// Keys, newest first.
    pub(crate) keys: Vec<KeySummary>,
}

/// A user's blocking status after a change (or as it stands).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BlockingView {
    /// The user.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) username: String,
    /// Calls are refused.
    pub blocked: bool,
    /// Why.
    pub blocked_reason: Option<String>,
    /// Until when (epoch ms); `None` while blocked is indefinite.
    pub blocked_until: Option<i64>,
    /// Protected from limits.
    pub administrative_safe: bool,
    /// Until when the protection lasts; `None` is standing.
    pub(crate) safe_until: Option<i64>,
}

/// A key just issued: the only time its secret and bearer token are shown.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedKeyView {
    /// The credentials.
    #[serde(flatten)]
    pub key: IssuedKey,
    /// The owner.
    pub(crate) username: String,
    /// The tool.
    pub(crate) tool: String,
}

/// The name of what was deleted.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Deleted {
    /// Team or user name.
    pub(crate) deleted: String,
}

/// The key that was revoked.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Revoked {
    /// Access key id.
    pub(crate) revoked: String,
}

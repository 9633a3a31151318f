//! What operations return: plain `Serialize` views that the command line prints (as
//! text or as this JSON) and the admin API sends as they are.

use chrono_tz::Tz;
use serde::Serialize;

use crate::auth::crypto::IssuedKey;
use crate::domain::{KeyStatus, Language, Limits, LimitsSource};
use crate::store::{Team, UsageTotals, User};

pub(crate) use crate::store::{AdminToken, AuditEntry, KeyInfo, Price};

/// `ms` (epoch milliseconds) as RFC 3339 in `tz` (`quota.timezone`), to the second.
pub(crate) fn rfc3339(ms: Option<i64>, tz: Tz) -> Option<String> {
    let t = chrono::DateTime::from_timestamp_millis(ms?)?;
    Some(
        t.with_timezone(&tz)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
    )
}

/// A team.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TeamView {
    /// Unique name.
    pub(crate) name: String,
    /// Limits shared by the members.
    pub limits: Limits,
    /// Creation time (epoch ms).
    pub(crate) created_at: i64,
    /// Creation time, RFC 3339 in `quota.timezone`.
    pub(crate) created_at_rfc3339: Option<String>,
}

impl TeamView {
    /// The view of `t`, times in `tz`.
    pub(crate) fn new(t: &Team, tz: Tz) -> Self {
        Self {
            name: t.name.clone(),
            limits: t.limits,
            created_at: t.created_at,
            created_at_rfc3339: rfc3339(Some(t.created_at), tz),
        }
    }
}

/// A team in `team list`: with its members' usage today and this month.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TeamSummary {
    /// The team.
    #[serde(flatten)]
    pub(crate) team: TeamView,
    /// Number of members.
    pub(crate) members: usize,
    /// Usage of all members together.
    pub(crate) usage: DayMonth,
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

/// `team info`: the team, its members, its usage and its current rate.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TeamInfo {
    /// The team.
    #[serde(flatten)]
    pub(crate) team: TeamView,
    /// Usernames of the members.
    pub(crate) members: Vec<String>,
    /// Usage of all members together.
    pub(crate) usage: DayMonth,
    /// Short-term limits in force and the current rate (all members together).
    pub(crate) rate: super::rate_view::RateView,
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
    /// Who last set them: `defaults` (`quota.default_*`), `group` (an `[oidc.teams]`
    /// group's defaults, at sign-in) or `admin`.
    pub(crate) limits_source: LimitsSource,
    /// Creation time (epoch ms).
    pub(crate) created_at: i64,
    /// Creation time, RFC 3339 in `quota.timezone`.
    pub(crate) created_at_rfc3339: Option<String>,
    /// How the user was created: `cli`, `api`, `oidc:<issuer name>` or `scim`.
    pub(crate) origin: String,
    /// False once deactivated (SCIM `active: false`): every key was revoked and no new
    /// one is issued until the user is active again.
    pub(crate) active: bool,
}

impl UserView {
    /// The view of `u`, times in `tz`.
    pub(crate) fn new(u: &User, tz: Tz) -> Self {
        Self {
            username: u.username.clone(),
            person: u.person_name.clone(),
            team: u.team.clone(),
            email: u.email.clone(),
            language: u.language,
            iam_user: u.iam_user.clone(),
            limits: u.limits,
            limits_source: u.limits_source,
            created_at: u.created_at,
            created_at_rfc3339: rfc3339(Some(u.created_at), tz),
            origin: u.origin.clone(),
            active: u.active,
        }
    }
}

/// A user in `user list`: usage today and this month, and whether they are blocked,
/// protected or near a limit.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UserSummary {
    /// The user.
    #[serde(flatten)]
    pub(crate) user: UserView,
    /// Usage today and this month.
    pub(crate) usage: DayMonth,
    /// Calls are refused now (an administrator's or a limit's block).
    pub(crate) blocked: bool,
    /// Protected from limits now.
    pub(crate) administrative_safe: bool,
    /// The highest share (percent) of any of the user's own limits used in its period;
    /// `None` without limits.
    pub(crate) used_percent: Option<f64>,
}

/// `user list`: the users shown and how many matched in all.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UserList {
    /// The users, by name.
    pub(crate) users: Vec<UserSummary>,
    /// What was asked for (`blocked`, `near_limit` percent), for the caption.
    #[serde(skip)]
    pub(crate) near_limit: Option<u8>,
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
    /// Creation time, RFC 3339 in `quota.timezone`.
    pub(crate) created_at_rfc3339: Option<String>,
    /// When it stops working (epoch ms): keys issued at sign-in; `None` (keys an
    /// administrator issued): until revoked.
    pub(crate) expires_at: Option<i64>,
    /// `expires_at`, RFC 3339 in `quota.timezone`.
    pub(crate) expires_at_rfc3339: Option<String>,
    /// Past `expires_at` now: refused with `ExpiredTokenException`.
    pub(crate) expired: bool,
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
    /// Short-term limits in force and the current rate.
    pub(crate) rate: super::rate_view::RateView,
    /// The IAM principals linked for the CloudTrail/IAM backstop.
    pub(crate) iam_links: Vec<IamLinkView>,
}

/// One IAM principal linked to a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IamLinkView {
    /// `iam_user` (an IAM user name) or `role_session` (a session name pattern).
    #[schema(value_type = String, example = "iam_user")]
    pub kind: crate::domain::IamPrincipalKind,
    /// The IAM user name or the session name pattern.
    pub principal: String,
}

impl From<crate::store::IamLink> for IamLinkView {
    fn from(l: crate::store::IamLink) -> Self {
        Self {
            kind: l.kind,
            principal: l.principal,
        }
    }
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
    /// `blocked_until`, RFC 3339 in `quota.timezone`.
    pub(crate) blocked_until_rfc3339: Option<String>,
    /// Protected from limits.
    pub administrative_safe: bool,
    /// Until when the protection lasts (epoch ms); `None` is standing (or none).
    pub(crate) protected_until: Option<i64>,
    /// `protected_until`, RFC 3339 in `quota.timezone`.
    pub(crate) protected_until_rfc3339: Option<String>,
}

impl BlockingView {
    /// The view of a blocking row, times in `tz`; `username` empty leaves it out.
    pub(crate) fn new(s: &crate::store::BlockStatus, username: String, tz: Tz) -> Self {
        Self {
            username,
            blocked: s.blocked,
            blocked_reason: s.reason.clone(),
            blocked_until: s.blocked_until,
            blocked_until_rfc3339: rfc3339(s.blocked_until, tz),
            administrative_safe: s.administrative_safe,
            protected_until: s.safe_until,
            protected_until_rfc3339: rfc3339(s.safe_until, tz),
        }
    }
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

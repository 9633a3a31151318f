//! The service layer: every rule the product applies to teams, users, keys, limits,
//! blocks, prices and reports, in one place that the command line, the admin API and
//! the dashboard all call.
//!
//! Each operation takes the acting identity ([`Actor`](crate::domain::Actor)) where it
//! changes something, and returns a `Serialize` view ([`views`]) that front ends print or
//! send as they are.
//! Changes that others must hear about are written as domain events in the same
//! transaction as the change (see `crate::domain::DomainEvent` and `store::outbox`).
//! Blocks have exactly one writer: [`blocking`]; automatic blocks
//! (`quota_events`) and the daily reset ([`reset`]) go through it too.

pub(crate) mod admin_audit;
pub(crate) mod admin_sessions;
pub mod admin_tokens;
pub mod aggregates;
pub mod backup;
pub(crate) mod block_rule;
pub mod blocking;
pub mod cloudtrail_files;
pub(crate) mod daily_summary;
pub(crate) mod dashboard_roles;
pub mod direct_calls;
mod error;
pub mod iam_links;
pub(crate) mod keys;
pub mod lists;
pub(crate) mod pricing;
pub(crate) mod quota_events;
pub mod rate_view;
mod renames;
pub(crate) mod reports;
pub mod reset;
pub mod retention;
mod retry;
pub(crate) mod scim_groups;
pub(crate) mod scim_users;
pub(crate) mod sign_in;
pub(crate) mod summary;
pub(crate) mod teams;
pub(crate) mod user_active;
mod user_usage;
pub mod users;
pub mod validate;
pub mod views;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

pub use error::OpsError;

use crate::config::{Config, MasterKeySource};
use crate::domain::{Language, Limits};
use crate::store::{OpenMode, Store};

/// The service layer over one store.
pub struct Ops {
    store: Arc<Store>,
    tz: Tz,
    default_limits: Limits,
    /// `ratelimit.user_*` and `ratelimit.team_*`: short-term limits without an
    /// override.
    rate_defaults: crate::config::RateLimitConfig,
    default_language: Language,
    master_key: MasterKeySource,
    session_ttl: std::time::Duration,
    cookie_secure: bool,
    warning_percent: u8,
    backstop: Backstop,
    /// How long after midnight the day before's summary is queued: `upstream.timeout`
    /// (a call in flight at midnight is recorded, dated by its start, when it ends) and
    /// a minute for the record writers to store the last batches.
    summary_delay: std::time::Duration,
    /// `[oidc.teams]`: group display name -> team (SCIM groups and sign-in).
    group_teams: std::collections::BTreeMap<String, String>,
    /// `oidc.default_team`: where a SCIM-provisioned user starts.
    default_team: Option<String>,
}

/// What counting direct calls needs from `[iam]` and `[quota]`.
#[derive(Clone, Debug)]
struct Backstop {
    /// `iam.direct_call_usd`.
    direct_call_usd: f64,
    /// `iam.proxy_principal_arns`.
    proxy_principal_arns: Vec<String>,
    /// `quota.warning_thresholds`, ascending.
    warning_thresholds: Vec<u8>,
}

impl Ops {
    /// The service layer for `config` over `store`.
    pub fn new(store: Arc<Store>, config: &Config) -> Self {
        let count = |v: Option<u64>| v.and_then(|v| i64::try_from(v).ok());
        Self {
            store,
            tz: config.quota.timezone,
            default_limits: Limits {
                daily_requests: count(config.quota.default_daily_requests),
                monthly_requests: count(config.quota.default_monthly_requests),
                daily_budget_usd: None,
                monthly_budget_usd: None,
                ..Limits::default()
            },
            rate_defaults: config.ratelimit,
            default_language: config.email.language,
            master_key: config.database.master_key.clone(),
            session_ttl: config.admin.session_ttl,
            cookie_secure: config.admin.cookie_secure,
            // The first threshold: where `--near-limit` and the dashboard's amber start.
            warning_percent: config
                .quota
                .warning_thresholds
                .first()
                .copied()
                .unwrap_or(80),
            backstop: Backstop {
                direct_call_usd: config.iam.direct_call_usd,
                proxy_principal_arns: config.iam.proxy_principal_arns.clone(),
                warning_thresholds: {
                    let mut t = config.quota.warning_thresholds.clone();
                    t.sort_unstable();
                    t.dedup();
                    t
                },
            },
            summary_delay: config.upstream.timeout + std::time::Duration::from_secs(60),
            group_teams: config.oidc.teams.clone(),
            default_team: config.oidc.default_team.clone(),
        }
    }

    /// Opens the configured database, applies pending migrations and returns the
    /// service over it with the number of migrations applied (the command line's entry).
    pub async fn open(config: &Config) -> Result<(Self, usize), OpsError> {
        Self::open_with(config, OpenMode::CreateIfMissing).await
    }

    /// [`Ops::open`], refusing a missing SQLite file with [`OpenMode::MustExist`]. The
    /// master key is checked first, so a bad key is reported before anything is created.
    pub async fn open_with(config: &Config, mode: OpenMode) -> Result<(Self, usize), OpsError> {
        crate::auth::crypto::MasterKey::check(&config.database.master_key)?;
        let store = Store::open(&config.database, config.quota.timezone, mode).await?;
        let applied = store.migrate().await?;
        Ok((Self::new(Arc::new(store), config), applied))
    }

    /// Checks that the configured database exists and answers, without creating or
    /// migrating anything (`doctor`); returns what it is (`SQLite file /path`).
    pub async fn check_database(config: &Config) -> Result<String, OpsError> {
        let store =
            Store::open(&config.database, config.quota.timezone, OpenMode::MustExist).await?;
        let answer = store.ping().await;
        store.close().await;
        answer?;
        Ok(Self::database_name(config))
    }

    /// The configured database as people know it (`SQLite file /abs/path`, `MySQL
    /// host:port/db`), never the password.
    pub fn database_name(config: &Config) -> String {
        crate::store::describe_database(&config.database)
    }

    /// Closes the database connections.
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// `quota.timezone`: where days and months begin.
    pub(crate) fn timezone(&self) -> Tz {
        self.tz
    }

    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// The view of a user, times in `quota.timezone`.
    pub(crate) fn user_view(&self, u: &crate::store::User) -> views::UserView {
        views::UserView::new(u, self.tz)
    }

    /// The view of a team, times in `quota.timezone`.
    pub(crate) fn team_view(&self, t: &crate::store::Team) -> views::TeamView {
        views::TeamView::new(t, self.tz)
    }
}

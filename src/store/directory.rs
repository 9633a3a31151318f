//! Teams, users, their limits (`user_limits`) and their keys (`api_keys`).
//!
//! Keys are stored as the proxy needs them and no more: the SigV4 secret encrypted
//! (AES-256-GCM, see [`crate::auth::crypto`]) and the bearer token as a SHA-256 hash.

use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::Row;

use super::{conflict, now_ms, on_pool, Store, StoreError};

/// Request limits and budgets; `None` is unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Limits {
    /// Requests per calendar day.
    pub daily_requests: Option<i64>,
    /// Requests per calendar month.
    pub monthly_requests: Option<i64>,
    /// USD per calendar day.
    pub daily_budget_usd: Option<f64>,
    /// USD per calendar month.
    pub monthly_budget_usd: Option<f64>,
}

/// A change to limits: `None` leaves a limit as it is, `Some(None)` makes it unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LimitsUpdate {
    /// New daily request limit.
    pub daily_requests: Option<Option<i64>>,
    /// New monthly request limit.
    pub monthly_requests: Option<Option<i64>>,
    /// New daily budget.
    pub daily_budget_usd: Option<Option<f64>>,
    /// New monthly budget.
    pub monthly_budget_usd: Option<Option<f64>>,
}

impl LimitsUpdate {
    /// The limits after applying this update to `base`.
    pub fn apply(&self, base: Limits) -> Limits {
        Limits {
            daily_requests: self.daily_requests.unwrap_or(base.daily_requests),
            monthly_requests: self.monthly_requests.unwrap_or(base.monthly_requests),
            daily_budget_usd: self.daily_budget_usd.unwrap_or(base.daily_budget_usd),
            monthly_budget_usd: self.monthly_budget_usd.unwrap_or(base.monthly_budget_usd),
        }
    }
}

/// A team and its shared limits.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Team {
    /// Database id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Limits shared by all members.
    pub limits: Limits,
    /// Creation time (epoch ms).
    pub created_at: i64,
}

/// What `team create` stores.
#[derive(Clone, Debug)]
pub struct NewTeam {
    /// Unique name.
    pub name: String,
    /// Initial limits.
    pub limits: Limits,
}

/// A user of the proxy.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct User {
    /// Database id.
    pub id: i64,
    /// Unique login-like name.
    pub username: String,
    /// The person's full name.
    pub person_name: String,
    /// Team id.
    pub team_id: i64,
    /// Team name.
    pub team: String,
    /// Where notifications go.
    pub email: Option<String>,
    /// Template language (`en`, `es`).
    pub language: String,
    /// The IAM user the backstop blocks, if any.
    pub iam_user: Option<String>,
    /// The user's own limits.
    pub limits: Limits,
    /// Creation time (epoch ms).
    pub created_at: i64,
}

/// What `user create` stores.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Unique name.
    pub username: String,
    /// Full name.
    pub person_name: String,
    /// Existing team.
    pub team: String,
    /// Email address.
    pub email: Option<String>,
    /// `en` or `es`.
    pub language: String,
    /// IAM user name for the backstop.
    pub iam_user: Option<String>,
    /// Initial limits.
    pub limits: Limits,
}

/// A key as listed (never with its secret).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeyInfo {
    /// The SigV4 access key id.
    pub access_key_id: String,
    /// Owner.
    pub username: String,
    /// The tool this key was issued for.
    pub tool: String,
    /// `active` or `revoked`.
    pub status: String,
    /// Creation time (epoch ms).
    pub created_at: i64,
    /// Revocation time (epoch ms).
    pub revoked_at: Option<i64>,
}

/// What `user create-key` stores.
#[derive(Clone, Debug)]
pub struct NewKey {
    /// The SigV4 access key id.
    pub access_key_id: String,
    /// The tool the key is for.
    pub tool: String,
    /// The secret, encrypted under the master key.
    pub secret_enc: Vec<u8>,
    /// Hex SHA-256 of the bearer token.
    pub bearer_hash: String,
}

/// An active key with everything the proxy needs to authenticate it.
#[derive(Clone, Debug)]
pub struct ActiveKey {
    /// The SigV4 access key id.
    pub access_key_id: String,
    /// The tool the key is for.
    pub tool: String,
    /// The secret, encrypted under the master key.
    pub secret_enc: Vec<u8>,
    /// Hex SHA-256 of the bearer token.
    pub bearer_hash: String,
    /// Owner id.
    pub user_id: i64,
    /// Owner name.
    pub username: String,
    /// Owner's full name.
    pub person: String,
    /// Owner's team id.
    pub team_id: i64,
    /// Owner's team.
    pub team: String,
}

const USER_COLUMNS: &str = "u.id, u.username, u.person_name, u.team_id, t.name AS team, \
     u.email, u.language, u.iam_user, u.created_at, l.daily_requests, l.monthly_requests, \
     l.daily_budget_usd, l.monthly_budget_usd \
     FROM users u JOIN teams t ON t.id = u.team_id LEFT JOIN user_limits l ON l.user_id = u.id";

const TEAM_COLUMNS: &str = "id, name, daily_requests, monthly_requests, daily_budget_usd, \
     monthly_budget_usd, created_at FROM teams";

macro_rules! limits_from {
    ($r:expr) => {
        Limits {
            daily_requests: $r.try_get("daily_requests")?,
            monthly_requests: $r.try_get("monthly_requests")?,
            daily_budget_usd: $r.try_get("daily_budget_usd")?,
            monthly_budget_usd: $r.try_get("monthly_budget_usd")?,
        }
    };
}

macro_rules! user_from {
    ($r:expr) => {
        User {
            id: $r.try_get("id")?,
            username: $r.try_get("username")?,
            person_name: $r.try_get("person_name")?,
            team_id: $r.try_get("team_id")?,
            team: $r.try_get("team")?,
            email: $r.try_get("email")?,
            language: $r.try_get("language")?,
            iam_user: $r.try_get("iam_user")?,
            created_at: $r.try_get("created_at")?,
            limits: limits_from!($r),
        }
    };
}

macro_rules! team_from {
    ($r:expr) => {
        Team {
            id: $r.try_get("id")?,
            name: $r.try_get("name")?,
            created_at: $r.try_get("created_at")?,
            limits: limits_from!($r),
        }
    };
}

impl Store {
    /// Creates a team.
    pub async fn create_team(&self, team: &NewTeam) -> Result<Team, StoreError> {
        let l = team.limits;
        on_pool!(self, p => {
            sqlx::query(
                "INSERT INTO teams (name, daily_requests, monthly_requests, daily_budget_usd, \
                 monthly_budget_usd, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&team.name)
            .bind(l.daily_requests)
            .bind(l.monthly_requests)
            .bind(l.daily_budget_usd)
            .bind(l.monthly_budget_usd)
            .bind(now_ms())
            .execute(p)
            .await
            .map_err(|e| conflict(e, || format!("team `{}` already exists", team.name)))?.rows_affected()
        });
        self.bump_state_version().await?;
        self.team(&team.name).await
    }

    /// One team by name.
    pub async fn team(&self, name: &str) -> Result<Team, StoreError> {
        let sql = format!("SELECT {TEAM_COLUMNS} WHERE name = ?");
        let team = on_pool!(self, p => {
            match sqlx::query(&sql).bind(name).fetch_optional(p).await? {
                Some(r) => team_from!(r),
                None => return Err(StoreError::NotFound(format!("team `{name}`"))),
            }
        });
        Ok(team)
    }

    /// All teams, by name.
    pub async fn teams(&self) -> Result<Vec<Team>, StoreError> {
        let sql = format!("SELECT {TEAM_COLUMNS} ORDER BY name");
        let teams = on_pool!(self, p => {
            let rows = sqlx::query(&sql).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(team_from!(r));
            }
            out
        });
        Ok(teams)
    }

    /// Changes a team's limits.
    pub async fn set_team_limits(
        &self,
        name: &str,
        update: &LimitsUpdate,
    ) -> Result<Team, StoreError> {
        let team = self.team(name).await?;
        let l = update.apply(team.limits);
        on_pool!(self, p => {
            sqlx::query(
                "UPDATE teams SET daily_requests = ?, monthly_requests = ?, \
                 daily_budget_usd = ?, monthly_budget_usd = ? WHERE id = ?",
            )
            .bind(l.daily_requests)
            .bind(l.monthly_requests)
            .bind(l.daily_budget_usd)
            .bind(l.monthly_budget_usd)
            .bind(team.id)
            .execute(p)
            .await?.rows_affected()
        });
        self.bump_state_version().await?;
        self.team(name).await
    }

    /// Deletes a team that has no users.
    pub async fn delete_team(&self, name: &str) -> Result<(), StoreError> {
        let team = self.team(name).await?;
        let members: i64 = on_pool!(self, p => {
            sqlx::query("SELECT COUNT(*) AS n FROM users WHERE team_id = ?")
                .bind(team.id)
                .fetch_one(p)
                .await?
                .try_get("n")?
        });
        if members > 0 {
            return Err(StoreError::Conflict(format!(
                "team `{name}` still has {members} user(s); delete or move them first"
            )));
        }
        on_pool!(self, p => {
            sqlx::query("DELETE FROM teams WHERE id = ?").bind(team.id).execute(p).await?.rows_affected()
        });
        self.bump_state_version().await
    }

    /// Creates a user and their limits in one transaction.
    pub async fn create_user(&self, user: &NewUser) -> Result<User, StoreError> {
        let team = self.team(&user.team).await?;
        let l = user.limits;
        let now = now_ms();
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO users (username, person_name, team_id, email, language, iam_user, \
                 created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&user.username)
            .bind(&user.person_name)
            .bind(team.id)
            .bind(&user.email)
            .bind(&user.language)
            .bind(&user.iam_user)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict(e, || format!("user `{}` already exists", user.username)))?;
            let id: i64 = sqlx::query("SELECT id FROM users WHERE username = ?")
                .bind(&user.username)
                .fetch_one(&mut *tx)
                .await?
                .try_get("id")?;
            sqlx::query(
                "INSERT INTO user_limits (user_id, daily_requests, monthly_requests, \
                 daily_budget_usd, monthly_budget_usd, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(l.daily_requests)
            .bind(l.monthly_requests)
            .bind(l.daily_budget_usd)
            .bind(l.monthly_budget_usd)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        self.bump_state_version().await?;
        self.user(&user.username).await
    }

    /// One user by name.
    pub async fn user(&self, username: &str) -> Result<User, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} WHERE u.username = ?");
        let user = on_pool!(self, p => {
            match sqlx::query(&sql).bind(username).fetch_optional(p).await? {
                Some(r) => user_from!(r),
                None => return Err(StoreError::NotFound(format!("user `{username}`"))),
            }
        });
        Ok(user)
    }

    /// All users, or a team's, by name.
    pub async fn users(&self, team: Option<&str>) -> Result<Vec<User>, StoreError> {
        if let Some(t) = team {
            self.team(t).await?;
        }
        let sql =
            format!("SELECT {USER_COLUMNS} WHERE (? IS NULL OR t.name = ?) ORDER BY u.username");
        let users = on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(team).bind(team).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(user_from!(r));
            }
            out
        });
        Ok(users)
    }

    /// Changes a user's limits.
    pub async fn set_user_limits(
        &self,
        username: &str,
        update: &LimitsUpdate,
    ) -> Result<User, StoreError> {
        let user = self.user(username).await?;
        let l = update.apply(user.limits);
        on_pool!(self, p => {
            sqlx::query(
                "UPDATE user_limits SET daily_requests = ?, monthly_requests = ?, \
                 daily_budget_usd = ?, monthly_budget_usd = ?, updated_at = ? WHERE user_id = ?",
            )
            .bind(l.daily_requests)
            .bind(l.monthly_requests)
            .bind(l.daily_budget_usd)
            .bind(l.monthly_budget_usd)
            .bind(now_ms())
            .bind(user.id)
            .execute(p)
            .await?.rows_affected()
        });
        self.bump_state_version().await?;
        self.user(username).await
    }

    /// Deletes a user with their keys and limits; their request rows stay.
    pub async fn delete_user(&self, username: &str) -> Result<(), StoreError> {
        let user = self.user(username).await?;
        on_pool!(self, p => {
            sqlx::query("DELETE FROM users WHERE id = ?").bind(user.id).execute(p).await?.rows_affected()
        });
        self.bump_state_version().await
    }

    /// Stores a new key for a user.
    pub async fn create_key(&self, username: &str, key: &NewKey) -> Result<KeyInfo, StoreError> {
        let user = self.user(username).await?;
        on_pool!(self, p => {
            sqlx::query(
                "INSERT INTO api_keys (access_key_id, user_id, tool_name, secret_enc, \
                 bearer_hash, status, created_at) VALUES (?, ?, ?, ?, ?, 'active', ?)",
            )
            .bind(&key.access_key_id)
            .bind(user.id)
            .bind(&key.tool)
            .bind(&key.secret_enc)
            .bind(&key.bearer_hash)
            .bind(now_ms())
            .execute(p)
            .await
            .map_err(|e| conflict(e, || "key id collision; try again".to_string()))?.rows_affected()
        });
        self.bump_state_version().await?;
        let keys = self.keys(Some(username)).await?;
        keys.into_iter()
            .find(|k| k.access_key_id == key.access_key_id)
            .ok_or_else(|| StoreError::NotFound(format!("key `{}`", key.access_key_id)))
    }

    /// Keys, all or one user's, newest first.
    pub async fn keys(&self, username: Option<&str>) -> Result<Vec<KeyInfo>, StoreError> {
        if let Some(u) = username {
            self.user(u).await?;
        }
        let keys = on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT k.access_key_id, u.username, k.tool_name, k.status, k.created_at, \
                 k.revoked_at FROM api_keys k JOIN users u ON u.id = k.user_id \
                 WHERE (? IS NULL OR u.username = ?) ORDER BY k.created_at DESC, k.access_key_id",
            )
            .bind(username)
            .bind(username)
            .fetch_all(p)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(KeyInfo {
                    access_key_id: r.try_get("access_key_id")?,
                    username: r.try_get("username")?,
                    tool: r.try_get("tool_name")?,
                    status: r.try_get("status")?,
                    created_at: r.try_get("created_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                });
            }
            out
        });
        Ok(keys)
    }

    /// Revokes a key; running proxies refuse it within the propagation delay.
    pub async fn revoke_key(&self, access_key_id: &str) -> Result<(), StoreError> {
        let affected = on_pool!(self, p => {
            sqlx::query(
                "UPDATE api_keys SET status = 'revoked', revoked_at = ? \
                 WHERE access_key_id = ? AND status = 'active'",
            )
            .bind(now_ms())
            .bind(access_key_id)
            .execute(p)
            .await?
            .rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound(format!(
                "active key `{access_key_id}`"
            )));
        }
        self.bump_state_version().await
    }

    /// Every active key with its owner, for the proxy's in-memory directory.
    pub async fn active_keys(&self) -> Result<Vec<ActiveKey>, StoreError> {
        let mut out = Vec::new();
        self.each_active_key(|k| out.push(k)).await?;
        Ok(out)
    }

    /// Visits every active key with its owner, one row at a time (a directory of 100,000
    /// keys never sits in memory twice).
    pub async fn each_active_key(
        &self,
        mut visit: impl FnMut(ActiveKey),
    ) -> Result<(), StoreError> {
        on_pool!(self, p => {
            let mut rows = sqlx::query(
                "SELECT k.access_key_id, k.tool_name, k.secret_enc, k.bearer_hash, u.id AS user_id, \
                 u.username, u.person_name, u.team_id, t.name AS team FROM api_keys k \
                 JOIN users u ON u.id = k.user_id JOIN teams t ON t.id = u.team_id \
                 WHERE k.status = 'active'",
            )
            .fetch(p);
            while let Some(r) = rows.try_next().await? {
                visit(ActiveKey {
                    access_key_id: r.try_get("access_key_id")?,
                    tool: r.try_get("tool_name")?,
                    secret_enc: r.try_get("secret_enc")?,
                    bearer_hash: r.try_get("bearer_hash")?,
                    user_id: r.try_get("user_id")?,
                    username: r.try_get("username")?,
                    person: r.try_get("person_name")?,
                    team_id: r.try_get("team_id")?,
                    team: r.try_get("team")?,
                });
            }
        });
        Ok(())
    }

    /// Visits every user's limits with their team id, one row at a time.
    pub async fn each_user_limits(
        &self,
        mut visit: impl FnMut(i64, i64, Limits),
    ) -> Result<(), StoreError> {
        on_pool!(self, p => {
            let mut rows = sqlx::query(
                "SELECT u.id, u.team_id, l.daily_requests, l.monthly_requests, l.daily_budget_usd, \
                 l.monthly_budget_usd FROM users u LEFT JOIN user_limits l ON l.user_id = u.id",
            )
            .fetch(p);
            while let Some(r) = rows.try_next().await? {
                visit(r.try_get("id")?, r.try_get("team_id")?, limits_from!(r));
            }
        });
        Ok(())
    }
}

/// A user's row in `user_blocking_status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BlockingStatus {
    /// Whether calls are refused.
    pub blocked: bool,
    /// `manual` or `automatic`.
    pub block_kind: Option<String>,
    /// Why.
    pub blocked_reason: Option<String>,
    /// Until when (epoch ms); `None` with `blocked` is indefinite.
    pub blocked_until: Option<i64>,
    /// Never refused or blocked for limits.
    pub administrative_safe: bool,
    /// Until when the protection lasts (epoch ms).
    pub safe_until: Option<i64>,
}

impl Store {
    /// The user's blocking status (all clear when the user has no row).
    pub async fn blocking_status(&self, user_id: i64) -> Result<BlockingStatus, StoreError> {
        let status = on_pool!(self, p => {
            match sqlx::query(
                "SELECT blocked, block_kind, blocked_reason, blocked_until, administrative_safe, \
                 safe_until FROM user_blocking_status WHERE user_id = ?",
            )
            .bind(user_id)
            .fetch_optional(p)
            .await?
            {
                None => BlockingStatus::default(),
                Some(r) => BlockingStatus {
                    blocked: r.try_get("blocked")?,
                    block_kind: r.try_get("block_kind")?,
                    blocked_reason: r.try_get("blocked_reason")?,
                    blocked_until: r.try_get("blocked_until")?,
                    administrative_safe: r.try_get("administrative_safe")?,
                    safe_until: r.try_get("safe_until")?,
                },
            }
        });
        Ok(status)
    }
}

//! The database: one [`Store`] type over embedded SQLite or MySQL/MariaDB/Aurora, with the
//! same behaviour on both. Every query is written once; the `on_pool!` macro expands it
//! for each engine, so the two cannot drift apart.
//!
//! The store is on the request path only for a key the memory does not know yet and for
//! a new quota chunk: the proxy serves from in-memory snapshots (the key directory in
//! `auth`) and writes request rows from a background task.
//! Times are Unix epoch milliseconds (UTC) in `BIGINT` columns on both engines.
//!
//! One file per table group: `admin` (admin tokens and the admin audit log, whose rows
//! every administrative writer adds in its own transaction), `teams`, `users`, `limits` (user limits and the policy
//! load), `keys`, `blocks` (`user_blocking_status`: a change locks the row, applies the
//! service layer's rule to it and writes it with its audit row and event, in one transaction), `audit`, `counters` (`quota_counters`), `leases`
//! (`quota_leases`, the reserve each proxy holds of a counter), `jobs`
//! (`scheduler_runs`), `outbox` (domain events and their deliveries), `pricing`,
//! `requests` (`bedrock_requests`), `rollups` (`usage_daily`, `usage_hourly`, kept with
//! the request rows), `aggregates` (reports over the rollups), `record_pages` (keyset
//! pages of request rows, retention), `iam_links` and `iam_denies` (the IAM backstop's
//! links and the deny policies it put on). The store holds no business rule: the service layer
//! (`ops`) decides, the store writes. Every writer of something the proxies serve (users,
//! keys, limits, teams, prices, blocks) bumps the state version inside its transaction.

mod admin;
mod aggregates;
mod audit;
mod backup;
mod blocks;
mod counters;
mod direct_calls;
mod error;
mod iam_denies;
mod iam_links;
mod jobs;
mod keys;
mod leases;
mod limits;
mod open;
mod outbox;
mod pricing;
mod rate_activity;
mod record_pages;
mod renames;
mod requests;
#[cfg(test)]
pub(crate) use requests::tests::refused_record;
mod rollup_sql;
mod rollups;
pub(crate) mod scim;
mod sessions;
pub(crate) use sessions::NewSessionRow;
mod teams;
mod users;

use std::str::FromStr;
use std::time::Duration;

use chrono_tz::Tz;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Row;

pub(crate) use admin::{AdminAuditFilter, AdminAuditRow};
pub use admin::{AdminAuditRecord, AdminToken};
pub(crate) use aggregates::{DailyFilter, DailyGroup, GroupSums};
pub use audit::AuditEntry;
pub(crate) use audit::AuditRecord;
pub(crate) use blocks::BlockChange;
pub use blocks::BlockStatus;
pub(crate) use counters::CounterRef;
pub(crate) use direct_calls::Debit;
pub use error::StoreError;
pub(crate) use iam_denies::IamDeny;
pub use iam_links::IamLink;
pub use keys::{ActiveKey, KeyInfo, NewKey};
pub(crate) use leases::{ExpiredLease, LeaseRef};
pub use open::{describe as describe_database, OpenMode};
pub use outbox::{ClaimedEvent, StoredEvent};
pub use pricing::Price;
pub(crate) use rate_activity::RateRow;
pub(crate) use record_pages::{PagedRecord, RecordFilter};
pub use requests::{RequestRecord, UsageFilter, UsageTotals};
pub(crate) use teams::{NewTeam, Team};
pub(crate) use users::NewUser;
pub use users::User;

pub use crate::domain::Limits;

use crate::config::{DatabaseConfig, DatabaseKind};

/// Expands `$body` once per engine with `$pool` bound to that engine's pool.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::MySql($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Runs `$body` on a connection of its own from `$store`'s pool (bound to `$conn`), all
/// of it (the wait for the connection included) within `$deadline`. Past the deadline
/// the work is dropped and its connection closed, not handed back to the pool: a
/// server that vanished without closing its connections (a host gone, a failover
/// behind the same name) would otherwise hold the transaction, and whatever waits on
/// it, for TCP's retransmission time-out (about 15 minutes). The server rolls back a
/// transaction whose connection closes; one whose commit was already sent may have
/// committed, so the caller must treat [`StoreError::Abandoned`] as "maybe done".
macro_rules! on_conn_within {
    ($store:expr, $deadline:expr, $conn:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite(p) => $crate::store::within!(p, $deadline, $conn => $body),
            $crate::store::Pool::MySql(p) => $crate::store::within!(p, $deadline, $conn => $body),
        }
    };
}
pub(crate) use on_conn_within;

/// [`on_conn_within!`] for one engine's pool.
macro_rules! within {
    ($pool:expr, $deadline:expr, $conn:ident => $body:expr) => {{
        let deadline: std::time::Duration = $deadline;
        let until = tokio::time::Instant::now() + deadline;
        let mut $conn = match tokio::time::timeout_at(until, $pool.acquire()).await {
            Ok(conn) => conn?,
            Err(_) => return Err($crate::store::StoreError::Abandoned(deadline)),
        };
        let work = async { Ok::<_, $crate::store::StoreError>($body) };
        match tokio::time::timeout_at(until, work).await {
            Ok(done) => done?,
            Err(_) => {
                drop($conn.detach());
                return Err($crate::store::StoreError::Abandoned(deadline));
            }
        }
    }};
}
pub(crate) use within;

/// Marks, inside the transaction `$conn` of a change, that users, keys, limits, blocks
/// or prices changed: the change and the new state version commit together, so a
/// committed change is always seen by the proxies' change watchers. It is the last
/// statement of every such transaction (the one row all of them lock, held briefly).
macro_rules! bump_state_version {
    ($conn:expr) => {
        sqlx::query("UPDATE state_version SET version = version + 1 WHERE id = 1")
            .execute($conn)
            .await?
            .rows_affected()
    };
}
pub(crate) use bump_state_version;

/// Commits `tx`. A commit the server refused (an error it answered) was rolled back;
/// one whose answer never came (the connection failed) may have landed:
/// [`StoreError::CommitUnknown`].
pub(crate) async fn commit<DB: sqlx::Database>(
    tx: sqlx::Transaction<'_, DB>,
) -> Result<(), StoreError> {
    match tx.commit().await {
        Ok(()) => Ok(()),
        Err(e @ sqlx::Error::Database(_)) => Err(StoreError::Database(e)),
        Err(e) => Err(StoreError::CommitUnknown(e.to_string())),
    }
}

/// Runs `attempt` until it succeeds, fails for good, or has met a lock conflict
/// (deadlock, lock wait time-out, busy database: see
/// [`StoreError::is_retryable_conflict`]) `RETRIES` times; waits a short, jittered,
/// growing time between attempts so that two writers that collided do not collide
/// again in step.
macro_rules! retry_conflicts {
    ($attempt:expr) => {{
        let mut tries = 0u32;
        loop {
            match $attempt {
                Err(e) if tries < $crate::store::RETRIES && e.is_retryable_conflict() => {
                    tries += 1;
                    tokio::time::sleep($crate::store::backoff(tries)).await;
                }
                done => break done,
            }
        }
    }};
}
pub(crate) use retry_conflicts;

/// How many times a change that met a lock conflict is tried again.
pub(crate) const RETRIES: u32 = 5;

/// The wait before retry `n` (1-based): 10 ms to 20 ms times `n`, at random.
pub(crate) fn backoff(n: u32) -> Duration {
    use rand::Rng as _;
    let base = 10 * u64::from(n);
    Duration::from_millis(base + rand::thread_rng().gen_range(0..=base))
}

pub(crate) enum Pool {
    Sqlite(SqlitePool),
    MySql(MySqlPool),
}

/// A connection pool to the configured database.
pub struct Store {
    pub(crate) pool: Pool,
    /// Where the usage rollups' days begin (`quota.timezone`).
    day_zone: Tz,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static MYSQL_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/mysql");

impl Store {
    /// Connects to the database named by `config.url` (creating an SQLite file, mode
    /// 0600, when the URL allows it); the usage rollups sum records by local day in
    /// `day_zone` (`quota.timezone`).
    pub async fn connect(config: &DatabaseConfig, day_zone: Tz) -> Result<Self, StoreError> {
        Self::open(config, day_zone, OpenMode::CreateIfMissing).await
    }

    /// Connects to the database named by `config.url`; with [`OpenMode::MustExist`] a
    /// missing SQLite file is an error instead of a new empty database. Errors name the
    /// file or host and the cause.
    pub async fn open(
        config: &DatabaseConfig,
        day_zone: Tz,
        mode: OpenMode,
    ) -> Result<Self, StoreError> {
        let pool = match config.kind {
            DatabaseKind::Sqlite => {
                open::prepare_sqlite(config, mode)?;
                let options = SqliteConnectOptions::from_str(&config.url)
                    .map_err(|e| open::open_error(config, open::cause(&e)))?
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true);
                let in_memory = crate::config::sqlite_file(&config.url).is_none();
                let pool = SqlitePoolOptions::new()
                    // An in-memory database lives as long as its one connection.
                    .max_connections(if in_memory { 1 } else { config.max_connections })
                    .min_connections(if in_memory { 1 } else { 0 })
                    .idle_timeout(if in_memory {
                        None
                    } else {
                        Some(Duration::from_secs(600))
                    })
                    .max_lifetime(if in_memory {
                        None
                    } else {
                        Some(Duration::from_secs(1800))
                    })
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .map_err(|e| open::open_error(config, open::cause(&e)))?;
                Pool::Sqlite(pool)
            }
            DatabaseKind::MySql => {
                let options = MySqlConnectOptions::from_str(&config.url)
                    .map_err(|e| open::open_error(config, open::cause(&e)))?;
                open::probe_mysql(config, &options).await?;
                let pool = MySqlPoolOptions::new()
                    .max_connections(config.max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    // A database that stops answering makes every waiting acquire slow;
                    // the outage is logged once by the quota engine and the record
                    // writer, not once per waiter by the pool.
                    .acquire_slow_level(log::LevelFilter::Debug)
                    .connect_with(options)
                    .await
                    .map_err(|e| open::open_error(config, open::cause(&e)))?;
                Pool::MySql(pool)
            }
        };
        Ok(Self { pool, day_zone })
    }

    /// Which engine this store talks to.
    pub fn kind(&self) -> DatabaseKind {
        match self.pool {
            Pool::Sqlite(_) => DatabaseKind::Sqlite,
            Pool::MySql(_) => DatabaseKind::MySql,
        }
    }

    /// Applies pending migrations, then sums rows stored before the usage rollups existed
    /// into them (once; see `backfill_rollups`); returns how many migrations were applied.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let before = self.applied_migrations().await.unwrap_or(0);
        match &self.pool {
            Pool::Sqlite(p) => SQLITE_MIGRATIONS.run(p).await?,
            Pool::MySql(p) => MYSQL_MIGRATIONS.run(p).await?,
        }
        self.backfill_rollups().await?;
        Ok(self.applied_migrations().await?.saturating_sub(before))
    }

    async fn applied_migrations(&self) -> Result<usize, StoreError> {
        let n: i64 = on_pool!(self, p => {
            sqlx::query("SELECT COUNT(*) AS n FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_one(p)
                .await?
                .try_get("n")?
        });
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Answers when the database is reachable (`/readyz`).
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, p => sqlx::query("SELECT 1").execute(p).await?.rows_affected());
        Ok(())
    }

    /// The change counter: bumped by every change a running proxy must pick up.
    pub async fn state_version(&self) -> Result<i64, StoreError> {
        let v: i64 = on_pool!(self, p => {
            sqlx::query("SELECT version FROM state_version WHERE id = 1")
                .fetch_one(p)
                .await?
                .try_get("version")?
        });
        Ok(v)
    }

    /// The statement that opens a transaction which reads a row and then rewrites it:
    /// SQLite's `BEGIN IMMEDIATE` takes the write lock at once (a deferred one could
    /// read a row another writer changes before this one writes); MySQL's `BEGIN`, with
    /// the row read by `SELECT ... FOR UPDATE` ([`Store::for_update`]).
    pub(crate) fn begin_locking(&self) -> &'static str {
        match self.kind() {
            DatabaseKind::Sqlite => "BEGIN IMMEDIATE",
            DatabaseKind::MySql => "BEGIN",
        }
    }

    /// ` FOR UPDATE` (MySQL: the row read is locked until the transaction ends) or
    /// nothing (SQLite, whose write lock [`Store::begin_locking`] already holds).
    pub(crate) fn for_update(&self) -> &'static str {
        match self.kind() {
            DatabaseKind::Sqlite => "",
            DatabaseKind::MySql => " FOR UPDATE",
        }
    }

    /// `INSERT OR IGNORE` (SQLite) or `INSERT IGNORE` (MySQL).
    pub(crate) fn insert_ignore(&self) -> &'static str {
        match self.kind() {
            DatabaseKind::Sqlite => "INSERT OR IGNORE",
            DatabaseKind::MySql => "INSERT IGNORE",
        }
    }

    /// Closes every connection (used on shutdown, after the last flush).
    pub(crate) async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }
}

/// Now, in epoch milliseconds.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Turns a unique-constraint violation into [`StoreError::Conflict`].
pub(crate) fn conflict(e: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what()),
        _ => StoreError::Database(e),
    }
}

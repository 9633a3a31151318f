//! Usage rollups, per-call rows summed as they are written, so reports over months read
//! thousands of rows, not millions: by local day and user and model (`usage_daily`), team
//! and model (`usage_team_daily`), user (`usage_user_day_total`), team
//! (`usage_team_day_total`) and model (`usage_model_day_total`); by UTC hour, team and model (`usage_hourly`); and the
//! backfill's progress (`rollup_state`).
//!
//! A batch of records is summed in memory ([`Rollup`]) and written as one upsert row
//! per distinct key, in the transaction that inserts the records, and only for records
//! that transaction really inserted (see `insert_requests`): a retried batch adds
//! nothing twice. Keys are written in sorted order, so two writers lock rows in the same
//! order. Rows stored before the rollups existed are summed once by [`Store::backfill_rollups`].
//!
//! Calls the proxy failed before they reached Bedrock (`not_sent`) are in no rollup: they
//! are not usage. Calls the proxy refused (`refused`: blocked, limit or budget reached,
//! rate limit, validation, no price) count as errors and only there: not as requests,
//! tokens or cost, and never toward a limit (limits count in `quota_counters`).
//!
//! The day of a record is its local day in the store's day zone (`quota.timezone`) at
//! write time; the hour is the UTC hour, which is a local hour in every whole-hour zone.

use std::collections::BTreeMap;

use chrono::DateTime;
use chrono_tz::Tz;
use sha2::{Digest, Sha256};

use super::requests::COUNTED;
use super::rollup_sql::write_rollup;
use super::RequestRecord;
use super::{on_pool, Store, StoreError};

/// Ids of pre-rollup rows summed per backfill transaction.
const BACKFILL_IDS: i64 = 50_000;
/// Every rollup table.
const ROLLUP_TABLES: [&str; 6] = [
    "usage_daily",
    "usage_team_daily",
    "usage_user_day_total",
    "usage_team_day_total",
    "usage_model_day_total",
    "usage_hourly",
];
/// One hour in milliseconds.
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// The parts of a record a rollup sums.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(super) struct Fact {
    pub(super) created_at: i64,
    pub(super) user_id: i64,
    pub(super) username: String,
    pub(super) team: String,
    pub(super) model_id: String,
    pub(super) status_code: i64,
    pub(super) input_tokens: i64,
    pub(super) output_tokens: i64,
    pub(super) cache_read_tokens: i64,
    pub(super) cache_write_tokens: i64,
    pub(super) cost_usd: f64,
    /// 1 for a refused call (counted as an error only), else 0.
    pub(super) refused_call: i64,
}

/// Summed counters of one rollup row.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Sums {
    pub(super) requests: i64,
    pub(super) errors: i64,
    pub(super) input_tokens: i64,
    pub(super) output_tokens: i64,
    pub(super) cache_read_tokens: i64,
    pub(super) cache_write_tokens: i64,
    pub(super) cost_usd: f64,
}

impl Sums {
    /// Adds a call answered with `status`; a refused call (`refused`) adds an error and
    /// nothing else.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        refused: bool,
        status: i64,
        input: i64,
        output: i64,
        read: i64,
        write: i64,
        cost: f64,
    ) {
        if refused {
            self.errors += 1;
            return;
        }
        self.requests += 1;
        self.errors += i64::from(status >= 400);
        self.input_tokens += input;
        self.output_tokens += output;
        self.cache_read_tokens += read;
        self.cache_write_tokens += write;
        self.cost_usd += cost;
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct DailyKey {
    pub(super) day: String,
    pub(super) user_id: i64,
    pub(super) username: String,
    pub(super) team: String,
    pub(super) model_id: String,
}

impl DailyKey {
    /// 128 bits of SHA-256 over the key, hex: the indexable stand-in for the key.
    pub(super) fn hash(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            self.day.as_bytes(),
            &self.user_id.to_be_bytes(),
            self.username.as_bytes(),
            self.team.as_bytes(),
            self.model_id.as_bytes(),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        hex::encode(&h.finalize()[..16])
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct TeamDailyKey {
    pub(super) day: String,
    pub(super) team: String,
    pub(super) model_id: String,
}

/// A user's day over all models (`usage_user_day_total`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct UserDayKey {
    pub(super) day: String,
    pub(super) user_id: i64,
    pub(super) username: String,
    pub(super) team: String,
}

/// A model's day over all users and teams (`usage_model_day_total`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct ModelDayKey {
    pub(super) day: String,
    pub(super) model_id: String,
}

/// A team's day over all users and models (`usage_team_day_total`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct TeamDayKey {
    pub(super) day: String,
    pub(super) team: String,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct HourlyKey {
    pub(super) hour_ms: i64,
    pub(super) team: String,
    pub(super) model_id: String,
}

/// The rollup rows of a set of records, summed in memory.
#[derive(Debug)]
pub(super) struct Rollup {
    zone: Tz,
    pub(super) daily: BTreeMap<DailyKey, Sums>,
    pub(super) team_daily: BTreeMap<TeamDailyKey, Sums>,
    pub(super) user_day: BTreeMap<UserDayKey, Sums>,
    pub(super) team_day: BTreeMap<TeamDayKey, Sums>,
    pub(super) model_day: BTreeMap<ModelDayKey, Sums>,
    pub(super) hourly: BTreeMap<HourlyKey, Sums>,
    /// The last day key computed, with the UTC span it covers (most records of a batch
    /// share a day, and the zone lookup is the costly part).
    last_day: Option<(i64, i64, String)>,
}

/// The local day of `ms` in `zone`, as `YYYY-MM-DD`, and the span `[start, end)` of
/// UTC milliseconds that share it.
pub(crate) fn local_day(zone: Tz, ms: i64) -> (String, i64, i64) {
    let t = DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let date = t.with_timezone(&zone).date_naive();
    let start = crate::calendar::start_of_day(zone, date).timestamp_millis();
    let end = date
        .succ_opt()
        .map(|d| crate::calendar::start_of_day(zone, d).timestamp_millis())
        .unwrap_or(i64::MAX);
    (date.format("%Y-%m-%d").to_string(), start, end)
}

impl Rollup {
    pub(super) fn new(zone: Tz) -> Self {
        Self {
            zone,
            daily: BTreeMap::new(),
            team_daily: BTreeMap::new(),
            user_day: BTreeMap::new(),
            team_day: BTreeMap::new(),
            model_day: BTreeMap::new(),
            hourly: BTreeMap::new(),
            last_day: None,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.daily.is_empty() && self.hourly.is_empty()
    }

    fn day_of(&mut self, ms: i64) -> String {
        if let Some((start, end, day)) = &self.last_day {
            if (*start..*end).contains(&ms) {
                return day.clone();
            }
        }
        let (day, start, end) = local_day(self.zone, ms);
        self.last_day = Some((start, end, day.clone()));
        day
    }

    #[allow(clippy::too_many_arguments)]
    fn add_parts(
        &mut self,
        created_at: i64,
        user_id: i64,
        username: &str,
        team: &str,
        model_id: &str,
        (refused, status): (bool, i64),
        tokens: [i64; 4],
        cost: f64,
    ) {
        let day = self.day_of(created_at);
        let [i, o, r, w] = tokens;
        self.team_daily
            .entry(TeamDailyKey {
                day: day.clone(),
                team: team.to_owned(),
                model_id: model_id.to_owned(),
            })
            .or_default()
            .add(refused, status, i, o, r, w, cost);
        self.team_day
            .entry(TeamDayKey {
                day: day.clone(),
                team: team.to_owned(),
            })
            .or_default()
            .add(refused, status, i, o, r, w, cost);
        self.model_day
            .entry(ModelDayKey {
                day: day.clone(),
                model_id: model_id.to_owned(),
            })
            .or_default()
            .add(refused, status, i, o, r, w, cost);
        self.user_day
            .entry(UserDayKey {
                day: day.clone(),
                user_id,
                username: username.to_owned(),
                team: team.to_owned(),
            })
            .or_default()
            .add(refused, status, i, o, r, w, cost);
        self.daily
            .entry(DailyKey {
                day,
                user_id,
                username: username.to_owned(),
                team: team.to_owned(),
                model_id: model_id.to_owned(),
            })
            .or_default()
            .add(refused, status, i, o, r, w, cost);
        self.hourly
            .entry(HourlyKey {
                hour_ms: created_at - created_at.rem_euclid(HOUR_MS),
                team: team.to_owned(),
                model_id: model_id.to_owned(),
            })
            .or_default()
            .add(refused, status, i, o, r, w, cost);
    }

    /// Adds one inserted record; a call never sent upstream adds nothing, a refused one
    /// an error.
    pub(super) fn add(&mut self, r: &RequestRecord) {
        let refused = r.refused.is_some();
        if !r.counts() && !refused {
            return;
        }
        self.add_parts(
            r.created_at,
            r.user_id,
            &r.username,
            &r.team,
            &r.model_id,
            (refused, r.status_code),
            [
                r.input_tokens,
                r.output_tokens,
                r.cache_read_tokens,
                r.cache_write_tokens,
            ],
            r.cost_usd,
        );
    }

    /// Adds one stored row (the backfill).
    pub(super) fn add_fact(&mut self, f: &Fact) {
        self.add_parts(
            f.created_at,
            f.user_id,
            &f.username,
            &f.team,
            &f.model_id,
            (f.refused_call != 0, f.status_code),
            [
                f.input_tokens,
                f.output_tokens,
                f.cache_read_tokens,
                f.cache_write_tokens,
            ],
            f.cost_usd,
        );
    }
}

const FACT_COLUMNS: &str = "created_at, COALESCE(user_id, 0) AS user_id, username, team, \
     model_id, status_code, input_tokens, output_tokens, cache_read_tokens, \
     cache_write_tokens, cost_usd, \
     CASE WHEN refused IS NULL THEN 0 ELSE 1 END AS refused_call";

impl Store {
    async fn rollup_state(&self, name: &str) -> Result<i64, StoreError> {
        let v: (i64,) = on_pool!(self, p => {
            sqlx::query_as("SELECT value FROM rollup_state WHERE name = ?")
                .bind(name)
                .fetch_one(p)
                .await?
        });
        Ok(v.0)
    }

    /// Sums the rows stored before the rollups existed (ids up to `backfill_upto`) into
    /// the rollups, once: each step claims the next id range by moving `backfill_done`
    /// with a compare-and-set in the transaction that writes the sums, so several
    /// processes starting at once neither skip nor repeat a range. Returns the rows
    /// summed by this call.
    pub async fn backfill_rollups(&self) -> Result<u64, StoreError> {
        let upto = self.rollup_state("backfill_upto").await?;
        let mut summed = 0u64;
        loop {
            let done = self.rollup_state("backfill_done").await?;
            if done >= upto {
                return Ok(summed);
            }
            let next = done.saturating_add(BACKFILL_IDS).min(upto);
            let sql = format!(
                "SELECT {FACT_COLUMNS} FROM bedrock_requests WHERE id > ? AND id <= ? \
                    AND ({COUNTED} OR refused IS NOT NULL)"
            );
            let n = on_pool!(self, p => {
                let mut tx = p.begin().await?;
                let moved = sqlx::query(
                    "UPDATE rollup_state SET value = ? WHERE name = 'backfill_done' AND value = ?",
                )
                .bind(next)
                .bind(done)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if moved == 1 {
                    let facts: Vec<Fact> = sqlx::query_as(&sql)
                        .bind(done)
                        .bind(next)
                        .fetch_all(&mut *tx)
                        .await?;
                    let mut rollup = Rollup::new(self.day_zone);
                    for f in &facts {
                        rollup.add_fact(f);
                    }
                    write_rollup!(self.kind(), tx, rollup);
                    tx.commit().await?;
                    facts.len() as u64
                } else {
                    // Another process took this range; read the progress again.
                    0
                }
            });
            summed += n;
            if n > 0 {
                tracing::info!(done = next, upto, "rolled up stored request rows");
            }
        }
    }

    /// Empties the rollups and sums every stored row again (in the current day zone),
    /// e.g. after `quota.timezone` changed. Run it with the proxies stopped: a record
    /// inserted while it runs can be counted twice. Rows already removed by retention
    /// are gone from the rollups afterwards.
    pub async fn rebuild_rollups(&self) -> Result<u64, StoreError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            for table in ROLLUP_TABLES {
                sqlx::query(&format!("DELETE FROM {table}")).execute(&mut *tx).await?;
            }
            let (max,): (i64,) =
                sqlx::query_as("SELECT COALESCE(MAX(id), 0) FROM bedrock_requests")
                    .fetch_one(&mut *tx)
                    .await?;
            sqlx::query("UPDATE rollup_state SET value = ? WHERE name = 'backfill_upto'")
                .bind(max)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE rollup_state SET value = 0 WHERE name = 'backfill_done'")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        self.backfill_rollups().await
    }
}

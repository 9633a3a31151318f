//! Direct calls seen in CloudTrail: their request rows (`usage_source = cloudtrail`),
//! rollups and quota counter debits, written in one transaction so that a call is
//! counted exactly when its row goes in. A row whose `request_uid` (derived from the
//! CloudTrail `eventID`) is already stored is a duplicate: neither stored nor counted
//! again, however often or late the event arrives.
//!
//! A debit adds to `quota_counters.granted` unconditionally: the call already happened,
//! so the counter may pass its limit, and then proxies are granted nothing more. A
//! batch's debits are summed per counter and written as multi-row upserts (a few
//! statements per batch, not three per counter).

use std::collections::{BTreeMap, HashSet};

use super::requests::{bind_record, chunk_rows, insert_sql, stored_uids};
use super::rollup_sql::write_rollup;
use super::rollups::Rollup;
use super::{now_ms, on_pool, RequestRecord, Store, StoreError};
use crate::config::DatabaseKind;

/// One counter debit of one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Debit {
    /// Index of the record in the batch.
    pub(crate) record: usize,
    /// `user:12` or `team:3`.
    pub(crate) subject: String,
    /// `requests` or `micro_usd`.
    pub(crate) metric: &'static str,
    /// `2026-11-25` or `2026-11`.
    pub(crate) period: String,
    /// Units.
    pub(crate) amount: i64,
}

/// A counter's key: (subject, metric, period).
pub(crate) type CounterId = (String, &'static str, String);

/// What writing a batch did.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct DirectOutcome {
    /// Per record: whether it was new (stored and counted now).
    pub(crate) new: Vec<bool>,
    /// Per counter debited: (granted before, granted after).
    pub(crate) counters: BTreeMap<CounterId, (i64, i64)>,
}

/// Adds to `rows` counters' `granted` (creating those not there yet), as one multi-row
/// upsert; on SQLite it returns each counter's `granted` after it.
fn debit_sql(kind: DatabaseKind, rows: usize) -> String {
    let values = vec!["(?, ?, ?, ?, ?, ?)"; rows].join(", ");
    let head = format!(
        "INSERT INTO quota_counters (subject, metric, period, granted, used, updated_at) VALUES {values}"
    );
    // A direct call is spent as well as granted (`used`, what refusals call spent).
    match kind {
        DatabaseKind::Sqlite => format!(
            "{head} ON CONFLICT (subject, metric, period) DO UPDATE SET \
             granted = granted + excluded.granted, used = used + excluded.used, \
             updated_at = excluded.updated_at \
             RETURNING subject, metric, period, granted"
        ),
        DatabaseKind::MySql => format!(
            "{head} ON DUPLICATE KEY UPDATE granted = granted + VALUES(granted), \
             used = used + VALUES(used), updated_at = VALUES(updated_at)"
        ),
    }
}

/// `granted` of `rows` counters (MySQL has no `RETURNING` on an upsert; the upsert's row
/// locks hold until the transaction ends, so this reads what it wrote).
fn granted_sql(rows: usize) -> String {
    format!(
        "SELECT subject, metric, period, granted FROM quota_counters \
         WHERE (subject, metric, period) IN ({})",
        vec!["(?, ?, ?)"; rows].join(", ")
    )
}

impl Store {
    /// Stores the records not stored yet with their rollups, and applies the debits of
    /// exactly those records, in one transaction (retried on a lock conflict or a
    /// concurrent writer of the same rows).
    pub(crate) async fn insert_direct_calls(
        &self,
        records: &[RequestRecord],
        debits: &[Debit],
    ) -> Result<DirectOutcome, StoreError> {
        let mut attempt = 0;
        loop {
            match self.try_direct_calls(records, debits).await {
                Ok(Some(outcome)) => return Ok(outcome),
                Ok(None) if attempt < 5 => {}
                Err(e) if attempt < 5 && e.is_retryable_conflict() => {}
                Ok(None) => {
                    return Err(StoreError::Conflict(
                        "another writer kept storing the same CloudTrail events".into(),
                    ))
                }
                Err(e) => return Err(e),
            }
            attempt += 1;
            tokio::time::sleep(std::time::Duration::from_millis(10 * attempt)).await;
        }
    }

    /// One try; `None` (rolled back) when another writer stored some of the rows first.
    async fn try_direct_calls(
        &self,
        records: &[RequestRecord],
        debits: &[Debit],
    ) -> Result<Option<DirectOutcome>, StoreError> {
        let kind = self.kind();
        let outcome = on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let stored: HashSet<String> = stored_uids!(tx, records);
            let mut seen = HashSet::new();
            let new: Vec<bool> = records
                .iter()
                .map(|r| !stored.contains(&r.request_uid) && seen.insert(r.request_uid.as_str()))
                .collect();
            let fresh: Vec<&RequestRecord> =
                records.iter().zip(&new).filter(|(_, n)| **n).map(|(r, _)| r).collect();
            let mut rest = &fresh[..];
            let mut raced = false;
            while !rest.is_empty() {
                let n = chunk_rows(rest.len());
                let (chunk, tail) = rest.split_at(n);
                rest = tail;
                let sql = insert_sql(kind, n);
                let mut q = sqlx::query(&sql);
                for r in chunk {
                    q = bind_record!(q, r);
                }
                if q.execute(&mut *tx).await?.rows_affected() != n as u64 {
                    raced = true;
                    break;
                }
            }
            if raced {
                tx.rollback().await?;
                None
            } else {
                let mut rollup = Rollup::new(self.day_zone);
                for r in &fresh {
                    rollup.add(r);
                }
                if !rollup.is_empty() {
                    write_rollup!(kind, tx, rollup);
                }
                let mut sums: BTreeMap<CounterId, i64> = BTreeMap::new();
                for d in debits.iter().filter(|d| new.get(d.record).copied().unwrap_or(false)) {
                    *sums
                        .entry((d.subject.clone(), d.metric, d.period.clone()))
                        .or_default() += d.amount;
                }
                let sums: Vec<(CounterId, i64)> = sums.into_iter().collect();
                let now = now_ms();
                let mut counters = BTreeMap::new();
                let mut rest = &sums[..];
                while !rest.is_empty() {
                    let (chunk, tail) = rest.split_at(chunk_rows(rest.len()));
                    rest = tail;
                    let sql = debit_sql(kind, chunk.len());
                    let mut q = sqlx::query_as::<_, (String, String, String, i64)>(&sql);
                    for ((subject, metric, period), amount) in chunk {
                        q = q.bind(subject.as_str()).bind(*metric).bind(period.as_str()).bind(*amount).bind(*amount).bind(now);
                    }
                    let mut after = q.fetch_all(&mut *tx).await?;
                    if kind == DatabaseKind::MySql {
                        let sql = granted_sql(chunk.len());
                        let mut q = sqlx::query_as::<_, (String, String, String, i64)>(&sql);
                        for ((subject, metric, period), _) in chunk {
                            q = q.bind(subject.as_str()).bind(*metric).bind(period.as_str());
                        }
                        after = q.fetch_all(&mut *tx).await?;
                    }
                    let after: BTreeMap<(&str, &str, &str), i64> = after
                        .iter()
                        .map(|(s, m, p, g)| ((s.as_str(), m.as_str(), p.as_str()), *g))
                        .collect();
                    for (key, amount) in chunk {
                        let granted = after
                            .get(&(key.0.as_str(), key.1, key.2.as_str()))
                            .copied()
                            .ok_or_else(|| StoreError::Invalid(format!("counter {key:?} not written")))?;
                        counters.insert(key.clone(), (granted - amount, granted));
                    }
                }
                tx.commit().await?;
                Some(DirectOutcome { new, counters })
            }
        });
        Ok(outcome)
    }
}

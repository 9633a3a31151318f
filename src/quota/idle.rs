//! Giving capacity back: the units a proxy holds unused go back to the ledger after
//! [`IDLE_RETURN`] without a debit, all of them on shutdown, and buckets of ended
//! periods are dropped. A failed return only leaves the units counted as granted:
//! under-use, never overshoot. Units in the lease reserve go back with the usable ones.
//! The same pass gives back what calls reserved before a take-back did not spend
//! (`takeback`), and reports what this proxy spent to the ledger's `used`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::engine::QuotaEngine;
use super::periods::Periods;
use super::CounterKey;

/// Unused capacity held this long without a debit goes back to the ledger.
pub const IDLE_RETURN: Duration = Duration::from_secs(10);

/// Capacity taken from a bucket to give back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The counter.
    pub key: CounterKey,
    /// Usable units.
    pub usable: i64,
    /// Units of the lease reserve.
    pub reserve: i64,
}

impl Held {
    /// Usable and reserved units together.
    pub fn units(&self) -> i64 {
        self.usable + self.reserve
    }
}

/// Takes what `b` holds for `key` to give back.
fn take(key: &CounterKey, b: &mut super::bucket::Bucket) -> Held {
    // A negative `available` (a debt) stays: the next calls pay it.
    let usable = b.available.max(0);
    b.available -= usable;
    let usable = usable + std::mem::take(&mut b.giveback);
    let reserve = std::mem::take(&mut b.reserve);
    Held {
        key: key.clone(),
        usable,
        reserve,
    }
}

impl QuotaEngine {
    /// Takes the capacity to give back: idle buckets (no debit for `idle`), and buckets
    /// of periods that have ended (dropped; their capacity no longer matters).
    pub fn take_idle(&self, idle: Duration, now: DateTime<Utc>) -> Vec<Held> {
        let Periods { day, month, .. } = self.periods.get(now);
        let instant = Instant::now();
        let mut out = Vec::new();
        let mut buckets = self.buckets.lock();
        let outage = self.outage.lock();
        let mut unreported = self.unreported.lock();
        buckets.retain(|key, b| {
            let current = *key.period == *day || *key.period == *month;
            if current && b.giveback > 0 && !outage.owes(key) {
                out.push(Held {
                    key: key.clone(),
                    usable: std::mem::take(&mut b.giveback),
                    reserve: 0,
                });
            }
            // Units owed to the ledger were never granted by it: they are not returned
            // before the outage is reconciled.
            if current
                && (b.available > 0 || b.reserve > 0)
                && instant.duration_since(b.last_used) >= idle
                && !outage.owes(key)
            {
                out.push(take(key, b));
            }
            let keep = current || outage.owes(key);
            if !keep && b.unreported != 0 {
                *unreported.entry(key.clone()).or_default() += std::mem::take(&mut b.unreported);
            }
            keep
        });
        drop(unreported);
        drop(outage);
        // Grant locks of dropped buckets that nobody waits on go too.
        self.grant_locks
            .lock()
            .retain(|key, l| buckets.contains_key(key) || Arc::strong_count(l) > 1);
        out
    }

    /// Takes all held capacity (shutdown).
    /// (Units still owed to the ledger after an outage stay: they were never granted.)
    pub fn take_all(&self) -> Vec<Held> {
        let mut buckets = self.buckets.lock();
        let outage = self.outage.lock();
        buckets
            .iter_mut()
            .filter(|(k, b)| {
                (b.available > 0 || b.reserve > 0 || b.giveback > 0) && !outage.owes(k)
            })
            .map(|(k, b)| take(k, b))
            .collect()
    }

    /// Returns capacity to the ledger, then reports what this proxy spent since its last
    /// report; failures are logged (the units stay counted as granted: under-use, never
    /// overshoot; a report that failed is made again at the next pass).
    pub async fn release(&self, units: Vec<Held>) {
        self.give_back(units).await;
        self.report_used().await;
    }

    /// Reports the units spent here to the ledger's `used` (ledgers that keep it), one
    /// statement per counter that had calls settled since the last report.
    async fn report_used(&self) {
        if !self.ledger.tracks_use() {
            return;
        }
        let spent: Vec<(CounterKey, i64)> = {
            let mut buckets = self.buckets.lock();
            let mut spent = std::mem::take(&mut *self.unreported.lock());
            for (key, b) in buckets.iter_mut().filter(|(_, b)| b.unreported != 0) {
                let units = std::mem::take(&mut b.unreported);
                // Counted as reported at once, so that a refusal meanwhile does not
                // count them twice; put back below if the report fails.
                b.used_seen = b.used_seen.map(|u| u + units);
                *spent.entry(key.clone()).or_default() += units;
            }
            spent.into_iter().collect()
        };
        for (key, units) in spent {
            if let Err(e) = self.ledger.report_used(&key, units).await {
                tracing::debug!(counter = %key, error = %e, "reporting quota use failed");
                let mut buckets = self.buckets.lock();
                match buckets.get_mut(&key) {
                    Some(b) => {
                        b.unreported += units;
                        b.used_seen = b.used_seen.map(|u| u - units);
                    }
                    None => *self.unreported.lock().entry(key).or_default() += units,
                }
            }
        }
    }

    /// Returns capacity to the ledger.
    async fn give_back(&self, units: Vec<Held>) {
        for held in units {
            let result = self
                .ledger
                .release_held(&held.key, held.usable, held.reserve)
                .await;
            if let Err(e) = result {
                tracing::warn!(
                    counter = %held.key,
                    amount = held.units(),
                    error = %e,
                    "returning quota capacity failed"
                );
            }
        }
    }
}

//! Giving capacity back: the units a proxy holds unused go back to the ledger after
//! [`IDLE_RETURN`] without a debit, all of them on shutdown, and buckets of ended
//! periods are dropped. A failed return only leaves the units counted as granted:
//! under-use, never overshoot. Units in the lease reserve go back with the usable ones.

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
        buckets.retain(|key, b| {
            let current = *key.period == *day || *key.period == *month;
            // Units owed to the ledger were never granted by it: they are not returned
            // before the outage is reconciled.
            if current
                && (b.available > 0 || b.reserve > 0)
                && instant.duration_since(b.last_used) >= idle
                && !outage.owes(key)
            {
                out.push(take(key, b));
            }
            current || outage.owes(key)
        });
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
            .filter(|(k, b)| (b.available > 0 || b.reserve > 0) && !outage.owes(k))
            .map(|(k, b)| take(k, b))
            .collect()
    }

    /// Returns capacity to the ledger; failures are logged (the units stay counted as
    /// granted: under-use, never overshoot).
    pub async fn release(&self, units: Vec<Held>) {
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

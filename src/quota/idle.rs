//! Giving capacity back: the units a proxy holds unused go back to the ledger after
//! [`IDLE_RETURN`] without a debit, all of them on shutdown, and buckets of ended
//! periods are dropped. A failed return only leaves the units counted as granted:
//! under-use, never overshoot.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::engine::QuotaEngine;
use super::periods::Periods;
use super::CounterKey;

/// Unused capacity held this long without a debit goes back to the ledger.
pub const IDLE_RETURN: Duration = Duration::from_secs(10);

impl QuotaEngine {
    /// Takes the capacity to give back: idle buckets (no debit for `idle`), and buckets
    /// of periods that have ended (dropped; their capacity no longer matters).
    pub fn take_idle(&self, idle: Duration, now: DateTime<Utc>) -> Vec<(CounterKey, i64)> {
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
                && b.available > 0
                && instant.duration_since(b.last_used) >= idle
                && !outage.owes(key)
            {
                out.push((key.clone(), b.available));
                b.available = 0;
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
    pub fn take_all(&self) -> Vec<(CounterKey, i64)> {
        let mut buckets = self.buckets.lock();
        let outage = self.outage.lock();
        buckets
            .iter_mut()
            .filter(|(k, b)| b.available > 0 && !outage.owes(k))
            .map(|(k, b)| {
                let n = b.available;
                b.available = 0;
                (k.clone(), n)
            })
            .collect()
    }

    /// Returns capacity to the ledger; failures are logged (the units stay counted as
    /// granted: under-use, never overshoot).
    pub async fn release(&self, units: Vec<(CounterKey, i64)>) {
        for (key, amount) in units {
            if let Err(e) = self.ledger.release(&key, amount).await {
                tracing::warn!(counter = %key, amount, error = %e, "returning quota capacity failed");
            }
        }
    }
}

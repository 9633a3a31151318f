//! The ledger: where a proxy draws capacity chunks from and returns them to.
//!
//! A grant is one transaction on the counter's row: read `granted`, give
//! `min(want, limit - granted)`, write it back. Because every proxy draws from the same
//! row and the transaction never lets `granted` pass the limit, the capacity held by all
//! proxies together never exceeds the limit, however many proxies there are. A proxy
//! that dies holding a chunk leaves it counted as granted: under-use, never overshoot.
//!
//! [`MemoryLedger`] is the same contract in memory, for the simulator and property tests.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::CounterKey;

/// At most this share (1/N) of the capacity left is granted in one chunk (but always at
/// least what the call needs), so near a limit chunks shrink and little capacity sits
/// unused in any one proxy.
pub const SHARE_DIVISOR: i64 = 8;

/// Units to give: `want` capped to the share of what is left (at least `need`), and to
/// what is left.
pub(crate) fn units_to_give(granted: i64, need: i64, want: i64, limit: i64) -> i64 {
    let left = (limit - granted).max(0);
    want.min((left / SHARE_DIVISOR).max(need)).min(left).max(0)
}
use crate::metrics::Metrics;
use crate::store::{CounterRef, Store, StoreError};

/// What a grant gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Units given to the caller now (0 when the limit is fully granted).
    pub granted: i64,
    /// Units granted to all proxies together after this grant.
    pub(crate) total: i64,
}

/// A boxed future of the ledger.
pub type LedgerFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The shared counters.
pub trait Ledger: Send + Sync + 'static {
    /// Grants units of `key`: `want`, but no more than a 1/`SHARE_DIVISOR` share of what
    /// is left (though at least `need`), and never letting the total pass `limit`. The
    /// share is computed from the counter as it is now, inside the transaction.
    fn grant<'a>(
        &'a self,
        key: &'a CounterKey,
        need: i64,
        want: i64,
        limit: i64,
    ) -> LedgerFuture<'a, Grant>;
    /// Returns `amount` unused units of `key`.
    fn release<'a>(&'a self, key: &'a CounterKey, amount: i64) -> LedgerFuture<'a, ()>;
    /// Adds `amount` units of `key` that were handed out while the ledger could not be
    /// asked (a store outage under `quota.on_store_outage = "allow"`), whatever the
    /// limit: the units are spent or held already, so the counter must show them even
    /// past the limit (the overshoot the outage allowance bounds).
    fn charge<'a>(&'a self, key: &'a CounterKey, amount: i64) -> LedgerFuture<'a, Grant> {
        // Asking for `amount` under a limit that cannot be reached gives exactly it.
        self.grant(key, amount, amount, i64::MAX)
    }
    /// Whether the ledger answers at all (a cheap round trip), to notice the end of an
    /// outage when there is nothing to charge.
    fn probe(&self) -> LedgerFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    /// Database statements issued so far (for the statements-per-call measurement).
    fn statements(&self) -> u64;
}

/// The ledger on the database (`quota_counters`).
///
/// Its statements run on the runtime that created it (the one `serve` runs on), whatever
/// runtime asks: proxy worker threads have runtimes of their own, and database
/// connections must stay with the runtime that drives them.
///
/// Every grant transaction is counted in `bedrock_gate_quota_chunk_grants_total`, every
/// failed statement in `bedrock_gate_database_errors_total`.
pub(crate) struct StoreLedger {
    store: Arc<Store>,
    statements: Arc<AtomicU64>,
    home: Option<tokio::runtime::Handle>,
    metrics: Arc<Metrics>,
}

impl StoreLedger {
    /// A ledger over `store`, running its statements on the current runtime (if any).
    pub(crate) fn new(store: Arc<Store>, metrics: Arc<Metrics>) -> Self {
        Self {
            store,
            statements: Arc::new(AtomicU64::new(0)),
            home: tokio::runtime::Handle::try_current().ok(),
            metrics,
        }
    }

    /// Runs `work` on the ledger's home runtime.
    async fn at_home<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        match &self.home {
            Some(home) => home.spawn(work).await.map_err(|e| {
                StoreError::Database(sqlx::Error::Io(std::io::Error::other(format!(
                    "the database task stopped: {e}"
                ))))
            })?,
            None => work.await,
        }
    }
}

impl Ledger for StoreLedger {
    fn grant<'a>(
        &'a self,
        key: &'a CounterKey,
        need: i64,
        want: i64,
        limit: i64,
    ) -> LedgerFuture<'a, Grant> {
        let (store, statements, key, metrics) = (
            Arc::clone(&self.store),
            Arc::clone(&self.statements),
            key.clone(),
            Arc::clone(&self.metrics),
        );
        Box::pin(self.at_home(async move {
            let mut attempt = 0;
            loop {
                statements.fetch_add(5, Ordering::Relaxed);
                let subject = key.subject.stored();
                let counter = CounterRef {
                    subject: &subject,
                    metric: key.metric.stored(),
                    period: &key.period,
                };
                let decide = |granted| units_to_give(granted, need, want, limit);
                let result = store.grant_capacity(counter, decide).await;
                match &result {
                    Ok((granted, _)) => metrics.chunk_grant(key.metric.stored(), *granted > 0),
                    Err(_) => metrics.database_error("quota_grant"),
                }
                match result {
                    Ok((granted, total)) => return Ok(Grant { granted, total }),
                    // A deadlock or lock timeout between proxies: the transaction was
                    // rolled back, so retrying is safe.
                    Err(e) if attempt < 5 && e.is_retryable_conflict() => {
                        attempt += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(5 * attempt)).await;
                    }
                    Err(e) => return Err(e),
                }
            }
        }))
    }

    fn release<'a>(&'a self, key: &'a CounterKey, amount: i64) -> LedgerFuture<'a, ()> {
        let (store, key, metrics) = (
            Arc::clone(&self.store),
            key.clone(),
            Arc::clone(&self.metrics),
        );
        self.statements.fetch_add(1, Ordering::Relaxed);
        Box::pin(self.at_home(async move {
            let subject = key.subject.stored();
            let counter = CounterRef {
                subject: &subject,
                metric: key.metric.stored(),
                period: &key.period,
            };
            let result = store.release_capacity(counter, amount).await;
            if result.is_err() {
                metrics.database_error("quota_release");
            }
            result
        }))
    }

    fn probe(&self) -> LedgerFuture<'_, ()> {
        let store = Arc::clone(&self.store);
        Box::pin(self.at_home(async move { store.ping().await }))
    }

    fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }
}

/// The ledger in memory: the same contract, for tests and the simulator.
#[derive(Default)]
pub struct MemoryLedger {
    rows: Mutex<HashMap<CounterKey, i64>>,
    statements: AtomicU64,
}

impl MemoryLedger {
    /// Units of `key` granted to all engines together.
    pub fn granted(&self, key: &CounterKey) -> i64 {
        self.rows.lock().get(key).copied().unwrap_or(0)
    }

    fn with_rows<T>(&self, f: impl FnOnce(&mut HashMap<CounterKey, i64>) -> T) -> T {
        self.statements.fetch_add(1, Ordering::Relaxed);
        f(&mut self.rows.lock())
    }
}

impl Ledger for MemoryLedger {
    fn grant<'a>(
        &'a self,
        key: &'a CounterKey,
        need: i64,
        want: i64,
        limit: i64,
    ) -> LedgerFuture<'a, Grant> {
        let grant = self.with_rows(|rows| {
            let granted = rows.entry(key.clone()).or_insert(0);
            let give = units_to_give(*granted, need, want, limit);
            *granted += give;
            Grant {
                granted: give,
                total: *granted,
            }
        });
        Box::pin(async move { Ok(grant) })
    }

    fn release<'a>(&'a self, key: &'a CounterKey, amount: i64) -> LedgerFuture<'a, ()> {
        self.with_rows(|rows| {
            if let Some(g) = rows.get_mut(key) {
                *g = (*g - amount).max(0);
            }
        });
        Box::pin(async move { Ok(()) })
    }

    fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }
}

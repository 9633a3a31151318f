//! The ledger on the database: grants, activations, returns, take-backs and use
//! reports as transactions on `quota_counters` and `quota_leases` (`src/store`), run on
//! the runtime that created the ledger. The contract is [`Ledger`]'s (`ledger`).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::ledger::{units_to_give, Grant, Ledger, LedgerFuture, Totals};
use super::CounterKey;
use crate::metrics::Metrics;
use crate::store::{CounterRef, ExpiredLease, LeaseRef, Store, StoreError};

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
    /// This proxy run's name in `quota_leases`.
    owner: Arc<str>,
    /// How long a lease lives unrenewed (`quota.lease_secs`).
    lease_ttl: std::time::Duration,
    /// How long a grant or activation transaction may take before its connection is
    /// closed ([`Store`]'s `on_conn_within!`): what a counter's grant lock can be held
    /// for at worst.
    give_up: std::time::Duration,
    /// Earlier runs of this proxy (its journal slots), known to have stopped: their
    /// leases are reclaimed at the first upkeep, without waiting for their expiry.
    predecessors: Mutex<Vec<String>>,
}

/// `key` in its stored form, with its subject stored as `subject`.
fn stored<'a>(key: &'a CounterKey, subject: &'a str) -> CounterRef<'a> {
    CounterRef {
        subject,
        metric: key.metric.stored(),
        period: &key.period,
    }
}

/// How long a grant or activation transaction may take by default: callers stop waiting
/// for it at their own store deadline, and it then finishes in the background; past
/// this its connection is closed, so a vanished server does not hold the counter's
/// grant lock for TCP's retransmission time-out. `serve` sets five times
/// `quota.store_timeout_ms`.
pub(crate) const GIVE_UP: std::time::Duration = std::time::Duration::from_secs(10);

/// Expired leases reclaimed per upkeep pass at most (the next pass takes the rest).
const RECLAIM_BATCH: i64 = 200;

impl StoreLedger {
    /// A ledger over `store`, running its statements on the current runtime (if any),
    /// holding leases as `owner` for `lease_ttl` at a time.
    pub(crate) fn new(
        store: Arc<Store>,
        metrics: Arc<Metrics>,
        owner: &str,
        lease_ttl: std::time::Duration,
    ) -> Self {
        Self {
            store,
            statements: Arc::new(AtomicU64::new(0)),
            home: tokio::runtime::Handle::try_current().ok(),
            metrics,
            owner: Arc::from(owner),
            lease_ttl,
            give_up: GIVE_UP,
            predecessors: Mutex::new(Vec::new()),
        }
    }

    /// The same ledger, abandoning a grant or activation after `give_up` (default
    /// [`GIVE_UP`]).
    #[must_use]
    pub(crate) fn with_give_up(mut self, give_up: std::time::Duration) -> Self {
        self.give_up = give_up;
        self
    }

    /// The same ledger, reclaiming the leases of `owners` (earlier runs of this proxy
    /// known to have stopped) at its first upkeep.
    #[must_use]
    pub(crate) fn with_predecessors(self, mut owners: Vec<String>) -> Self {
        owners.retain(|o| **o != *self.owner);
        *self.predecessors.lock() = owners;
        self
    }

    /// The expiry to write now.
    fn expiry(ttl: std::time::Duration) -> i64 {
        crate::store::now_ms()
            .saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2))
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

    /// A grant, keeping all but `activate` of its units in this run's lease reserve
    /// when `activate` is given.
    fn grant_with<'a>(
        &'a self,
        key: &'a CounterKey,
        need: i64,
        want: i64,
        limit: i64,
        activate: Option<i64>,
        check_stored: bool,
    ) -> LedgerFuture<'a, Grant> {
        let (owner, ttl, give_up) = (Arc::clone(&self.owner), self.lease_ttl, self.give_up);
        let (store, statements, key, metrics) = (
            Arc::clone(&self.store),
            Arc::clone(&self.statements),
            key.clone(),
            Arc::clone(&self.metrics),
        );
        Box::pin(self.at_home(async move {
            let mut attempt = 0;
            loop {
                statements.fetch_add(6, Ordering::Relaxed);
                let subject = key.subject.stored();
                let counter = stored(&key, &subject);
                // The limit as stored caps the grant too: a proxy whose policy snapshot
                // has not caught up with a lowered limit grants nothing past it.
                let decide = |granted, stored: Option<i64>| {
                    let limit = match stored {
                        Some(stored) if check_stored => stored.min(limit),
                        _ => limit,
                    };
                    units_to_give(granted, need, want, limit)
                };
                let lease = activate.map(|a| {
                    let lease = LeaseRef {
                        owner: &owner,
                        expires_at: Self::expiry(ttl),
                    };
                    (lease, a)
                });
                let result = store.grant_capacity(counter, decide, lease, give_up).await;
                match &result {
                    Ok(g) => metrics.chunk_grant(key.metric.stored(), g.given > 0),
                    Err(_) => metrics.database_error("quota_grant"),
                }
                match result {
                    Ok(g) => {
                        return Ok(Grant {
                            granted: g.given,
                            total: g.total,
                            kept: g.kept,
                            reserve: g.reserve,
                            used: Some(g.used),
                        })
                    }
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
}

/// Reclaims one expired lease; logs what it held.
async fn reclaim(
    store: &Store,
    lease: &ExpiredLease,
    now: i64,
    dead: bool,
) -> Result<(), StoreError> {
    let units = store.reclaim_lease(lease, now, dead).await?;
    if units > 0 {
        tracing::info!(
            proxy = %lease.owner,
            counter = %format_args!("{}/{}/{}", lease.subject, lease.metric, lease.period),
            units,
            "reclaimed the unused reserve of an expired quota lease"
        );
    }
    Ok(())
}

impl Ledger for StoreLedger {
    fn grant<'a>(
        &'a self,
        key: &'a CounterKey,
        need: i64,
        want: i64,
        limit: i64,
    ) -> LedgerFuture<'a, Grant> {
        self.grant_with(key, need, want, limit, None, true)
    }

    fn charge<'a>(&'a self, key: &'a CounterKey, amount: i64) -> LedgerFuture<'a, Grant> {
        // Units already handed out: whatever any limit says.
        self.grant_with(key, amount, amount, i64::MAX, None, false)
    }

    fn grant_leased<'a>(
        &'a self,
        key: &'a CounterKey,
        need: i64,
        want: i64,
        limit: i64,
        activate: i64,
    ) -> LedgerFuture<'a, Grant> {
        self.grant_with(key, need, want, limit, Some(activate), true)
    }

    fn take_back<'a>(
        &'a self,
        key: &'a CounterKey,
        usable: i64,
        reserved: i64,
        spent: i64,
    ) -> LedgerFuture<'a, Option<Totals>> {
        // This run's reserve is in its lease row, which the take-back empties with the
        // others: `reserved` (the proxy's view of it) is not needed.
        let _ = reserved;
        let (store, key, metrics, give_up) = (
            Arc::clone(&self.store),
            key.clone(),
            Arc::clone(&self.metrics),
            self.give_up,
        );
        self.statements.fetch_add(6, Ordering::Relaxed);
        Box::pin(self.at_home(async move {
            let subject = key.subject.stored();
            let counter = stored(&key, &subject);
            match store.take_back(counter, usable, spent, give_up).await {
                Ok((granted, used, taken)) => {
                    tracing::info!(
                        counter = %key,
                        units = taken,
                        granted,
                        "took back quota capacity granted under a limit since lowered"
                    );
                    Ok(Some(Totals { granted, used }))
                }
                Err(e) => {
                    metrics.database_error("quota_take_back");
                    Err(e)
                }
            }
        }))
    }

    fn report_used<'a>(&'a self, key: &'a CounterKey, units: i64) -> LedgerFuture<'a, ()> {
        let (store, key, metrics) = (
            Arc::clone(&self.store),
            key.clone(),
            Arc::clone(&self.metrics),
        );
        self.statements.fetch_add(1, Ordering::Relaxed);
        Box::pin(self.at_home(async move {
            let subject = key.subject.stored();
            let result = store.report_used(stored(&key, &subject), units).await;
            if result.is_err() {
                metrics.database_error("quota_report_used");
            }
            result
        }))
    }

    fn totals<'a>(&'a self, key: &'a CounterKey) -> LedgerFuture<'a, Option<Totals>> {
        let (store, key, metrics, give_up) = (
            Arc::clone(&self.store),
            key.clone(),
            Arc::clone(&self.metrics),
            self.give_up,
        );
        self.statements.fetch_add(1, Ordering::Relaxed);
        Box::pin(self.at_home(async move {
            let subject = key.subject.stored();
            let result = store.counter_totals(stored(&key, &subject), give_up).await;
            match result {
                Ok(row) => Ok(row.map(|(granted, used)| Totals { granted, used })),
                Err(e) => {
                    metrics.database_error("quota_totals");
                    Err(e)
                }
            }
        }))
    }

    fn tracks_use(&self) -> bool {
        true
    }

    fn activate<'a>(&'a self, key: &'a CounterKey, amount: i64) -> LedgerFuture<'a, (i64, i64)> {
        let (store, key, metrics, owner, ttl, give_up) = (
            Arc::clone(&self.store),
            key.clone(),
            Arc::clone(&self.metrics),
            Arc::clone(&self.owner),
            self.lease_ttl,
            self.give_up,
        );
        self.statements.fetch_add(4, Ordering::Relaxed);
        Box::pin(self.at_home(async move {
            let subject = key.subject.stored();
            let counter = stored(&key, &subject);
            let lease = LeaseRef {
                owner: &owner,
                expires_at: Self::expiry(ttl),
            };
            let result = store
                .activate_reserve(counter, lease, amount, give_up)
                .await;
            if result.is_err() {
                metrics.database_error("quota_activate");
            }
            result
        }))
    }

    fn release_held<'a>(
        &'a self,
        key: &'a CounterKey,
        usable: i64,
        reserved: i64,
    ) -> LedgerFuture<'a, ()> {
        if reserved <= 0 {
            return self.release(key, usable);
        }
        let (store, key, metrics, owner) = (
            Arc::clone(&self.store),
            key.clone(),
            Arc::clone(&self.metrics),
            Arc::clone(&self.owner),
        );
        self.statements.fetch_add(5, Ordering::Relaxed);
        Box::pin(self.at_home(async move {
            let subject = key.subject.stored();
            let counter = stored(&key, &subject);
            match store
                .release_with_reserve(counter, &owner, usable, reserved)
                .await
            {
                Ok(_) => Ok(()),
                Err(e) => {
                    metrics.database_error("quota_release");
                    Err(e)
                }
            }
        }))
    }

    fn keep_leases(&self) -> LedgerFuture<'_, ()> {
        let (store, owner, ttl) = (
            Arc::clone(&self.store),
            Arc::clone(&self.owner),
            self.lease_ttl,
        );
        let predecessors = std::mem::take(&mut *self.predecessors.lock());
        let dead_ones = predecessors.clone();
        let work = self.at_home(async move {
            store.renew_leases(&owner, Self::expiry(ttl)).await?;
            let now = crate::store::now_ms();
            for dead in &predecessors {
                for lease in store
                    .expired_leases(&owner, now, Some(dead), i64::MAX / 2)
                    .await?
                {
                    reclaim(&store, &lease, now, true).await?;
                }
            }
            for lease in store
                .expired_leases(&owner, now, None, RECLAIM_BATCH)
                .await?
            {
                reclaim(&store, &lease, now, false).await?;
            }
            store.drop_empty_leases(&owner, now).await
        });
        Box::pin(async move {
            let result = work.await;
            if result.is_err() && !dead_ones.is_empty() {
                // Not all reclaimed yet: the next pass tries again.
                *self.predecessors.lock() = dead_ones;
            }
            result
        })
    }

    fn leases(&self) -> bool {
        true
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
            let counter = stored(&key, &subject);
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

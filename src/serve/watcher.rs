//! The change watcher: polls the store's state version and, when it moved, reloads the
//! key directory, the prices and the quota policy (limits, blocks, protections), so
//! changes made by the command line or another proxy take effect here within one poll
//! interval plus the reload time, or at once for a call that names a key this proxy
//! does not know ([`LookNow`]). A limit that fell takes back the quota capacity this
//! proxy holds under the old one before the version counts as applied (see
//! `quota::takeback`). The version whose snapshots are in use is published as
//! [`AppliedVersion`] (tests wait on it instead of sleeping).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::auth::crypto::MasterKey;
use crate::auth::directory::DirectoryHandle;
use crate::look_now::{self, LookNow};
use crate::quota::engine::QuotaEngine;
use crate::quota::policy::Policy;
use crate::snapshot::Snapshot;
use crate::store::Store;
use crate::usage::PriceBook;

/// Everything the watcher keeps fresh.
#[derive(Clone)]
pub(crate) struct Snapshots {
    /// Keys.
    pub(crate) directory: Arc<DirectoryHandle>,
    /// Prices.
    pub(crate) prices: Arc<Snapshot<PriceBook>>,
    /// Limits, blocks and protections.
    pub(crate) policy: Arc<Snapshot<Policy>>,
    /// The quota engine, whose capacity under a limit that fell is taken back.
    pub(crate) quota: Arc<QuotaEngine>,
}

/// Default poll interval (changes must show within 2 seconds).
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The database state version (`Store::state_version`) whose keys, prices and policy this
/// proxy serves: everything changed up to that version is in effect here.
#[derive(Clone, Debug)]
pub struct AppliedVersion(watch::Sender<i64>);

impl Default for AppliedVersion {
    fn default() -> Self {
        Self(watch::channel(0).0)
    }
}

impl AppliedVersion {
    /// Follows the applied version as the watcher moves it.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.0.subscribe()
    }

    /// The version applied now.
    pub fn current(&self) -> i64 {
        *self.0.borrow()
    }

    /// Records that the snapshots of `version` are in use.
    pub(crate) fn set(&self, version: i64) {
        self.0.send_replace(version);
    }
}

/// Polls until the task is stopped, and looks at once (at most every
/// [`look_now::MIN_GAP`]) when a call asks through `looks` (an unknown key). Starts from
/// the version `applied` holds (the one the snapshots were loaded at) and moves it after
/// each reload.
pub(crate) async fn run(
    store: Arc<Store>,
    master: MasterKey,
    snapshots: Snapshots,
    interval: Duration,
    applied: AppliedVersion,
    looks: LookNow,
) {
    let mut seen = applied.current();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_asked = tokio::time::Instant::now() - look_now::MIN_GAP;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = looks.asked() => {
                tokio::time::sleep_until(last_asked + look_now::MIN_GAP).await;
                last_asked = tokio::time::Instant::now();
            }
        }
        looks.begin();
        look(&store, &master, &snapshots, &applied, &mut seen).await;
        looks.done();
    }
}

/// One look: reloads when the state version moved past `seen`.
async fn look(
    store: &Store,
    master: &MasterKey,
    snapshots: &Snapshots,
    applied: &AppliedVersion,
    seen: &mut i64,
) {
    let version = match store.state_version().await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "change watcher cannot read the database");
            return;
        }
    };
    if *seen == version {
        return;
    }
    match reload(store, master, snapshots).await {
        Ok(()) => {
            tracing::debug!(version, "reloaded keys and prices");
            *seen = version;
            applied.set(version);
        }
        Err(e) => tracing::warn!(error = %e, "reloading keys and prices failed; will retry"),
    }
}

async fn reload(
    store: &Store,
    master: &MasterKey,
    snapshots: &Snapshots,
) -> Result<(), crate::store::StoreError> {
    let dir = super::load_directory(store, master).await?;
    let book = PriceBook::new(store.prices().await?);
    let policy = super::load_policy(store).await?;
    // Policy and prices first: a new key must never be usable before its user's limits
    // are known here.
    snapshots.policy.replace(policy);
    snapshots.prices.replace(book);
    snapshots.directory.replace(dir);
    // Calls see the new limits from here on (and take back capacity granted under a
    // higher one before they use it); counters without calls are taken back now.
    let policy = snapshots.policy.get();
    snapshots
        .quota
        .take_back_lowered(|subject, window, metric| policy.limit_for(subject, window, metric))
        .await;
    Ok(())
}

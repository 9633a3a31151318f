//! Building the application: everything `serve` needs before it can run, in start-up
//! order (the descriptor limit raised, database opened and migrated, master key, records
//! spilled by an earlier shutdown and the crash journal of a killed one, the key directory, prices and quota policy with the
//! state version they were loaded at, the metrics, upstream credentials, the upstream
//! client and TLS, the quota engine). Building spawns no task: `App::run` (`running`)
//! starts them all.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

use super::watcher::{self, AppliedVersion};
use super::{load_directory, load_policy, spill_file, ServeError, ServeOptions};
use crate::auth::crypto::MasterKey;
use crate::auth::directory::DirectoryHandle;
use crate::config::Config;
use crate::metrics::{BlockedUsers, Metrics};
use crate::proxy::upstream::{load_aws_config, CredentialCache, Upstream};
use crate::quota::engine::{QuotaEngine, QuotaEvent};
use crate::quota::ledger::StoreLedger;
use crate::snapshot::Snapshot;
use crate::store::Store;
use crate::usage::PriceBook;

/// A built application, ready to run on a pair of listeners.
pub(crate) struct App {
    pub(super) config: Config,
    pub(super) store: Arc<Store>,
    pub(super) master: MasterKey,
    /// Where records go when the database is away at shutdown.
    pub(super) spill: PathBuf,
    /// The crash journal's directory (replayed; opened by `run` when `proxy.journal`).
    pub(super) journal_slot: crate::journal::slot::Slot,
    /// Keys, prices and policy, as loaded.
    pub(super) snapshots: watcher::Snapshots,
    /// The state version of those snapshots, moved by the watcher.
    pub(super) applied: AppliedVersion,
    pub(super) poll_interval: Duration,
    /// How often the event dispatcher polls the outbox.
    pub(super) event_interval: Duration,
    pub(super) credentials: Arc<CredentialCache>,
    /// The shared AWS configuration (region, credential chain), for the IAM client.
    pub(super) aws: aws_config::SdkConfig,
    pub(super) upstream: Upstream,
    pub(super) tls: Option<TlsAcceptor>,
    pub(super) quota: Arc<QuotaEngine>,
    /// What the quota engine raises (warnings, exhausted limits), for the event handler.
    pub(super) quota_events: mpsc::UnboundedReceiver<QuotaEvent>,
    /// This process's name in audit rows and job claims.
    pub(super) name: String,
    /// What `/metrics` serves; shared with the proxy, the ledger and the record writer.
    pub(super) metrics: Arc<Metrics>,
}

impl App {
    /// Opens and migrates the database and loads everything the proxy serves from.
    pub(crate) async fn build(config: Config, options: ServeOptions) -> Result<Self, ServeError> {
        super::startup::log_version();
        super::descriptors::raise_to_hard_limit();
        let store = Arc::new(Store::connect(&config.database, config.quota.timezone).await?);
        let applied = store.migrate().await?;
        super::startup::log_database(&config, applied);
        let master = MasterKey::load(&config.database.master_key)?;
        let spill = spill_file(&config);
        super::import_spills(&store, &spill).await?;
        // A journal left by a killed proxy is replayed even if the journal is now off.
        // Each proxy on this host and database owns a journal directory of its own;
        // those of proxies that are gone are replayed too.
        let (journal_slot, orphans) = crate::journal::slot::claim(&super::journal_dir(&spill))
            .map_err(|e| ServeError::Setup(format!("crash journal: {e}")))?;
        super::replay_journal(&store, &journal_slot.dir).await?;
        for orphan in &orphans {
            super::replay_journal(&store, &orphan.dir).await?;
        }
        // The runs that held these slots have stopped: their quota leases are
        // reclaimed at the first upkeep.
        let mut slots = vec![journal_slot.dir.as_path()];
        slots.extend(orphans.iter().map(|o| o.dir.as_path()));
        let predecessors = super::lease_owner::previous(&slots);
        let lease_owner = super::lease_owner::new_owner();
        super::lease_owner::record(&journal_slot.dir, &lease_owner);
        drop(orphans);

        // Read before loading: anything changed after this shows as a newer version.
        let version = store.state_version().await?;
        let directory = Arc::new(DirectoryHandle::new(load_directory(&store, &master).await?));
        let prices = Arc::new(Snapshot::new(PriceBook::new(store.prices().await?)));
        let policy = Arc::new(Snapshot::new(load_policy(&store).await?));
        options.applied.set(version);
        let metrics = {
            let policy = Arc::clone(&policy);
            Arc::new(Metrics::new(
                &config.metrics,
                Box::new(move || {
                    let (manual, automatic) = policy
                        .get()
                        .blocked_counts(chrono::Utc::now().timestamp_millis());
                    BlockedUsers { manual, automatic }
                }),
            ))
        };
        tracing::info!(
            keys = directory.get().len(),
            prices = prices.get().len(),
            "loaded keys and prices"
        );

        // The shared AWS configuration: the upstream signer's credentials and the IAM
        // client come from this one load.
        let aws = load_aws_config(&config.upstream.region, options.credentials).await;
        let credentials = Arc::new(CredentialCache::from_sdk_config(&aws));
        credentials.refresh_logged().await;
        let upstream = Upstream::new(
            &config.upstream.endpoint,
            &config.upstream.region,
            Arc::clone(&credentials),
            config.proxy.workers,
            config.upstream.timeout,
        )
        .map_err(ServeError::Setup)?;
        let tls = match &config.proxy.tls {
            Some(files) => Some(crate::proxy::tls::acceptor(files).map_err(ServeError::Setup)?),
            None => None,
        };

        let (events_tx, quota_events) = mpsc::unbounded_channel();
        let quota = Arc::new(
            QuotaEngine::new(
                Arc::new(
                    StoreLedger::new(
                        Arc::clone(&store),
                        Arc::clone(&metrics),
                        &lease_owner,
                        config.quota.lease,
                    )
                    .with_predecessors(predecessors)
                    .with_give_up(config.quota.store_timeout * 5),
                ),
                config.quota.timezone,
                80,
                Some(events_tx),
            )
            .with_warning_thresholds(config.quota.warning_thresholds.clone())
            .with_store_timeout(config.quota.store_timeout)
            .with_outage_policy(config.quota.on_store_outage),
        );
        Ok(Self {
            store,
            master,
            spill,
            journal_slot,
            snapshots: watcher::Snapshots {
                directory,
                prices,
                policy,
                quota: Arc::clone(&quota),
            },
            applied: options.applied,
            poll_interval: options.poll_interval,
            event_interval: options.event_interval,
            credentials,
            aws,
            upstream,
            tls,
            quota,
            quota_events,
            name: super::instance_name(),
            metrics,
            config,
        })
    }
}

//! `serve`: wires the pieces together and runs them until shutdown.
//!
//! Start-up order: database (migrated), master key, records spilled by an earlier
//! shutdown, the key directory and prices, upstream credentials, then the listeners.
//! Shutdown order: stop accepting, let in-flight calls finish (bounded by
//! `proxy.shutdown_grace_secs`), flush every request record, close the database.

pub mod admin;
pub mod watcher;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use tokio::net::TcpListener;

use crate::auth::crypto::MasterKey;
use crate::auth::directory::{Directory, DirectoryBuilder, DirectoryHandle};
use crate::auth::Authenticator;
use crate::config::{Config, DatabaseKind};
use crate::domain::Actor;
use crate::ops::Ops;
use crate::proxy::upstream::{CredentialCache, Upstream};
use crate::proxy::ProxyState;
use crate::quota::engine::{QuotaEngine, IDLE_RETURN};
use crate::quota::ledger::StoreLedger;
use crate::quota::policy::Policy;
use crate::snapshot::Snapshot;
use crate::store::{Store, StoreError};
use crate::usage::{recorder, PriceBook};

/// Why `serve` could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The master key could not be loaded.
    #[error(transparent)]
    Crypto(#[from] crate::auth::crypto::CryptoError),
    /// TLS or the upstream client could not be set up.
    #[error("{0}")]
    Setup(String),
}

/// The two bound listeners.
pub struct Listeners {
    /// Where tools send Bedrock calls.
    pub proxy: TcpListener,
    /// Health checks.
    pub admin: TcpListener,
}

/// Knobs that tests set; production uses [`ServeOptions::default`].
pub struct ServeOptions {
    /// Upstream credentials; `None` uses the standard AWS chain.
    pub credentials: Option<SharedCredentialsProvider>,
    /// How often the change watcher polls the database.
    pub poll_interval: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            credentials: None,
            poll_interval: watcher::POLL_INTERVAL,
        }
    }
}

/// Where records go when the database is away at shutdown.
pub fn spill_file(config: &Config) -> PathBuf {
    match (
        config.database.kind,
        crate::config::sqlite_file(&config.database.url),
    ) {
        (DatabaseKind::Sqlite, Some(db)) => {
            let mut name = db.into_os_string();
            name.push(".unsaved.jsonl");
            PathBuf::from(name)
        }
        _ => PathBuf::from("bedrock-gate.unsaved.jsonl"),
    }
}

/// Loads the key directory from the store.
pub async fn load_directory(store: &Store, master: &MasterKey) -> Result<Directory, StoreError> {
    let mut builder = DirectoryBuilder::new(master);
    store.each_active_key(|k| builder.add(k)).await?;
    let (dir, skipped) = builder.finish();
    if skipped > 0 {
        tracing::error!(
            skipped,
            "some keys could not be decrypted with the master key"
        );
    }
    Ok(dir)
}

/// Loads the quota policy (limits, blocks, protections) from the store.
pub async fn load_policy(store: &Store) -> Result<Policy, StoreError> {
    let (users, teams) = store.all_limits().await?;
    Ok(Policy::new(users, teams, store.block_rows().await?))
}

/// A name for this process in audit rows and job claims.
pub fn instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("proxy:{host}:{}", std::process::id())
}

/// Runs the proxy and the admin listener until `shutdown` resolves.
pub async fn run(
    config: Config,
    listeners: Listeners,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let store = Arc::new(Store::connect(&config.database).await?);
    let applied = store.migrate().await?;
    if applied > 0 {
        tracing::info!(applied, "applied database migrations");
    }
    let master = MasterKey::load(&config.database.master_key)?;
    let spill = spill_file(&config);
    recorder::import_spill(&store, &spill).await?;

    let directory = Arc::new(DirectoryHandle::new(load_directory(&store, &master).await?));
    let prices = Arc::new(Snapshot::new(PriceBook::new(store.prices().await?)));
    tracing::info!(
        keys = directory.get().len(),
        prices = prices.get().len(),
        "loaded keys and prices"
    );

    let credentials = Arc::new(match options.credentials {
        Some(p) => CredentialCache::new(p),
        None => CredentialCache::from_default_chain(&config.upstream.region).await,
    });
    if let Err(e) = credentials.refresh().await {
        tracing::warn!(error = %e, "no upstream AWS credentials yet; calls get 503 until they load");
    }
    let refresher = credentials.spawn_refresher();
    let upstream = Upstream::new(
        &config.upstream.endpoint,
        &config.upstream.region,
        Arc::clone(&credentials),
        config.proxy.workers,
    )
    .map_err(ServeError::Setup)?;
    let tls = match &config.proxy.tls {
        Some(files) => Some(crate::proxy::tls::acceptor(files).map_err(ServeError::Setup)?),
        None => None,
    };

    let policy = Arc::new(Snapshot::new(load_policy(&store).await?));
    let name = instance_name();
    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    let quota = Arc::new(QuotaEngine::new(
        Arc::new(StoreLedger::new(Arc::clone(&store))),
        config.quota.timezone,
        config.quota.warning_percent,
        Some(events_tx),
    ));
    let ops = Arc::new(Ops::new(Arc::clone(&store), &config));
    let actions = tokio::spawn(crate::ops::quota_events::run(
        Arc::clone(&ops),
        Actor::system(name.clone()),
        events_rx,
    ));
    let scheduler = tokio::spawn(Arc::clone(&ops).run_reset_scheduler(Actor::system(name.clone())));
    let returner = {
        let quota = Arc::clone(&quota);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            loop {
                tick.tick().await;
                let idle = quota.take_idle(IDLE_RETURN, chrono::Utc::now());
                quota.release(idle).await;
            }
        })
    };

    let (recorder, recorder_handle) = recorder::spawn(Arc::clone(&store), spill);
    let state = Arc::new(ProxyState {
        auth: Authenticator::new(Arc::clone(&directory), &config.upstream.region),
        upstream,
        prices: Arc::clone(&prices),
        recorder,
        max_body_bytes: config.proxy.max_body_bytes,
        timeout: config.upstream.timeout,
        region: config.upstream.region.clone(),
        quota: Arc::clone(&quota),
        policy: Arc::clone(&policy),
        timezone: config.quota.timezone,
        default_max_output_tokens: config.quota.default_max_output_tokens,
        fallback_price: config
            .quota
            .fallback_price
            .map(|(i, o)| crate::store::Price {
                model_id: "(fallback)".into(),
                input_per_1k: i,
                output_per_1k: o,
                cache_read_per_1k: None,
                cache_write_per_1k: None,
            }),
    });

    let watcher = tokio::spawn(watcher::run(
        Arc::clone(&store),
        master,
        watcher::Snapshots {
            directory,
            prices,
            policy,
        },
        options.poll_interval,
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let admin = tokio::spawn(admin::run(
        listeners.admin,
        admin::AdminState {
            store: Arc::clone(&store),
            credentials,
        },
        stopped(stop_rx),
    ));
    tracing::info!(
        proxy = %config.proxy.listen,
        tls = config.proxy.tls.is_some(),
        upstream = %config.upstream.endpoint,
        "bedrock-gate is serving"
    );
    crate::proxy::run(
        listeners.proxy,
        tls,
        state,
        async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        },
        config.proxy.shutdown_grace,
    )
    .await;

    recorder_handle.shutdown().await;
    returner.abort();
    quota.release(quota.take_all()).await;
    watcher.abort();
    refresher.abort();
    scheduler.abort();
    // The engine's event sender goes with the proxy state; let pending events finish.
    drop(quota);
    if tokio::time::timeout(Duration::from_secs(10), actions)
        .await
        .is_err()
    {
        tracing::warn!("quota events still pending at shutdown");
    }
    let _ = admin.await;
    store.close().await;
    tracing::info!("bedrock-gate stopped; every request record is flushed");
    Ok(())
}

async fn stopped(mut rx: tokio::sync::watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

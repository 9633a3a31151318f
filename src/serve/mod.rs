//! `serve`: the running proxy process. [`run`] builds the application (`app`: database,
//! snapshots, credentials, upstream, quota engine; nothing spawned) and runs it
//! (`running`: every task and both listeners in one task registry, drained in a
//! defined order on shutdown). This file holds the public entry point, its options and
//! errors, and the loaders the change watcher shares with start-up.

pub(crate) mod admin;
mod app;
mod running;
pub(crate) mod watcher;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use tokio::net::TcpListener;

use crate::auth::crypto::MasterKey;
use crate::auth::directory::{Directory, DirectoryBuilder};
use crate::config::{Config, DatabaseKind};
use crate::quota::policy::Policy;
use crate::store::{Store, StoreError};

pub use watcher::AppliedVersion;

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
    /// How often the event dispatcher polls the outbox.
    pub event_interval: Duration,
    /// Where the proxy publishes the state version it serves; tests subscribe to it to
    /// wait for a reload.
    pub applied: AppliedVersion,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            credentials: None,
            poll_interval: watcher::POLL_INTERVAL,
            event_interval: crate::events::dispatcher::POLL_INTERVAL,
            applied: AppliedVersion::default(),
        }
    }
}

/// Where records go when the database is away at shutdown.
pub(crate) fn spill_file(config: &Config) -> PathBuf {
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
pub(crate) async fn load_directory(
    store: &Store,
    master: &MasterKey,
) -> Result<Directory, StoreError> {
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
pub(crate) async fn load_policy(store: &Store) -> Result<Policy, StoreError> {
    let (users, teams) = store.all_limits().await?;
    Ok(Policy::new(users, teams, store.block_rows().await?))
}

/// A name for this process in audit rows and job claims.
pub(crate) fn instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("proxy:{host}:{}", std::process::id())
}

/// Runs the proxy and the admin listener until `shutdown` resolves, then stops every
/// task in order (see `serve::running`).
pub async fn run(
    config: Config,
    listeners: Listeners,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    app::App::build(config, options)
        .await?
        .run(listeners, shutdown)
        .await
}

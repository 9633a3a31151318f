//! `serve`: the running proxy process. [`run`] builds the application (`app`: database,
//! snapshots, credentials, upstream, quota engine; nothing spawned) and runs it
//! (`running`: every task and both listeners in one task registry, drained in a
//! defined order on shutdown). This file holds the public entry point, its options and
//! errors, and the loaders the change watcher shares with start-up.

pub(crate) mod admin;
mod app;
mod descriptors;
mod lease_owner;
mod running;
mod startup;
pub(crate) mod watcher;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use tokio::net::TcpListener;

use crate::auth::crypto::MasterKey;
use crate::auth::directory::{Directory, DirectoryBuilder};
use crate::config::{Config, DatabaseKind};
use crate::quota::policy::Policy;
use crate::store::{Store, StoreError};
use crate::usage::recorder;

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
    spill_path(config, |name| std::env::var_os(name))
}

/// [`spill_file`] with the environment given, for tests.
fn spill_path(config: &Config, env: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    let sqlite = match config.database.kind {
        DatabaseKind::Sqlite => crate::config::sqlite_file(&config.database.url),
        DatabaseKind::MySql => None,
    };
    // An explicit directory, or systemd's `StateDirectory=`; else beside an SQLite file;
    // else a per-user state directory. Never the working directory: a restart from
    // elsewhere must find what the last shutdown left.
    let dir = config.proxy.state_dir.clone().or_else(|| {
        env("STATE_DIRECTORY")
            .and_then(|v| std::env::split_paths(&v).next())
            .filter(|p| !p.as_os_str().is_empty())
    });
    match (dir, sqlite) {
        (None, Some(db)) => {
            let mut name = db.into_os_string();
            name.push(".unsaved.jsonl");
            PathBuf::from(name)
        }
        (dir, _) => {
            let dir = dir.unwrap_or_else(|| {
                env("XDG_STATE_HOME")
                    .map(PathBuf::from)
                    .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".local/state")))
                    .unwrap_or_else(|| PathBuf::from("/var/lib"))
                    .join("bedrock-gate")
            });
            dir.join(format!(
                "{}.unsaved.jsonl",
                database_label(&config.database.url)
            ))
        }
    }
}

/// The crash journal's directory, beside the spill file: `<label>.journal` for
/// `<label>.unsaved.jsonl`.
pub(crate) fn journal_dir(spill: &Path) -> PathBuf {
    let mut name = spill.as_os_str().to_owned();
    if let Some(base) = spill
        .to_str()
        .and_then(|s| s.strip_suffix(".unsaved.jsonl"))
    {
        name = base.into();
    }
    name.push(".journal");
    PathBuf::from(name)
}

/// Replays what a killed proxy left in its crash journal (before any call is accepted).
pub(crate) async fn replay_journal(store: &Store, dir: &Path) -> Result<(), ServeError> {
    use crate::journal::replay::{replay, ReplayError};
    match replay(store, dir).await {
        Ok(_) => Ok(()),
        Err(ReplayError::Store(e)) => Err(ServeError::Store(e)),
        Err(ReplayError::Journal(e)) => Err(ServeError::Setup(e.to_string())),
    }
}

/// Where versions without a state directory spilled records with a MySQL store: the
/// working directory. Still imported at start when present.
const LEGACY_SPILL_FILE: &str = "bedrock-gate.unsaved.jsonl";

/// Imports the spill file of the last shutdown, then one an older version left in the
/// working directory, if any (records are keyed by their uid: importing twice is
/// harmless).
pub(crate) async fn import_spills(store: &Store, spill: &Path) -> Result<u64, StoreError> {
    let mut imported = recorder::import_spill(store, spill).await?;
    let legacy = Path::new(LEGACY_SPILL_FILE);
    if legacy.exists() {
        tracing::warn!(
            file = %legacy.display(),
            "importing records an older version spilled to the working directory; spill \
             files now live in the state directory (proxy.state_dir, see `config show`)"
        );
        imported += recorder::import_spill(store, legacy).await?;
    }
    Ok(imported)
}

/// A file-name-safe label of the database a URL names (`mysql-db.example.com-3306-gate`,
/// `sqlite-gate.db`), without credentials, so proxies of different databases on one host
/// keep their spill files apart.
fn database_label(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("db", url));
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let rest = rest.split('?').next().unwrap_or(rest);
    let label: String = format!("{scheme}-{rest}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    label.trim_matches('-').to_string()
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

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;
    use crate::config::raw::RawConfig;

    /// A validated configuration from TOML text (shared by the serve modules' tests).
    pub(super) fn config(text: &str) -> Config {
        Config::from_raw(RawConfig::parse(Some(text), &[]).unwrap()).unwrap()
    }

    #[test]
    fn spill_files_never_land_in_the_working_directory() {
        let home = |name: &str| (name == "HOME").then(|| OsString::from("/home/ops"));
        let none = |_: &str| None;
        let mysql = "[database]\nurl = \"mysql://gate:pw@db.example.com:3306/gate\"\nmaster_key = \"0000000000000000000000000000000000000000000000000000000000000000\"\n";
        assert_eq!(
            spill_path(&config(mysql), home),
            PathBuf::from(
                "/home/ops/.local/state/bedrock-gate/mysql-db.example.com-3306-gate.unsaved.jsonl"
            )
        );
        assert_eq!(
            spill_path(&config(mysql), |n: &str| (n == "STATE_DIRECTORY")
                .then(|| OsString::from("/var/lib/bedrock-gate"))),
            PathBuf::from("/var/lib/bedrock-gate/mysql-db.example.com-3306-gate.unsaved.jsonl")
        );
        let with_dir = format!("[proxy]\nstate_dir = \"/srv/gate\"\n{mysql}");
        assert_eq!(
            spill_path(&config(&with_dir), home),
            PathBuf::from("/srv/gate/mysql-db.example.com-3306-gate.unsaved.jsonl")
        );
        // SQLite keeps its spill beside the database file unless a directory is set.
        let sqlite = "[database]\nurl = \"sqlite:///var/lib/gate/gate.db\"\n";
        assert_eq!(
            spill_path(&config(sqlite), none),
            PathBuf::from("/var/lib/gate/gate.db.unsaved.jsonl")
        );
        assert!(!database_label("mysql://user:secret@h/db").contains("secret"));
    }
}

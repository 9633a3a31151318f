//! `[proxy]`: the listener tools send their Bedrock runtime calls to, its optional TLS
//! files, the body limit, the shutdown grace period, the worker thread count, the
//! directory for this proxy's local state (records spilled at shutdown, the crash
//! journal) and whether the journal is on, and the
//! [`ClientLimits`] that keep slow, idle or greedy clients from holding memory and
//! descriptors.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::RawProxy;
use super::values::{parse_addr, positive};
use super::ConfigError;

/// Most worker threads `proxy.workers` may ask for.
const MAX_WORKERS: u64 = 1024;

/// `[proxy]`
#[derive(Clone, Debug)]
pub(crate) struct ProxyConfig {
    /// Where tools send their Bedrock runtime calls.
    pub(crate) listen: SocketAddr,
    /// PEM certificate chain and key; both set means HTTPS.
    pub(crate) tls: Option<TlsFiles>,
    /// Larger request bodies get 413.
    pub(crate) max_body_bytes: usize,
    /// How long `serve` waits for in-flight calls on shutdown.
    pub(crate) shutdown_grace: Duration,
    /// Proxy worker threads (`proxy.workers`; 0 in the file means one per CPU).
    pub(crate) workers: usize,
    /// `proxy.state_dir`: where this proxy keeps local state (unset: see
    /// `serve::spill_file` for the default).
    pub(crate) state_dir: Option<PathBuf>,
    /// `proxy.journal`: how every forwarded call is journaled before it goes upstream.
    pub(crate) journal: JournalMode,
    /// What one client, and all of them together, may hold.
    pub(crate) limits: ClientLimits,
}

/// `proxy.journal`: when a call's begin frame in the crash journal counts as written
/// (docs/RELIABILITY.md, "Process crash and power loss").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JournalMode {
    /// Durable on disk (group-committed `fdatasync`) before the call is forwarded: no
    /// call is lost to a SIGKILL or a power loss; each call waits for an fsync.
    Fsync,
    /// The default: written to the operating system before the call is forwarded
    /// (kept across a SIGKILL), made durable in the background every 20 ms (a power
    /// loss loses at most that).
    Write,
    /// No journal: records of calls in flight or queued at a crash are lost.
    Off,
}

impl JournalMode {
    /// The name `proxy.journal` takes.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Fsync => "fsync",
            Self::Write => "write",
            Self::Off => "off",
        }
    }
}

/// Bounds on what clients may hold before they are authenticated and served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClientLimits {
    /// `proxy.max_connections`: open client connections; past it new ones get 503.
    pub(crate) max_connections: usize,
    /// `proxy.max_pending_body_bytes`: request body bytes held in memory by all calls at
    /// once (read, not yet sent upstream); past it new calls get 503.
    pub(crate) max_pending_body_bytes: usize,
    /// `proxy.idle_timeout_secs`: a connection with no call in flight and nothing sent
    /// or received for this long is closed.
    pub(crate) idle_timeout: Duration,
    /// `proxy.header_timeout_secs`: a request head must arrive within this.
    pub(crate) header_timeout: Duration,
    /// `proxy.body_timeout_secs`: the time any body gets, on top of
    /// `received / min_body_bytes_per_sec`.
    pub(crate) body_timeout: Duration,
    /// `proxy.min_body_bytes_per_sec`: the slowest sustained upload rate served.
    pub(crate) min_body_bytes_per_sec: u64,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_pending_body_bytes: 128 << 20,
            idle_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            min_body_bytes_per_sec: 65_536,
        }
    }
}

impl ClientLimits {
    fn from_raw(p: &RawProxy, max_body_bytes: u64) -> Result<Self, ConfigError> {
        let d = Self::default();
        let secs = |key: &str, v: Option<u64>, default: Duration| {
            positive(key, v, default.as_secs()).map(Duration::from_secs)
        };
        let size = |key: &str, v: u64| {
            usize::try_from(v).map_err(|_| ConfigError::new(key, "too large for this machine"))
        };
        let pending = positive(
            "proxy.max_pending_body_bytes",
            p.max_pending_body_bytes,
            (d.max_pending_body_bytes as u64).max(max_body_bytes),
        )?;
        if pending < max_body_bytes {
            return Err(ConfigError::new(
                "proxy.max_pending_body_bytes",
                format!(
                    "{pending} is less than proxy.max_body_bytes ({max_body_bytes}): \
                     a body of the largest allowed size could never be read"
                ),
            ));
        }
        Ok(Self {
            max_connections: size(
                "proxy.max_connections",
                positive(
                    "proxy.max_connections",
                    p.max_connections,
                    d.max_connections as u64,
                )?,
            )?,
            max_pending_body_bytes: size("proxy.max_pending_body_bytes", pending)?,
            idle_timeout: secs(
                "proxy.idle_timeout_secs",
                p.idle_timeout_secs,
                d.idle_timeout,
            )?,
            header_timeout: secs(
                "proxy.header_timeout_secs",
                p.header_timeout_secs,
                d.header_timeout,
            )?,
            body_timeout: secs(
                "proxy.body_timeout_secs",
                p.body_timeout_secs,
                d.body_timeout,
            )?,
            min_body_bytes_per_sec: positive(
                "proxy.min_body_bytes_per_sec",
                p.min_body_bytes_per_sec,
                d.min_body_bytes_per_sec,
            )?,
        })
    }
}

/// A certificate chain and its private key, both PEM.
#[derive(Clone, Debug)]
pub(crate) struct TlsFiles {
    /// Certificate chain.
    pub(crate) cert: PathBuf,
    /// Private key.
    pub(crate) key: PathBuf,
}

impl ProxyConfig {
    /// Validates `[proxy]` and fills in its defaults.
    pub(super) fn from_raw(p: RawProxy) -> Result<Self, ConfigError> {
        let listen = parse_addr("proxy.listen", p.listen.as_deref(), "127.0.0.1:8080")?;
        let max_body_bytes = positive("proxy.max_body_bytes", p.max_body_bytes, 26_214_400)?;
        let limits = ClientLimits::from_raw(&p, max_body_bytes)?;
        let tls = tls_files(p.tls_cert, p.tls_key)?;
        let shutdown_grace = Duration::from_secs(positive(
            "proxy.shutdown_grace_secs",
            p.shutdown_grace_secs,
            60,
        )?);
        let workers = match p.workers.unwrap_or(0) {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n if n <= MAX_WORKERS => n as usize,
            n => {
                return Err(ConfigError::new(
                    "proxy.workers",
                    format!("{n} is more than {MAX_WORKERS} threads"),
                ))
            }
        };
        Ok(Self {
            listen,
            tls,
            max_body_bytes: usize::try_from(max_body_bytes).map_err(|_| {
                ConfigError::new("proxy.max_body_bytes", "too large for this machine")
            })?,
            shutdown_grace,
            workers,
            state_dir: match p.state_dir {
                Some(d) if d.trim().is_empty() => {
                    return Err(ConfigError::new("proxy.state_dir", "must not be empty"))
                }
                Some(d) => Some(PathBuf::from(d)),
                None => None,
            },
            journal: match p.journal.as_deref() {
                Some("fsync") => JournalMode::Fsync,
                None | Some("write") => JournalMode::Write,
                Some("off") => JournalMode::Off,
                Some(other) => {
                    return Err(ConfigError::new(
                        "proxy.journal",
                        format!("`{other}` is not one of `fsync`, `write`, `off`"),
                    ))
                }
            },
            limits,
        })
    }
}

/// Both files or neither; each one must exist.
fn tls_files(cert: Option<String>, key: Option<String>) -> Result<Option<TlsFiles>, ConfigError> {
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => {
            for (k, f) in [("proxy.tls_cert", &cert), ("proxy.tls_key", &key)] {
                if !Path::new(f).is_file() {
                    return Err(ConfigError::new(k, format!("file `{f}` does not exist")));
                }
            }
            Ok(Some(TlsFiles {
                cert: cert.into(),
                key: key.into(),
            }))
        }
        (Some(_), None) => Err(ConfigError::new(
            "proxy.tls_key",
            "must be set when proxy.tls_cert is set",
        )),
        (None, Some(_)) => Err(ConfigError::new(
            "proxy.tls_cert",
            "must be set when proxy.tls_key is set",
        )),
    }
}

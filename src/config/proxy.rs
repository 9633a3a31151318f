//! `[proxy]`: the listener tools send their Bedrock runtime calls to, its optional TLS
//! files, the body limit, the shutdown grace period, the worker thread count and the
//! directory for this proxy's local state (records spilled at shutdown).

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
        let tls = tls_files(p.tls_cert, p.tls_key)?;
        let max_body_bytes = positive("proxy.max_body_bytes", p.max_body_bytes, 26_214_400)?;
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

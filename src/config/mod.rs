//! Configuration: the TOML file, `BEDROCK_GATE_<SECTION>__<KEY>` environment overrides and
//! built-in defaults, turned into a validated, typed [`Config`] before anything starts.
//!
//! Loading happens in two steps, as in rust-rpxy: [`raw::RawConfig`] mirrors the file
//! (every key optional, unknown keys rejected), and [`Config::from_raw`] hands each section
//! to its own module (`proxy`, `admin`, `upstream`, `database`, `quota`, `email`, `iam`,
//! `records`, `metrics`, `log`, `webhook`, `oidc`), which checks each value and fills in defaults. Every error
//! names the key and what is wrong with it ([`ConfigError`]).

mod admin;
mod database;
mod email;
mod iam;
mod log;
mod metrics;
mod oidc;
pub(crate) mod origin;
mod proxy;
mod quota;
mod ratelimit;
pub mod raw;
mod records;
pub(crate) mod show;
mod upstream;
mod values;
mod webhook;

use std::path::Path;

pub(crate) use admin::AdminConfig;
pub(crate) use database::{sqlite_file, MasterKeySource};
pub use database::{DatabaseConfig, DatabaseKind};
pub(crate) use email::EmailConfig;
pub(crate) use iam::IamConfig;
pub use log::{LogConfig, LogFormat};
pub use metrics::MetricsConfig;
pub(crate) use oidc::{GroupLimits, IssuerConfig, OidcConfig, RoleGroups};
pub(crate) use origin::{Origin, Source};
pub(crate) use proxy::{ClientLimits, JournalMode, ProxyConfig, TlsFiles};
pub use quota::{OnStoreOutage, QuotaConfig};
pub use ratelimit::{RateDefaults, RateLimitConfig};
use raw::RawConfig;
pub(crate) use records::RecordsConfig;
pub(crate) use upstream::UpstreamConfig;
pub(crate) use webhook::{WebhookConfig, WebhookFormat};

/// The environment variable naming the config file when `--config` is not given.
pub(crate) const CONFIG_ENV: &str = "BEDROCK_GATE_CONFIG";
/// The prefix of environment overrides.
pub(crate) const ENV_PREFIX: &str = "BEDROCK_GATE_";

/// A configuration problem: which key (and where it was set), and what is wrong with it.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The dotted key (`proxy.listen`), or the file that could not be read or parsed.
    pub(crate) key: String,
    /// What is wrong.
    pub(crate) message: String,
    /// Where the key was set (`at FILE:LINE:COLUMN`, `set by VARIABLE`).
    pub(crate) at: Option<String>,
    /// The problem is the file itself (unreadable, not TOML), not one key.
    file_level: bool,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
            at: None,
            file_level: false,
        }
    }

    /// A problem with the file `place` (`path` or `path:line:column`) as a whole.
    pub(crate) fn file(place: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file_level: true,
            ..Self::new(place, message)
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.file_level {
            return write!(f, "configuration file {}: {}", self.key, self.message);
        }
        write!(f, "configuration key `{}`", self.key)?;
        if let Some(at) = &self.at {
            write!(f, " ({at})")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The proxy listener.
    pub(crate) proxy: ProxyConfig,
    /// The admin listener.
    pub(crate) admin: AdminConfig,
    /// Where allowed calls go.
    pub(crate) upstream: UpstreamConfig,
    /// The database.
    pub database: DatabaseConfig,
    /// Quota defaults and calendar.
    pub quota: QuotaConfig,
    /// Default short-term limits and the proxies' shares.
    pub ratelimit: RateLimitConfig,
    /// Email notifications.
    pub(crate) email: EmailConfig,
    /// The CloudTrail/IAM backstop (read by `config show` and `doctor` so far).
    pub(crate) iam: IamConfig,
    /// Retention of per-call records.
    pub(crate) records: RecordsConfig,
    /// What `/metrics` labels its series with.
    pub metrics: MetricsConfig,
    /// How `serve` logs.
    pub log: LogConfig,
    /// The file read and where each key's value came from.
    pub(crate) origin: Origin,
    /// Where events are posted.
    pub(crate) webhooks: Vec<WebhookConfig>,
    /// Sign-in with OpenID Connect issuers.
    pub(crate) oidc: OidcConfig,
}

impl Config {
    /// Loads the configuration: `path`, else `$BEDROCK_GATE_CONFIG`, else
    /// `/etc/bedrock-gate/bedrock-gate.toml` if it exists, else defaults; then the
    /// environment overrides; then validation. Errors say where the bad value was set.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let file = Origin::choose_file(path, &env);
        let text = match &file {
            Some(f) => Some(std::fs::read_to_string(&f.path).map_err(|e| {
                ConfigError::file(
                    f.path.display().to_string(),
                    format!(
                        "cannot be read ({}; chosen by {})",
                        io_reason(&e),
                        f.chosen_by
                    ),
                )
            })?),
            None => None,
        };
        Self::from_text(file, text.as_deref(), &env)
    }

    /// [`Config::load`] once the file (if any) has been read: `text` is its content,
    /// `env` the environment. Errors are located in the file or at their variable.
    pub(crate) fn from_text(
        file: Option<origin::ConfigFile>,
        text: Option<&str>,
        env: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        let origin = Origin::new(file, text, env);
        let located = |mut e: ConfigError| {
            if !e.file_level {
                e.at = origin.locate(&e.key, text);
            } else if let Some(f) = &origin.file {
                // A TOML syntax error: `key` is `line:column` within the file.
                e.key = format!("{}:{}", f.path.display(), e.key);
            }
            e
        };
        let raw = RawConfig::parse(text, env).map_err(located)?;
        let mut config = Self::from_raw(raw).map_err(located)?;
        config.origin = origin;
        Ok(config)
    }

    /// Validates a raw configuration and fills in defaults, section by section in file
    /// order; the first bad value is the error.
    pub fn from_raw(raw: RawConfig) -> Result<Self, ConfigError> {
        Ok(Config {
            proxy: ProxyConfig::from_raw(raw.proxy.unwrap_or_default())?,
            admin: AdminConfig::from_raw(raw.admin.unwrap_or_default())?,
            upstream: UpstreamConfig::from_raw(raw.upstream.unwrap_or_default())?,
            database: DatabaseConfig::from_raw(raw.database.unwrap_or_default())?,
            quota: QuotaConfig::from_raw(raw.quota.unwrap_or_default())?,
            ratelimit: RateLimitConfig::from_raw(raw.ratelimit.unwrap_or_default())?,
            email: EmailConfig::from_raw(raw.email.unwrap_or_default())?,
            iam: IamConfig::from_raw(raw.iam.unwrap_or_default())?,
            records: RecordsConfig::from_raw(raw.records.unwrap_or_default())?,
            metrics: MetricsConfig::from_raw(raw.metrics.unwrap_or_default())?,
            log: LogConfig::from_raw(raw.log.unwrap_or_default())?,
            origin: Origin::default(),
            webhooks: raw
                .webhook
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(n, w)| WebhookConfig::from_raw(n, w))
                .collect::<Result<_, _>>()?,
            oidc: OidcConfig::from_raw(raw.oidc.unwrap_or_default())?,
        })
    }
}

#[cfg(test)]
mod tests;

/// An I/O error's reason without Rust's `(os error N)` suffix.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

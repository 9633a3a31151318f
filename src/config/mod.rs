//! Configuration: the TOML file, `BEDROCK_GATE_<SECTION>__<KEY>` environment overrides and
//! built-in defaults, turned into a validated, typed [`Config`] before anything starts.
//!
//! Loading happens in two steps, as in rust-rpxy: [`raw::RawConfig`] mirrors the file
//! (every key optional, unknown keys rejected), and [`Config::from_raw`] hands each section
//! to its own module (`proxy`, `admin`, `upstream`, `database`, `quota`, `email`, `iam`,
//! `records`, `metrics`, `webhook`), which checks each value and fills in defaults. Every error
//! names the key and what is wrong with it ([`ConfigError`]).

mod admin;
mod database;
mod email;
mod iam;
mod metrics;
mod proxy;
mod quota;
pub mod raw;
mod records;
mod upstream;
mod values;
mod webhook;

use std::path::{Path, PathBuf};

pub(crate) use admin::AdminConfig;
pub(crate) use database::{sqlite_file, MasterKeySource};
pub use database::{DatabaseConfig, DatabaseKind};
pub(crate) use email::EmailConfig;
pub(crate) use iam::IamConfig;
pub use metrics::MetricsConfig;
pub(crate) use proxy::{ProxyConfig, TlsFiles};
pub use quota::QuotaConfig;
use raw::RawConfig;
pub(crate) use records::RecordsConfig;
pub(crate) use upstream::UpstreamConfig;
pub(crate) use webhook::{WebhookConfig, WebhookFormat};

/// The environment variable naming the config file when `--config` is not given.
pub(crate) const CONFIG_ENV: &str = "BEDROCK_GATE_CONFIG";
/// The prefix of environment overrides.
pub(crate) const ENV_PREFIX: &str = "BEDROCK_GATE_";

/// A configuration problem: which key, and what is wrong with it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration key `{key}`: {message}")]
pub struct ConfigError {
    /// The dotted key (`proxy.listen`), or the file or variable that could not be read.
    pub(crate) key: String,
    /// What is wrong.
    pub(crate) message: String,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

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
    /// Email notifications.
    pub(crate) email: EmailConfig,
    /// The CloudTrail/IAM backstop.
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "read by the CloudTrail/IAM backstop, not built yet"
        )
    )]
    pub(crate) iam: IamConfig,
    /// Retention of per-call records.
    pub(crate) records: RecordsConfig,
    /// What `/metrics` labels its series with.
    pub metrics: MetricsConfig,
    /// Where events are posted.
    pub(crate) webhooks: Vec<WebhookConfig>,
}

impl Config {
    /// Loads the configuration: `path`, else `$BEDROCK_GATE_CONFIG`, else defaults; then
    /// the environment overrides; then validation.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let from_env = env
            .iter()
            .find(|(k, _)| k == CONFIG_ENV)
            .map(|(_, v)| PathBuf::from(v));
        let path = path.map(Path::to_path_buf).or(from_env);
        let text = match &path {
            Some(p) => Some(std::fs::read_to_string(p).map_err(|e| {
                ConfigError::new(p.display().to_string(), format!("cannot read file: {e}"))
            })?),
            None => None,
        };
        let raw = RawConfig::parse(text.as_deref(), &env)?;
        Self::from_raw(raw)
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
            email: EmailConfig::from_raw(raw.email.unwrap_or_default())?,
            iam: IamConfig::from_raw(raw.iam.unwrap_or_default()),
            records: RecordsConfig::from_raw(raw.records.unwrap_or_default())?,
            metrics: MetricsConfig::from_raw(raw.metrics.unwrap_or_default())?,
            webhooks: raw
                .webhook
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(n, w)| WebhookConfig::from_raw(n, w))
                .collect::<Result<_, _>>()?,
        })
    }
}

#[cfg(test)]
mod tests;

//! The configuration as written: every key optional, unknown keys rejected. Environment
//! overrides (`BEDROCK_GATE_<SECTION>__<KEY>`) are merged into the parsed TOML before it
//! is deserialised, so a bad override is reported exactly like a bad key in the file.

use serde::Deserialize;

use super::{ConfigError, CONFIG_ENV, ENV_PREFIX};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `[proxy]`
    pub(crate) proxy: Option<RawProxy>,
    /// `[admin]`
    pub(crate) admin: Option<RawAdmin>,
    /// `[upstream]`
    pub(crate) upstream: Option<RawUpstream>,
    /// `[database]`
    pub(crate) database: Option<RawDatabase>,
    /// `[quota]`
    pub(crate) quota: Option<RawQuota>,
    /// `[ratelimit]`
    pub(crate) ratelimit: Option<RawRateLimit>,
    /// `[email]`
    pub(crate) email: Option<RawEmail>,
    /// `[iam]`
    pub(crate) iam: Option<RawIam>,
    /// `[records]`
    pub(crate) records: Option<RawRecords>,
    /// `[metrics]`
    pub(crate) metrics: Option<RawMetrics>,
    /// `[log]`
    pub(crate) log: Option<RawLog>,
    /// `[[webhook]]`
    pub(crate) webhook: Option<Vec<RawWebhook>>,
    /// `[oidc]`
    pub(crate) oidc: Option<super::oidc::RawOidc>,
}

/// `[proxy]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProxy {
    pub(crate) listen: Option<String>,
    pub(crate) tls_cert: Option<String>,
    pub(crate) tls_key: Option<String>,
    pub(crate) max_body_bytes: Option<u64>,
    pub(crate) shutdown_grace_secs: Option<u64>,
    pub(crate) workers: Option<u64>,
    pub(crate) state_dir: Option<String>,
    pub(crate) journal: Option<String>,
    pub(crate) max_connections: Option<u64>,
    pub(crate) max_pending_body_bytes: Option<u64>,
    pub(crate) idle_timeout_secs: Option<u64>,
    pub(crate) header_timeout_secs: Option<u64>,
    pub(crate) body_timeout_secs: Option<u64>,
    pub(crate) min_body_bytes_per_sec: Option<u64>,
}

/// `[admin]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmin {
    pub(crate) listen: Option<String>,
    pub(crate) session_hours: Option<u64>,
    pub(crate) cookie_secure: Option<bool>,
    pub(crate) public_url: Option<String>,
}

/// `[upstream]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUpstream {
    pub(crate) region: Option<String>,
    pub(crate) endpoint: Option<String>,
    pub(crate) timeout_secs: Option<u64>,
}

/// `[database]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDatabase {
    pub(crate) url: Option<String>,
    pub(crate) max_connections: Option<u64>,
    pub(crate) master_key: Option<String>,
    pub(crate) master_key_file: Option<String>,
}

/// `[quota]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQuota {
    pub(crate) timezone: Option<String>,
    pub(crate) default_daily_requests: Option<u64>,
    pub(crate) default_monthly_requests: Option<u64>,
    pub(crate) warning_percent: Option<u8>,
    pub(crate) warning_thresholds: Option<Vec<u8>>,
    pub(crate) default_max_output_tokens: Option<u64>,
    pub(crate) fallback_usd_per_1k_input: Option<f64>,
    pub(crate) fallback_usd_per_1k_output: Option<f64>,
    pub(crate) store_timeout_ms: Option<u64>,
    pub(crate) on_store_outage: Option<String>,
    pub(crate) outage_allowance_requests: Option<u64>,
    pub(crate) outage_allowance_usd: Option<f64>,
    pub(crate) lease_secs: Option<u64>,
}

/// `[ratelimit]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRateLimit {
    pub(crate) user_rpm: Option<u64>,
    pub(crate) user_tpm: Option<u64>,
    pub(crate) user_max_concurrent: Option<u64>,
    pub(crate) team_rpm: Option<u64>,
    pub(crate) team_tpm: Option<u64>,
    pub(crate) team_max_concurrent: Option<u64>,
    pub(crate) proxies: Option<u64>,
}

/// `[email]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEmail {
    pub(crate) smtp_url: Option<String>,
    pub(crate) from: Option<String>,
    pub(crate) admins: Option<Vec<String>>,
    pub(crate) language: Option<String>,
}

/// `[iam]`
/// `[[webhook]]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebhook {
    pub(crate) url: Option<String>,
    pub(crate) events: Option<Vec<String>>,
    pub(crate) format: Option<String>,
    pub(crate) secret: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIam {
    pub(crate) enabled: Option<bool>,
    pub(crate) endpoint_url: Option<String>,
    pub(crate) deny_policy_name: Option<String>,
    pub(crate) reconcile_secs: Option<u64>,
    pub(crate) allowed_model_arns: Option<Vec<String>>,
    pub(crate) direct_call_usd: Option<f64>,
    pub(crate) proxy_principal_arns: Option<Vec<String>>,
}

/// `[records]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRecords {
    pub(crate) retention_days: Option<u64>,
}

/// `[metrics]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetrics {
    pub(crate) per_user: Option<bool>,
    pub(crate) max_users: Option<u64>,
}

/// `[log]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLog {
    pub(crate) format: Option<String>,
    pub(crate) level: Option<String>,
    pub(crate) access: Option<bool>,
}

impl RawConfig {
    /// Parses the file text (if any) and merges the environment overrides in `env`.
    pub fn parse(text: Option<&str>, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let mut table = match text {
            Some(t) => t.parse::<toml::Table>().map_err(|e| {
                let (line, col) = e
                    .span()
                    .map_or((1, 1), |s| super::origin::line_column(t, s.start));
                ConfigError::file(
                    format!("{line}:{col}"),
                    format!(
                        "not valid TOML: {}",
                        e.message().trim().lines().collect::<Vec<_>>().join("; ")
                    ),
                )
            })?,
            None => toml::Table::new(),
        };
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if name == CONFIG_ENV || name == super::origin::DEFAULT_CONFIG_PATH_ENV {
                continue;
            }
            let Some((section, key)) = rest.split_once("__") else {
                return Err(ConfigError::new(
                    name.as_str(),
                    "environment overrides look like BEDROCK_GATE_<SECTION>__<KEY>",
                ));
            };
            let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
            let entry = table
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(section_table) = entry else {
                return Err(ConfigError::new(section, "must be a table"));
            };
            section_table.insert(key, env_value(value));
        }
        let value = toml::Value::Table(table);
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            let hint = did_you_mean(&inner);
            match unknown_field(&inner) {
                Some(field) if path == "." || path == field => {
                    ConfigError::new(field, format!("unknown section{hint}"))
                }
                // serde_path_to_error's path already ends with the unknown key.
                Some(_) => ConfigError::new(path, format!("unknown key{hint}")),
                None => ConfigError::new(path, inner.trim().to_string()),
            }
        })
    }
}

/// An override's value: a TOML scalar or array if it parses as one, else a string.
fn env_value(text: &str) -> toml::Value {
    format!("v = {text}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

/// `; did you mean `y`?` when one of the names serde's "unknown field `x`, expected
/// one of `a`, `b`" message lists is close to `x` (as clap suggests flags), else "".
fn did_you_mean(message: &str) -> String {
    let Some(field) = unknown_field(message) else {
        return String::new();
    };
    let Some((_, expected)) = message.split_once("expected ") else {
        return String::new();
    };
    // The names are the quoted parts: every second piece between backticks.
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|name| (strsim::jaro_winkler(&field, name), name))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| format!("; did you mean `{name}`?"))
        .unwrap_or_default()
}

/// The field name in serde's "unknown field `x`, expected ..." message.
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_string())
}

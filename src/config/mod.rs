//! Configuration: the TOML file, `BEDROCK_GATE_<SECTION>__<KEY>` environment overrides and
//! built-in defaults, turned into a validated, typed [`Config`] before anything starts.
//!
//! Loading happens in two steps, as in rust-rpxy: [`raw::RawConfig`] mirrors the file
//! (every key optional, unknown keys rejected), and [`Config::from_raw`] checks each value
//! and fills in defaults. Every error names the key and what is wrong with it.

pub mod raw;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use raw::RawConfig;

/// The environment variable naming the config file when `--config` is not given.
pub const CONFIG_ENV: &str = "BEDROCK_GATE_CONFIG";
/// The prefix of environment overrides.
pub const ENV_PREFIX: &str = "BEDROCK_GATE_";

/// A configuration problem: which key, and what is wrong with it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration key `{key}`: {message}")]
pub struct ConfigError {
    /// The dotted key (`proxy.listen`), or the file or variable that could not be read.
    pub key: String,
    /// What is wrong.
    pub message: String,
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
    pub proxy: ProxyConfig,
    /// The admin listener.
    pub admin: AdminConfig,
    /// Where allowed calls go.
    pub upstream: UpstreamConfig,
    /// The database.
    pub database: DatabaseConfig,
    /// Quota defaults and calendar.
    pub quota: QuotaConfig,
    /// Email notifications.
    pub email: EmailConfig,
    /// The CloudTrail/IAM backstop.
    pub iam: IamConfig,
}

/// `[proxy]`
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Where tools send their Bedrock runtime calls.
    pub listen: SocketAddr,
    /// PEM certificate chain and key; both set means HTTPS.
    pub tls: Option<TlsFiles>,
    /// Larger request bodies get 413.
    pub max_body_bytes: usize,
    /// How long `serve` waits for in-flight calls on shutdown.
    pub shutdown_grace: Duration,
    /// Proxy worker threads (`proxy.workers`; 0 in the file means one per CPU).
    pub workers: usize,
}

/// A certificate chain and its private key, both PEM.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// `[admin]`
#[derive(Clone, Debug)]
pub struct AdminConfig {
    /// Dashboard, admin API, metrics and health checks.
    pub listen: SocketAddr,
}

/// `[upstream]`
#[derive(Clone, Debug)]
pub struct UpstreamConfig {
    /// Region of the Bedrock runtime; also the region callers must sign for.
    pub region: String,
    /// Base URL of the Bedrock runtime, `{region}` already substituted.
    pub endpoint: http::Uri,
    /// Whole-call limit, streams included.
    pub timeout: Duration,
}

/// Which database engine a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseKind {
    /// Embedded SQLite.
    Sqlite,
    /// MySQL, MariaDB or Aurora.
    MySql,
}

/// `[database]`
#[derive(Clone, Debug)]
pub struct DatabaseConfig {
    /// The sqlx URL.
    pub url: String,
    /// Engine named by the URL.
    pub kind: DatabaseKind,
    /// Pool size.
    pub max_connections: u32,
    /// Where the master key that encrypts SigV4 secrets comes from.
    pub master_key: MasterKeySource,
}

/// Where the master key (32 bytes, AES-256-GCM) comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MasterKeySource {
    /// Given inline (base64) in the config or environment.
    Inline(String),
    /// Read from a file that must exist.
    File(PathBuf),
    /// Read from a file next to the SQLite database, created (mode 0600) if absent.
    FileOrGenerate(PathBuf),
    /// An in-memory SQLite database: a fresh key per process.
    Ephemeral,
}

/// `[quota]`
#[derive(Clone, Debug)]
pub struct QuotaConfig {
    /// Days and months begin at 00:00 here.
    pub timezone: chrono_tz::Tz,
    /// For users created without their own daily request limit.
    pub default_daily_requests: Option<u64>,
    /// For users created without their own monthly request limit.
    pub default_monthly_requests: Option<u64>,
    /// Share of a limit at which a warning goes out.
    pub warning_percent: u8,
    /// Output tokens a budget reservation assumes when a request sets no maximum.
    pub default_max_output_tokens: u64,
    /// Price (USD per 1,000 input, output tokens) for models without one; `None`
    /// refuses calls to unpriced models from users with a budget.
    pub fallback_price: Option<(f64, f64)>,
}

/// `[email]`
#[derive(Clone, Debug)]
pub struct EmailConfig {
    /// lettre SMTP URL; `None` means no email.
    pub smtp_url: Option<String>,
    /// Sender address.
    pub from: Option<String>,
    /// Who gets blocking alerts and summaries.
    pub admins: Vec<String>,
    /// Default template language.
    pub language: Language,
}

pub use crate::domain::Language;

/// `[iam]`
#[derive(Clone, Debug)]
pub struct IamConfig {
    /// Whether the CloudTrail/IAM backstop runs.
    pub enabled: bool,
    /// A local IAM emulator, for tests.
    pub endpoint_url: Option<String>,
    /// The inline deny policy put on blocked IAM users.
    pub deny_policy_name: String,
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

    /// Validates a raw configuration and fills in defaults.
    pub fn from_raw(raw: RawConfig) -> Result<Self, ConfigError> {
        let p = raw.proxy.unwrap_or_default();
        let listen = parse_addr("proxy.listen", p.listen.as_deref(), "127.0.0.1:8080")?;
        let tls = match (p.tls_cert, p.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => {
                for (k, f) in [("proxy.tls_cert", &cert), ("proxy.tls_key", &key)] {
                    if !Path::new(f).is_file() {
                        return Err(ConfigError::new(k, format!("file `{f}` does not exist")));
                    }
                }
                Some(TlsFiles {
                    cert: cert.into(),
                    key: key.into(),
                })
            }
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "proxy.tls_key",
                    "must be set when proxy.tls_cert is set",
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "proxy.tls_cert",
                    "must be set when proxy.tls_key is set",
                ))
            }
        };
        let max_body_bytes = positive("proxy.max_body_bytes", p.max_body_bytes, 26_214_400)?;
        let shutdown_grace = Duration::from_secs(positive(
            "proxy.shutdown_grace_secs",
            p.shutdown_grace_secs,
            60,
        )?);

        let workers = match p.workers.unwrap_or(0) {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n if n <= 1024 => n as usize,
            n => {
                return Err(ConfigError::new(
                    "proxy.workers",
                    format!("{n} is more than 1024 threads"),
                ))
            }
        };

        let a = raw.admin.unwrap_or_default();
        let admin_listen = parse_addr("admin.listen", a.listen.as_deref(), "127.0.0.1:8081")?;

        let u = raw.upstream.unwrap_or_default();
        let region = u.region.unwrap_or_else(|| "eu-west-1".to_string());
        if region.is_empty()
            || !region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(ConfigError::new(
                "upstream.region",
                format!("`{region}` is not an AWS region name (like eu-west-1)"),
            ));
        }
        let endpoint_text = u
            .endpoint
            .unwrap_or_else(|| "https://bedrock-runtime.{region}.amazonaws.com".to_string())
            .replace("{region}", &region);
        let endpoint = parse_endpoint(&endpoint_text)?;
        let timeout = Duration::from_secs(positive("upstream.timeout_secs", u.timeout_secs, 600)?);

        let d = raw.database.unwrap_or_default();
        let url = d
            .url
            .unwrap_or_else(|| "sqlite://bedrock-gate.db?mode=rwc".to_string());
        let kind = if url.starts_with("sqlite:") {
            DatabaseKind::Sqlite
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            DatabaseKind::MySql
        } else {
            return Err(ConfigError::new(
                "database.url",
                "must start with sqlite: or mysql:",
            ));
        };
        let url = url.replacen("mariadb:", "mysql:", 1);
        let max_connections = positive("database.max_connections", d.max_connections, 8)?;
        let master_key =
            match (d.master_key, d.master_key_file) {
                (Some(_), Some(_)) => {
                    return Err(ConfigError::new(
                        "database.master_key",
                        "set either master_key or master_key_file, not both",
                    ))
                }
                (Some(k), None) => MasterKeySource::Inline(k),
                (None, Some(f)) => MasterKeySource::File(f.into()),
                (None, None) => match kind {
                    DatabaseKind::MySql => return Err(ConfigError::new(
                        "database.master_key",
                        "a MySQL database needs database.master_key or database.master_key_file, \
                         the same on every proxy",
                    )),
                    DatabaseKind::Sqlite => match sqlite_file(&url) {
                        Some(db) => {
                            let mut name = db.into_os_string();
                            name.push(".key");
                            MasterKeySource::FileOrGenerate(PathBuf::from(name))
                        }
                        None => MasterKeySource::Ephemeral,
                    },
                },
            };

        let q = raw.quota.unwrap_or_default();
        let tz_name = q.timezone.unwrap_or_else(|| "CET".to_string());
        let timezone: chrono_tz::Tz = tz_name.parse().map_err(|_| {
            ConfigError::new(
                "quota.timezone",
                format!("`{tz_name}` is not an IANA time zone"),
            )
        })?;
        let warning_percent = q.warning_percent.unwrap_or(80);
        if !(1..=100).contains(&warning_percent) {
            return Err(ConfigError::new(
                "quota.warning_percent",
                "must be between 1 and 100",
            ));
        }

        let default_max_output_tokens = positive(
            "quota.default_max_output_tokens",
            q.default_max_output_tokens,
            4096,
        )?;
        let fallback_price = match (q.fallback_usd_per_1k_input, q.fallback_usd_per_1k_output) {
            (None, None) => None,
            (Some(i), Some(o)) if i.is_finite() && o.is_finite() && i >= 0.0 && o >= 0.0 => {
                Some((i, o))
            }
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "quota.fallback_usd_per_1k_input",
                    "fallback prices must be numbers >= 0",
                ))
            }
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "quota.fallback_usd_per_1k_output",
                    "must be set with quota.fallback_usd_per_1k_input",
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "quota.fallback_usd_per_1k_input",
                    "must be set with quota.fallback_usd_per_1k_output",
                ))
            }
        };

        let e = raw.email.unwrap_or_default();
        let language = match e.language.as_deref() {
            None => Language::En,
            Some(l) => Language::parse(l).ok_or_else(|| {
                ConfigError::new("email.language", format!("`{l}` is not `en` or `es`"))
            })?,
        };
        if e.smtp_url.is_some() && e.from.is_none() {
            return Err(ConfigError::new(
                "email.from",
                "required when email.smtp_url is set",
            ));
        }
        if let Some(url) = &e.smtp_url {
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                return Err(ConfigError::new(
                    "email.smtp_url",
                    "must start with smtp:// or smtps://",
                ));
            }
        }
        for addr in e.admins.iter().flatten().chain(e.from.iter()) {
            if !addr.contains('@') {
                return Err(ConfigError::new(
                    "email.admins",
                    format!("`{addr}` is not an email address"),
                ));
            }
        }

        let i = raw.iam.unwrap_or_default();
        Ok(Config {
            proxy: ProxyConfig {
                listen,
                tls,
                max_body_bytes: usize::try_from(max_body_bytes).map_err(|_| {
                    ConfigError::new("proxy.max_body_bytes", "too large for this machine")
                })?,
                shutdown_grace,
                workers,
            },
            admin: AdminConfig {
                listen: admin_listen,
            },
            upstream: UpstreamConfig {
                region,
                endpoint,
                timeout,
            },
            database: DatabaseConfig {
                url,
                kind,
                max_connections: u32::try_from(max_connections)
                    .map_err(|_| ConfigError::new("database.max_connections", "too large"))?,
                master_key,
            },
            quota: QuotaConfig {
                timezone,
                default_daily_requests: q.default_daily_requests.or(Some(350)).filter(|v| *v > 0),
                default_monthly_requests: q
                    .default_monthly_requests
                    .or(Some(5000))
                    .filter(|v| *v > 0),
                warning_percent,
                default_max_output_tokens,
                fallback_price,
            },
            email: EmailConfig {
                smtp_url: e.smtp_url,
                from: e.from,
                admins: e.admins.unwrap_or_default(),
                language,
            },
            iam: IamConfig {
                enabled: i.enabled.unwrap_or(false),
                endpoint_url: i.endpoint_url,
                deny_policy_name: i
                    .deny_policy_name
                    .unwrap_or_else(|| "BedrockGateDeny".to_string()),
            },
        })
    }
}

fn parse_addr(key: &str, value: Option<&str>, default: &str) -> Result<SocketAddr, ConfigError> {
    let v = value.unwrap_or(default);
    v.parse().map_err(|_| {
        ConfigError::new(
            key,
            format!("`{v}` is not an address with a port (like 127.0.0.1:8080)"),
        )
    })
}

fn positive(key: &str, value: Option<u64>, default: u64) -> Result<u64, ConfigError> {
    match value.unwrap_or(default) {
        0 => Err(ConfigError::new(key, "must be greater than zero")),
        v => Ok(v),
    }
}

fn parse_endpoint(text: &str) -> Result<http::Uri, ConfigError> {
    let bad = |why: &str| ConfigError::new("upstream.endpoint", format!("`{text}` {why}"));
    let uri: http::Uri = text.parse().map_err(|_| bad("is not a URL"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(bad("must start with http:// or https://")),
    }
    if uri.host().is_none() {
        return Err(bad("has no host"));
    }
    if uri.path() != "/" && !uri.path().is_empty() {
        return Err(bad("must not have a path"));
    }
    Ok(uri)
}

/// The file behind a `sqlite:` URL, or `None` for an in-memory database.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() || path == ":memory:" || url.contains("mode=memory") {
        None
    } else {
        Some(PathBuf::from(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_raw(RawConfig::parse(Some(text), &env)?)
    }

    #[test]
    fn defaults_need_no_file() {
        let c = Config::from_raw(RawConfig::parse(None, &[]).unwrap()).unwrap();
        assert_eq!(c.proxy.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.admin.listen.to_string(), "127.0.0.1:8081");
        assert_eq!(c.proxy.max_body_bytes, 26_214_400);
        assert_eq!(
            c.upstream.endpoint.to_string(),
            "https://bedrock-runtime.eu-west-1.amazonaws.com/"
        );
        assert_eq!(c.database.kind, DatabaseKind::Sqlite);
        assert_eq!(
            c.database.master_key,
            MasterKeySource::FileOrGenerate("bedrock-gate.db.key".into())
        );
        assert_eq!(c.quota.timezone, chrono_tz::Tz::CET);
        assert_eq!(c.quota.default_daily_requests, Some(350));
    }

    #[test]
    fn environment_overrides_the_file() {
        let c = load(
            "[upstream]\nregion = \"us-east-1\"\n",
            &[
                ("BEDROCK_GATE_UPSTREAM__REGION", "eu-central-1"),
                ("BEDROCK_GATE_PROXY__MAX_BODY_BYTES", "1024"),
                ("BEDROCK_GATE_EMAIL__ADMINS", "[\"a@x.io\"]"),
            ],
        )
        .unwrap();
        assert_eq!(c.upstream.region, "eu-central-1");
        assert_eq!(c.proxy.max_body_bytes, 1024);
        assert_eq!(c.email.admins, vec!["a@x.io".to_string()]);
    }

    #[test]
    fn errors_name_the_key() {
        let e = load("[proxy]\nlisten = \"nowhere\"\n", &[]).unwrap_err();
        assert_eq!(e.key, "proxy.listen");
        let e = load("[proxy]\nlisen = \"1.2.3.4:5\"\n", &[]).unwrap_err();
        assert_eq!(e.key, "proxy.lisen", "{e}");
        assert_eq!(e.message, "unknown key");
        let e = load("[proxyy]\nlisten = \"1.2.3.4:5\"\n", &[]).unwrap_err();
        assert_eq!(
            (e.key.as_str(), e.message.as_str()),
            ("proxyy", "unknown section")
        );
        let e = load("[quota]\ntimezone = \"Mars/Olympus\"\n", &[]).unwrap_err();
        assert_eq!(e.key, "quota.timezone");
        let e = load("[proxy]\nmax_body_bytes = \"big\"\n", &[]).unwrap_err();
        assert_eq!(e.key, "proxy.max_body_bytes", "{e}");
        let e = load("", &[("BEDROCK_GATE_PROXY__NOPE", "1")]).unwrap_err();
        assert_eq!(e.key, "proxy.nope", "{e}");
        let e = load("[database]\nurl = \"mysql://root@localhost/x\"\n", &[]).unwrap_err();
        assert_eq!(e.key, "database.master_key");
        let e = load("[email]\nsmtp_url = \"smtp://127.0.0.1:25\"\n", &[]).unwrap_err();
        assert_eq!(e.key, "email.from");
        let e = load("[upstream]\nendpoint = \"ftp://x\"\n", &[]).unwrap_err();
        assert_eq!(e.key, "upstream.endpoint");
        let e = load("[upstream]\ntimeout_secs = 0\n", &[]).unwrap_err();
        assert_eq!(e.key, "upstream.timeout_secs");
        let e = load("not toml [", &[]).unwrap_err();
        assert!(e.message.contains("TOML"), "{e}");
        let e = load("[proxy]\nworkers = 5000\n", &[]).unwrap_err();
        assert_eq!(e.key, "proxy.workers", "{e}");
        let e = load("[proxy]\nworkers = -1\n", &[]).unwrap_err();
        assert_eq!(e.key, "proxy.workers", "{e}");
    }

    #[test]
    fn workers_default_to_one_per_core() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(load("", &[]).unwrap().proxy.workers, cores);
        assert_eq!(
            load("[proxy]\nworkers = 0\n", &[]).unwrap().proxy.workers,
            cores
        );
        assert_eq!(
            load("[proxy]\nworkers = 3\n", &[]).unwrap().proxy.workers,
            3
        );
        let c = load("", &[("BEDROCK_GATE_PROXY__WORKERS", "1")]).unwrap();
        assert_eq!(c.proxy.workers, 1);
    }

    #[test]
    fn the_example_file_is_valid_and_states_the_defaults() {
        let text = include_str!("../../config/bedrock-gate.example.toml");
        let c = load(text, &[]).unwrap();
        let d = Config::from_raw(RawConfig::parse(None, &[]).unwrap()).unwrap();
        assert_eq!(c.proxy.listen, d.proxy.listen);
        assert_eq!(c.proxy.max_body_bytes, d.proxy.max_body_bytes);
        assert_eq!(c.proxy.shutdown_grace, d.proxy.shutdown_grace);
        assert_eq!(c.upstream.endpoint, d.upstream.endpoint);
        assert_eq!(c.upstream.timeout, d.upstream.timeout);
        assert_eq!(c.database.url, d.database.url);
        assert_eq!(
            c.quota.default_monthly_requests,
            d.quota.default_monthly_requests
        );
        assert_eq!(c.iam.deny_policy_name, d.iam.deny_policy_name);
    }

    #[test]
    fn sqlite_file_names() {
        assert_eq!(
            sqlite_file("sqlite://bedrock-gate.db?mode=rwc"),
            Some(PathBuf::from("bedrock-gate.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:///var/lib/bg/db.sqlite"),
            Some(PathBuf::from("/var/lib/bg/db.sqlite"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
    }
}

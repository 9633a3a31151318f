//! The configuration in effect as `config show` prints it: every key with its value
//! (passwords and keys masked) and where the value came from (built-in default, the
//! file, or an environment variable).

use serde::Serialize;
use serde_json::{json, Value};

use super::{Config, MasterKeySource, Source};

/// One key of the effective configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Entry {
    /// `section.key`.
    pub(crate) key: &'static str,
    /// The value in effect (secrets masked); `null` when unset.
    pub(crate) value: Value,
    /// `default`, `file` or `env:VARIABLE`.
    pub(crate) source: String,
}

/// `config show`: the file read (and why) and every key.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Shown {
    /// The file read, if any.
    pub(crate) file: Option<String>,
    /// `--config`, `$BEDROCK_GATE_CONFIG`, `default path`, or `none` (built-in defaults).
    pub(crate) file_chosen_by: &'static str,
    /// Every key, in file order.
    pub(crate) keys: Vec<Entry>,
}

/// A URL with its password replaced by `***`.
pub(crate) fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl Config {
    /// The configuration in effect, secrets masked, with each value's source.
    pub(crate) fn shown(&self) -> Shown {
        let d = &self.database;
        let (key_name, key_value) = match &d.master_key {
            MasterKeySource::Inline(_) => ("database.master_key", json!("*** (set)")),
            MasterKeySource::File(p) => {
                ("database.master_key_file", json!(p.display().to_string()))
            }
            MasterKeySource::FileOrGenerate(p) => (
                "database.master_key_file",
                json!(format!("{} (next to the SQLite file)", p.display())),
            ),
            MasterKeySource::Ephemeral => ("database.master_key", json!("(per process)")),
        };
        let q = &self.quota;
        let r = &self.ratelimit;
        let e = &self.email;
        let path = |p: &std::path::Path| json!(p.display().to_string());
        let values: Vec<(&'static str, Value)> = vec![
            ("proxy.listen", json!(self.proxy.listen.to_string())),
            (
                "proxy.tls_cert",
                json!(self.proxy.tls.as_ref().map(|t| path(&t.cert))),
            ),
            (
                "proxy.tls_key",
                json!(self.proxy.tls.as_ref().map(|t| path(&t.key))),
            ),
            ("proxy.max_body_bytes", json!(self.proxy.max_body_bytes)),
            (
                "proxy.shutdown_grace_secs",
                json!(self.proxy.shutdown_grace.as_secs()),
            ),
            ("proxy.workers", json!(self.proxy.workers)),
            (
                "proxy.state_dir",
                json!(self.proxy.state_dir.as_deref().map(path)),
            ),
            ("proxy.journal", json!(self.proxy.journal.as_str())),
            (
                "proxy.max_connections",
                json!(self.proxy.limits.max_connections),
            ),
            (
                "proxy.max_pending_body_bytes",
                json!(self.proxy.limits.max_pending_body_bytes),
            ),
            (
                "proxy.idle_timeout_secs",
                json!(self.proxy.limits.idle_timeout.as_secs()),
            ),
            (
                "proxy.header_timeout_secs",
                json!(self.proxy.limits.header_timeout.as_secs()),
            ),
            (
                "proxy.body_timeout_secs",
                json!(self.proxy.limits.body_timeout.as_secs()),
            ),
            (
                "proxy.min_body_bytes_per_sec",
                json!(self.proxy.limits.min_body_bytes_per_sec),
            ),
            ("admin.listen", json!(self.admin.listen.to_string())),
            (
                "admin.session_hours",
                json!(self.admin.session_ttl.as_secs() / 3600),
            ),
            ("admin.cookie_secure", json!(self.admin.cookie_secure)),
            ("upstream.region", json!(self.upstream.region)),
            (
                "upstream.endpoint",
                json!(self.upstream.endpoint.to_string()),
            ),
            (
                "upstream.timeout_secs",
                json!(self.upstream.timeout.as_secs()),
            ),
            ("database.url", json!(mask_url(&d.url))),
            ("database.max_connections", json!(d.max_connections)),
            (key_name, key_value),
            ("quota.timezone", json!(q.timezone.name())),
            (
                "quota.default_daily_requests",
                json!(q.default_daily_requests.unwrap_or(0)),
            ),
            (
                "quota.default_monthly_requests",
                json!(q.default_monthly_requests.unwrap_or(0)),
            ),
            ("quota.warning_thresholds", json!(q.warning_thresholds)),
            (
                "quota.default_max_output_tokens",
                json!(q.default_max_output_tokens),
            ),
            (
                "quota.fallback_usd_per_1k_input",
                json!(q.fallback_price.map(|p| p.0)),
            ),
            (
                "quota.fallback_usd_per_1k_output",
                json!(q.fallback_price.map(|p| p.1)),
            ),
            ("ratelimit.user_rpm", json!(r.user.rpm)),
            ("ratelimit.user_tpm", json!(r.user.tpm)),
            (
                "ratelimit.user_max_concurrent",
                json!(r.user.max_concurrent),
            ),
            ("ratelimit.team_rpm", json!(r.team.rpm)),
            ("ratelimit.team_tpm", json!(r.team.tpm)),
            (
                "ratelimit.team_max_concurrent",
                json!(r.team.max_concurrent),
            ),
            ("ratelimit.proxies", json!(r.proxies)),
            (
                "email.smtp_url",
                json!(e.smtp.as_ref().map(|u| mask_url(&u.0))),
            ),
            ("email.from", json!(e.from.as_ref().map(|m| m.to_string()))),
            (
                "email.admins",
                json!(e.admins.iter().map(|m| m.to_string()).collect::<Vec<_>>()),
            ),
            (
                "quota.store_timeout_ms",
                json!(q.store_timeout.as_millis() as u64),
            ),
            (
                "quota.on_store_outage",
                json!(match q.on_store_outage {
                    super::OnStoreOutage::Refuse => "refuse",
                    super::OnStoreOutage::Allow { .. } => "allow",
                }),
            ),
            (
                "quota.outage_allowance_requests",
                json!(match q.on_store_outage {
                    super::OnStoreOutage::Allow { requests, .. } => Some(requests),
                    super::OnStoreOutage::Refuse => None,
                }),
            ),
            (
                "quota.outage_allowance_usd",
                json!(match q.on_store_outage {
                    super::OnStoreOutage::Allow { micro_usd, .. } => {
                        Some(micro_usd as f64 / 1_000_000.0)
                    }
                    super::OnStoreOutage::Refuse => None,
                }),
            ),
            ("email.language", json!(e.language)),
            ("iam.enabled", json!(self.iam.enabled)),
            ("iam.endpoint_url", json!(self.iam.endpoint_url)),
            ("iam.deny_policy_name", json!(self.iam.deny_policy_name)),
            ("iam.reconcile_secs", json!(self.iam.reconcile.as_secs())),
            ("iam.allowed_model_arns", json!(self.iam.allowed_model_arns)),
            ("iam.direct_call_usd", json!(self.iam.direct_call_usd)),
            (
                "iam.proxy_principal_arns",
                json!(self.iam.proxy_principal_arns),
            ),
            ("records.retention_days", json!(self.records.retention_days)),
            ("metrics.per_user", json!(self.metrics.per_user)),
            ("metrics.max_users", json!(self.metrics.max_users)),
            (
                "log.format",
                json!(format!("{:?}", self.log.format).to_lowercase()),
            ),
            ("log.level", json!(self.log.level)),
            ("log.access", json!(self.log.access)),
            // Webhook URLs may carry tokens (Slack's do): only how many are set.
            (
                "webhook",
                json!(format!("{} configured", self.webhooks.len())),
            ),
        ];
        let keys = values
            .into_iter()
            .map(|(key, value)| Entry {
                key,
                value,
                source: match self.origin.source(key) {
                    Source::Default => "default".into(),
                    Source::File => "file".into(),
                    Source::Env(var) => format!("env:{var}"),
                },
            })
            .collect();
        Shown {
            file: self
                .origin
                .file
                .as_ref()
                .map(|f| f.path.display().to_string()),
            file_chosen_by: self.origin.file.as_ref().map_or("none", |f| f.chosen_by),
            keys,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::RawConfig;

    #[test]
    fn secrets_are_masked() {
        assert_eq!(
            mask_url("mysql://gate:s3cret@db:3306/gate?x=1"),
            "mysql://gate:***@db:3306/gate?x=1"
        );
        assert_eq!(
            mask_url("smtps://u:p@smtp.x:465"),
            "smtps://u:***@smtp.x:465"
        );
        assert_eq!(mask_url("sqlite://g.db?mode=rwc"), "sqlite://g.db?mode=rwc");
        let raw = RawConfig::parse(
            Some("[database]\nurl = \"mysql://root:pw@h/db\"\nmaster_key = \"abc\"\n"),
            &[],
        )
        .unwrap();
        let shown = Config::from_raw(raw).unwrap().shown();
        let text = serde_json::to_string(&shown).unwrap();
        assert!(!text.contains("pw@") && !text.contains("abc"), "{text}");
        assert!(text.contains("mysql://root:***@h/db"), "{text}");
    }
}

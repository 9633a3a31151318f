//! Loading a whole configuration: defaults, environment overrides, errors that name the
//! key, worker defaults and the example file.

use super::*;

/// Loads `text` with the environment overrides `env` (shared by the sections' tests).
pub(super) fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
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
    assert_eq!(c.email.admins[0].email.to_string(), "a@x.io");
}

#[test]
fn errors_name_the_key() {
    let e = load("[proxy]\nlisten = \"nowhere\"\n", &[]).unwrap_err();
    assert_eq!(e.key, "proxy.listen");
    let e = load("[proxy]\nlisen = \"1.2.3.4:5\"\n", &[]).unwrap_err();
    assert_eq!(e.key, "proxy.lisen", "{e}");
    assert_eq!(e.message, "unknown key; did you mean `listen`?");
    let e = load("[proxyy]\nlisten = \"1.2.3.4:5\"\n", &[]).unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.message.as_str()),
        ("proxyy", "unknown section; did you mean `proxy`?")
    );
    let e = load("[quota]\ndefault_daly_requests = 5\n", &[]).unwrap_err();
    assert_eq!(
        e.message,
        "unknown key; did you mean `default_daily_requests`?"
    );
    // Nothing close: no suggestion.
    let e = load("[quota]\nzebra = 5\n", &[]).unwrap_err();
    assert_eq!(e.message, "unknown key");
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
    let e = load(
        "[email]\nsmtp_url = \"smtp://127.0.0.1:notaport\"\nfrom = \"g@x.io\"\n",
        &[],
    )
    .unwrap_err();
    assert_eq!(e.key, "email.smtp_url", "{e}");
    let e = load("[email]\nadmins = [\"not an address\"]\n", &[]).unwrap_err();
    assert_eq!(e.key, "email.admins", "{e}");
    let e = load(
        "[quota]\nwarning_percent = 80\nwarning_thresholds = [90]\n",
        &[],
    )
    .unwrap_err();
    assert_eq!(e.key, "quota.warning_thresholds", "{e}");
    let e = load("[quota]\nwarning_thresholds = [80, 0]\n", &[]).unwrap_err();
    assert_eq!(e.key, "quota.warning_thresholds", "{e}");
    let e = load("[[webhook]]\nurl = \"::nope\"\n", &[]).unwrap_err();
    assert_eq!(e.key, "webhook[0].url", "{e}");
    let c = load("[quota]\nwarning_thresholds = [90, 80, 90]\n", &[]).unwrap();
    assert_eq!(c.quota.warning_thresholds, vec![80, 90]);
    let c = load("[email]\nsmtps_url_is_not_a_key = 1\n", &[]).unwrap_err();
    assert_eq!(c.key, "email.smtps_url_is_not_a_key");
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
    // The one intended difference: the service's database by its absolute path.
    assert_eq!(
        c.database.url,
        "sqlite:///var/lib/bedrock-gate/bedrock-gate.db?mode=rwc"
    );
    assert_eq!(d.database.url, "sqlite://bedrock-gate.db?mode=rwc");
    assert_eq!(
        c.quota.default_monthly_requests,
        d.quota.default_monthly_requests
    );
    assert_eq!(c.iam.deny_policy_name, d.iam.deny_policy_name);
    assert_eq!(c.metrics, d.metrics);
    assert_eq!(c.proxy.limits, d.proxy.limits);
    assert_eq!(c.quota.store_timeout, d.quota.store_timeout);
    assert_eq!(d.quota.store_timeout, std::time::Duration::from_secs(2));
    assert_eq!(
        (c.log.format, &c.log.level, c.log.access),
        (d.log.format, &d.log.level, d.log.access)
    );
    assert_eq!(c.oidc, d.oidc);
}

#[test]
fn the_docker_image_config_is_valid() {
    let c = load(include_str!("../../config/docker.toml"), &[]).unwrap();
    assert_eq!(c.proxy.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(c.admin.listen.to_string(), "0.0.0.0:8081");
    assert_eq!(
        crate::config::sqlite_file(&c.database.url),
        Some(std::path::PathBuf::from(
            "/var/lib/bedrock-gate/bedrock-gate.db"
        ))
    );
}

#[test]
fn client_limits_are_validated() {
    let d = load("", &[]).unwrap().proxy.limits;
    assert_eq!(d, ClientLimits::default());
    let c = load(
        "[proxy]\nmax_connections = 5\nidle_timeout_secs = 2\nmax_body_bytes = 1000\n\
         max_pending_body_bytes = 1000\n",
        &[],
    )
    .unwrap()
    .proxy
    .limits;
    assert_eq!(c.max_connections, 5);
    assert_eq!(c.idle_timeout, std::time::Duration::from_secs(2));
    assert_eq!(c.max_pending_body_bytes, 1000);
    // A larger body limit raises the default budget with it.
    let big = load("[proxy]\nmax_body_bytes = 268435456\n", &[]).unwrap();
    assert_eq!(big.proxy.limits.max_pending_body_bytes, 268_435_456);
    let e = load(
        "[proxy]\nmax_body_bytes = 2000\nmax_pending_body_bytes = 1000\n",
        &[],
    )
    .unwrap_err();
    assert_eq!(e.key, "proxy.max_pending_body_bytes", "{e}");
    assert!(e.message.contains("less than proxy.max_body_bytes"), "{e}");
    for key in [
        "max_connections",
        "idle_timeout_secs",
        "header_timeout_secs",
        "body_timeout_secs",
        "min_body_bytes_per_sec",
    ] {
        let e = load(&format!("[proxy]\n{key} = 0\n"), &[]).unwrap_err();
        assert_eq!(e.key, format!("proxy.{key}"), "{e}");
    }
}

#[test]
fn metrics_section_is_validated() {
    let d = load("", &[]).unwrap().metrics;
    assert_eq!(d, MetricsConfig::default());
    assert!(!d.per_user);
    assert_eq!(d.max_users, 100);
    let c = load(
        "[metrics]\nper_user = true\nmax_users = 5\n",
        &[("BEDROCK_GATE_METRICS__MAX_USERS", "7")],
    )
    .unwrap();
    assert!(c.metrics.per_user);
    assert_eq!(c.metrics.max_users, 7);
    let c = load("", &[("BEDROCK_GATE_METRICS__PER_USER", "true")]).unwrap();
    assert!(c.metrics.per_user);
    for bad in [
        "[metrics]\nmax_users = 0\n",
        "[metrics]\nmax_users = 10001\n",
        "[metrics]\nmax_users = -3\n",
        "[metrics]\nmax_users = \"many\"\n",
    ] {
        let e = load(bad, &[]).unwrap_err();
        assert_eq!(e.key, "metrics.max_users", "{bad}: {e}");
    }
    let e = load("[metrics]\nper_user = \"yes\"\n", &[]).unwrap_err();
    assert_eq!(e.key, "metrics.per_user", "{e}");
    let e = load("", &[("BEDROCK_GATE_METRICS__PER_USER", "maybe")]).unwrap_err();
    assert_eq!(e.key, "metrics.per_user", "{e}");
    let e = load("[metrics]\nper_users = true\n", &[]).unwrap_err();
    assert_eq!(e.key, "metrics.per_users", "{e}");
}

#[test]
fn dashboard_sessions_default_to_twelve_hours_and_refuse_nonsense() {
    let c = load("", &[]).unwrap();
    assert_eq!(
        c.admin.session_ttl,
        std::time::Duration::from_secs(12 * 3600)
    );
    assert!(!c.admin.cookie_secure);
    let c = load("[admin]\nsession_hours = 2\ncookie_secure = true\n", &[]).unwrap();
    assert_eq!(
        c.admin.session_ttl,
        std::time::Duration::from_secs(2 * 3600)
    );
    assert!(c.admin.cookie_secure);
    for bad in ["0", "721"] {
        let e = load(&format!("[admin]\nsession_hours = {bad}\n"), &[]).unwrap_err();
        assert!(e.to_string().contains("admin.session_hours"), "{e}");
    }
}

#[test]
fn the_store_outage_mode_and_its_allowance_are_validated() {
    use crate::config::OnStoreOutage;
    assert_eq!(
        load("", &[]).unwrap().quota.on_store_outage,
        OnStoreOutage::Refuse
    );
    let allow = load("[quota]\non_store_outage = \"allow\"\n", &[]).unwrap();
    assert_eq!(
        allow.quota.on_store_outage,
        OnStoreOutage::Allow {
            requests: 20,
            micro_usd: 1_000_000
        }
    );
    let set = load(
        "[quota]\non_store_outage = \"allow\"\noutage_allowance_requests = 5\n\
         outage_allowance_usd = 0.25\n",
        &[],
    )
    .unwrap();
    assert_eq!(
        set.quota.on_store_outage,
        OnStoreOutage::Allow {
            requests: 5,
            micro_usd: 250_000
        }
    );
    for (text, key, says) in [
        (
            "on_store_outage = \"maybe\"",
            "quota.on_store_outage",
            "neither",
        ),
        (
            "outage_allowance_requests = 5",
            "quota.outage_allowance_requests",
            "only with",
        ),
        (
            "on_store_outage = \"refuse\"\noutage_allowance_usd = 1.0",
            "quota.outage_allowance_usd",
            "only with",
        ),
        (
            "on_store_outage = \"allow\"\noutage_allowance_requests = 0",
            "quota.outage_allowance_requests",
            "greater than zero",
        ),
        (
            "on_store_outage = \"allow\"\noutage_allowance_usd = -1.0",
            "quota.outage_allowance_usd",
            ">= 0",
        ),
    ] {
        let e = load(&format!("[quota]\n{text}\n"), &[]).unwrap_err();
        assert_eq!(e.key, key, "{text}: {e}");
        assert!(e.message.contains(says), "{text}: {e}");
    }
}

#[test]
fn quota_lease_secs_is_bounded() {
    let d = load("", &[]).unwrap().quota.lease;
    assert_eq!(d, std::time::Duration::from_secs(30));
    let c = load("[quota]\nlease_secs = 6\n", &[]).unwrap().quota.lease;
    assert_eq!(c, std::time::Duration::from_secs(6));
    for bad in ["0", "5", "3601"] {
        let e = load(&format!("[quota]\nlease_secs = {bad}\n"), &[]).unwrap_err();
        assert_eq!(e.key, "quota.lease_secs", "{e}");
    }
}

#[test]
fn the_journal_defaults_to_write_and_names_its_modes() {
    use super::JournalMode;
    assert_eq!(load("", &[]).unwrap().proxy.journal, JournalMode::Write);
    for (text, mode) in [
        ("fsync", JournalMode::Fsync),
        ("write", JournalMode::Write),
        ("off", JournalMode::Off),
    ] {
        let c = load(&format!("[proxy]\njournal = \"{text}\"\n"), &[]).unwrap();
        assert_eq!(c.proxy.journal, mode);
        assert_eq!(mode.as_str(), text);
    }
    let e = load("[proxy]\njournal = \"sometimes\"\n", &[]).unwrap_err();
    assert_eq!(e.key, "proxy.journal", "{e}");
    assert!(e.to_string().contains("`fsync`, `write`, `off`"), "{e}");
}

//! What `serve` says when it starts: the version, where the database is (a file path or
//! a host, never a password), where it listens, and what is configured, so an operator
//! reading the first lines of the log knows what is running and how to reach it.

use std::net::SocketAddr;

use crate::config::{Config, DatabaseKind};

/// The first line: version and commit.
pub(super) fn log_version() {
    tracing::info!("bedrock-gate {} starting", crate::VERSION);
}

/// The database line, after it was opened and migrated.
pub(super) fn log_database(config: &Config, migrations_applied: usize) {
    tracing::info!(
        database = %database_summary(config),
        migrations_applied,
        "database ready"
    );
}

/// The listeners and what is configured, once both listeners are bound.
pub(super) fn log_serving(config: &Config, proxy: Option<SocketAddr>, admin: Option<SocketAddr>) {
    let scheme = if config.proxy.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let show = |a: Option<SocketAddr>| a.map_or_else(|| "?".to_string(), |a| a.to_string());
    tracing::info!(
        proxy = %format!("{scheme}://{}", show(proxy)),
        admin = %format!("http://{}", show(admin)),
        upstream = %config.upstream.endpoint,
        region = %config.upstream.region,
        "serving: point clients at the proxy address; /healthz, /readyz, /metrics and \
         /api/v1 are on the admin address"
    );
    let email = match config.email.smtp.as_ref().map(|u| u.0.as_str()) {
        Some(url) => format!("smtp to {}", host_of(url)),
        None => "off".to_string(),
    };
    let retention = match config.records.retention_days {
        0 => "forever".to_string(),
        d => format!("{d} days"),
    };
    tracing::info!(
        timezone = %config.quota.timezone,
        email = %email,
        iam_backstop = %if config.iam.enabled { "on (not built yet)" } else { "off" },
        metrics_per_user = config.metrics.per_user,
        record_retention = %retention,
        access_log = config.log.access,
        workers = config.proxy.workers,
        "configured"
    );
}

/// `sqlite /var/lib/bedrock-gate/bedrock-gate.db` or `mysql db.example.com:3306/gate`.
pub(crate) fn database_summary(config: &Config) -> String {
    let url = &config.database.url;
    match config.database.kind {
        DatabaseKind::Sqlite => match crate::config::sqlite_file(url) {
            Some(path) => {
                let shown = std::path::absolute(&path).unwrap_or(path);
                format!("sqlite {}", shown.display())
            }
            None => "sqlite in memory".to_string(),
        },
        DatabaseKind::MySql => format!("mysql {}", host_of(url)),
    }
}

/// The host, port and path of a URL, without its scheme, user, password or query.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    rest.split('?').next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::super::tests::config;
    use super::*;

    #[test]
    fn databases_are_shown_without_passwords() {
        let key = "0000000000000000000000000000000000000000000000000000000000000000";
        let c = config(&format!(
            "[database]\nurl = \"mysql://gate:s3cret@db.example.com:3306/gate?ssl-mode=required\"\nmaster_key = \"{key}\"\n"
        ));
        assert_eq!(database_summary(&c), "mysql db.example.com:3306/gate");
        let c = config("[database]\nurl = \"sqlite:///var/lib/gate/gate.db?mode=rwc\"\n");
        assert_eq!(database_summary(&c), "sqlite /var/lib/gate/gate.db");
        let c = config("[database]\nurl = \"sqlite://gate.db\"\n");
        let shown = database_summary(&c);
        assert!(
            shown.starts_with("sqlite /") && shown.ends_with("/gate.db"),
            "{shown}"
        );
        assert_eq!(
            host_of("smtps://u:p@smtp.example.com:465"),
            "smtp.example.com:465"
        );
    }
}

//! `doctor`: checks what the service needs (database, master key, upstream credentials
//! from the AWS chain, the upstream endpoint, TLS files, SMTP and IAM reachability), each
//! with a deadline, and says what to fix. Exit 1 when a check fails.

use std::time::Duration;

use serde::Serialize;

use super::args::Output;
use super::print;
use super::table::{table, Align, Col};
use crate::config::Config;
use crate::ops::Ops;

/// How long one check may take.
const DEADLINE: Duration = Duration::from_secs(5);

/// One check's outcome.
#[derive(Debug, Serialize)]
struct Check {
    /// What was checked.
    check: &'static str,
    /// `ok`, `failed` or `skipped`.
    status: &'static str,
    /// What was found.
    detail: String,
    /// What to do about a failure.
    fix: Option<String>,
}

fn ok(check: &'static str, detail: impl Into<String>) -> Check {
    Check {
        check,
        status: "ok",
        detail: detail.into(),
        fix: None,
    }
}

fn failed(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        check,
        status: "failed",
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

fn skipped(check: &'static str, detail: impl Into<String>) -> Check {
    Check {
        check,
        status: "skipped",
        detail: detail.into(),
        fix: None,
    }
}

/// The first line of a long error, at most 200 characters.
fn brief(e: &str) -> String {
    let line = e.lines().next().unwrap_or(e);
    match line.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line.to_string(),
    }
}

/// Connects to `host:port` within the deadline.
async fn reach(host: &str, port: u16) -> Result<(), String> {
    match tokio::time::timeout(DEADLINE, tokio::net::TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(crate::config::io_reason(&e).to_lowercase()),
        Err(_) => Err(format!("no answer within {} s", DEADLINE.as_secs())),
    }
}

/// Host and port of a URL, with `default_port` for its scheme.
fn host_port(url: &str, default_port: u16) -> Option<(String, u16)> {
    let uri: http::Uri = url.parse().ok()?;
    let host = uri.host()?.trim_matches(['[', ']']).to_string();
    Some((host, uri.port_u16().unwrap_or(default_port)))
}

async fn database(config: &Config) -> Check {
    match tokio::time::timeout(DEADLINE * 3, Ops::check_database(config)).await {
        Ok(Ok(what)) => ok("database", what),
        Ok(Err(e)) => failed(
            "database",
            e.to_string(),
            "set database.url to the service's database (see `bedrock-gate config show`), \
             or run `bedrock-gate migrate` to create it",
        ),
        Err(_) => failed(
            "database",
            format!("no answer within {} s", (DEADLINE * 3).as_secs()),
            "check that the database server runs and is reachable",
        ),
    }
}

fn master_key(config: &Config) -> Check {
    match crate::auth::crypto::MasterKey::check(&config.database.master_key) {
        Ok(()) => ok("master key", "readable (or created with the first key)"),
        Err(e) => failed(
            "master key",
            e.to_string(),
            "set database.master_key (or master_key_file) to 32 random bytes in base64, \
             e.g. `openssl rand -base64 32`; the same on every proxy",
        ),
    }
}

async fn credentials(config: &Config) -> Check {
    let check = async {
        let cache =
            crate::proxy::upstream::CredentialCache::from_default_chain(&config.upstream.region)
                .await;
        cache.refresh().await
    };
    match tokio::time::timeout(DEADLINE * 2, check).await {
        Ok(Ok(())) => ok("upstream credentials", "found in the AWS chain"),
        Ok(Err(e)) => failed(
            "upstream credentials",
            brief(&e),
            "give the service AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
             AWS_PROFILE, or an instance/container role",
        ),
        Err(_) => failed(
            "upstream credentials",
            format!("none within {} s", (DEADLINE * 2).as_secs()),
            "give the service AWS credentials (environment, AWS_PROFILE or a role)",
        ),
    }
}

async fn upstream(config: &Config) -> Check {
    let url = config.upstream.endpoint.to_string();
    let Some((host, port)) = host_port(&url, 443) else {
        return failed(
            "upstream endpoint",
            format!("{url} has no host"),
            "fix upstream.endpoint",
        );
    };
    match reach(&host, port).await {
        Ok(()) => ok("upstream endpoint", format!("{host}:{port} answers")),
        Err(e) => failed(
            "upstream endpoint",
            format!("{host}:{port}: {e}"),
            "check upstream.endpoint and upstream.region, DNS and outbound firewall rules",
        ),
    }
}

fn tls(config: &Config) -> Check {
    match &config.proxy.tls {
        None => skipped(
            "tls files",
            "proxy.tls_cert and proxy.tls_key unset: plain HTTP",
        ),
        Some(files) => match crate::proxy::tls::acceptor(files) {
            Ok(_) => ok(
                "tls files",
                format!("{} and {} load", files.cert.display(), files.key.display()),
            ),
            Err(e) => failed(
                "tls files",
                e,
                "point proxy.tls_cert and proxy.tls_key at a readable PEM chain and its key",
            ),
        },
    }
}

async fn smtp(config: &Config) -> Check {
    let Some(url) = config.email.smtp.as_ref().map(|u| u.0.as_str()) else {
        return skipped("smtp", "email.smtp_url unset: no email");
    };
    let default_port = if url.starts_with("smtps:") { 465 } else { 25 };
    let Some((host, port)) = host_port(url, default_port) else {
        return failed("smtp", "email.smtp_url has no host", "fix email.smtp_url");
    };
    match reach(&host, port).await {
        Ok(()) => ok("smtp", format!("{host}:{port} answers")),
        Err(e) => failed(
            "smtp",
            format!("{host}:{port}: {e}"),
            "check email.smtp_url and that the mail server accepts connections from here",
        ),
    }
}

async fn iam(config: &Config) -> Check {
    if !config.iam.enabled {
        return skipped("iam", "iam.enabled = false");
    }
    let url = config
        .iam
        .endpoint_url
        .clone()
        .unwrap_or_else(|| "https://iam.amazonaws.com".into());
    let Some((host, port)) = host_port(&url, 443) else {
        return failed("iam", format!("{url} has no host"), "fix iam.endpoint_url");
    };
    match reach(&host, port).await {
        Ok(()) => ok("iam", format!("{host}:{port} answers")),
        Err(e) => failed(
            "iam",
            format!("{host}:{port}: {e}"),
            "check iam.endpoint_url, DNS and outbound firewall rules",
        ),
    }
}

/// `doctor`
pub(crate) async fn doctor(config: &Config, out: Output) -> anyhow::Result<()> {
    let file = config
        .origin
        .file
        .as_ref()
        .map_or("none (built-in defaults)".to_string(), |f| {
            format!("{} ({})", f.path.display(), f.chosen_by)
        });
    let mut checks = vec![
        ok("configuration", file),
        database(config).await,
        master_key(config),
    ];
    let (creds, up, smtp, iam) = tokio::join!(
        credentials(config),
        upstream(config),
        smtp(config),
        iam(config)
    );
    checks.extend([creds, up, tls(config), smtp, iam]);
    let failures = checks.iter().filter(|c| c.status == "failed").count();
    let rows = checks
        .iter()
        .map(|c| {
            let detail = match &c.fix {
                Some(fix) => format!("{}; fix: {fix}", c.detail),
                None => c.detail.clone(),
            };
            vec![c.check.to_string(), c.status.to_string(), detail]
        })
        .collect();
    let cols = [
        Col("check", Align::Left),
        Col("status", Align::Left),
        Col("detail", Align::Left),
    ];
    let view = serde_json::json!({ "ok": failures == 0, "checks": checks });
    print(out, &view, table("checks", &cols, rows));
    if failures > 0 {
        anyhow::bail!("{failures} check(s) failed; see the fixes above");
    }
    Ok(())
}

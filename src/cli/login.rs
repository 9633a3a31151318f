//! `login`, `credentials` and `logout`: the developer's commands, which need neither the
//! configuration file nor the database. Progress goes to stderr; stdout carries only
//! what was asked for (the credential JSON, the bearer token, the AWS profile written).

use anyhow::Context;

use super::args::{Command, CredentialFormat, Output};
use super::UsageError;
use crate::login::session::{self, Prompt};
use crate::login::{aws_profile, http::Http, saved, LoginError};

/// Runs one of the three commands.
pub(crate) async fn run(out: Output, command: Command) -> anyhow::Result<()> {
    let http = Http::new().map_err(usage)?;
    match command {
        Command::Login {
            server,
            issuer,
            aws_profile,
            region,
        } => login(out, &http, &server, issuer, aws_profile, region).await,
        Command::Credentials {
            server,
            bearer,
            format,
        } => credentials(&http, &server, bearer, format).await,
        Command::Logout { server } => logout(out, &http, server.as_deref()).await,
        _ => Ok(()),
    }
}

/// Bad input becomes a usage error (exit 2); everything else stays a failure (exit 1).
fn usage(e: LoginError) -> anyhow::Error {
    match e {
        LoginError::Usage(m) => UsageError(m).into(),
        other => other.into(),
    }
}

async fn login(
    out: Output,
    http: &Http,
    server: &str,
    issuer: Option<String>,
    profile: Option<String>,
    region: Option<String>,
) -> anyhow::Result<()> {
    if let Some(p) = &profile {
        aws_profile::check_name(p).map_err(usage)?;
    }
    let show = |p: &Prompt| {
        eprintln!(
            "To sign in with {}, open {} in a browser and enter the code {} \
             (it expires in {} minutes).",
            p.issuer_name,
            p.verification_uri,
            p.user_code,
            p.expires_in.div_ceil(60)
        );
        if let Some(complete) = &p.verification_uri_complete {
            eprintln!("Or open {complete}");
        }
        eprintln!("Waiting for the approval...");
    };
    let entry = session::login(http, server, issuer.as_deref(), show)
        .await
        .map_err(usage)?;
    let expiration = entry.key.as_ref().map_or("", |k| k.expiration.as_str());
    let mut written = None;
    if let Some(p) = &profile {
        let exe = std::env::current_exe()
            .and_then(std::fs::canonicalize)
            .context("cannot find the path of this program for credential_process")?;
        let mut settings = vec![(
            "credential_process",
            format!(
                "{} credentials --server {}",
                quote(&exe.to_string_lossy()),
                entry.server
            ),
        )];
        if let Some(r) = &region {
            settings.push(("region", r.clone()));
        }
        let path = aws_profile::write(p, &settings).map_err(usage)?;
        let mut shown = format!("{}\n", aws_profile::header(p));
        for (k, v) in &settings {
            shown.push_str(&format!("{k} = {v}\n"));
        }
        eprintln!("Writing this profile into {}:\n{shown}", path.display());
        written = Some((p.clone(), path));
    }
    let mut text = format!(
        "Signed in to {} as {} (team {}); the current key expires at {expiration}.",
        entry.server, entry.user, entry.team
    );
    if entry.refresh_token.is_none() {
        text.push_str(
            " The identity provider gave no refresh token: run `bedrock-gate login` again \
             when the key expires.",
        );
    }
    if let Some((p, _)) = &written {
        text.push_str(&format!(" Use it with AWS_PROFILE={p}."));
    }
    super::print(
        out,
        &serde_json::json!({
            "server": entry.server,
            "user": entry.user,
            "team": entry.team,
            "issuer": entry.issuer_name,
            "expiration": expiration,
            "refresh_token_kept": entry.refresh_token.is_some(),
            "aws_profile": written.as_ref().map(|(p, _)| p),
            "aws_config_file": written.as_ref().map(|(_, f)| f.display().to_string()),
        }),
        text,
    );
    Ok(())
}

async fn credentials(
    http: &Http,
    server: &str,
    bearer: bool,
    format: CredentialFormat,
) -> anyhow::Result<()> {
    let key = session::credentials(http, server).await.map_err(usage)?;
    let text = if bearer {
        key.bearer_token
    } else {
        let doc = match format {
            CredentialFormat::Process => serde_json::json!({
                "Version": 1,
                "AccessKeyId": key.access_key_id,
                "SecretAccessKey": key.secret_access_key,
                "Expiration": key.expiration,
            }),
            CredentialFormat::Claude => serde_json::json!({
                "Credentials": {
                    "AccessKeyId": key.access_key_id,
                    "SecretAccessKey": key.secret_access_key,
                    "SessionToken": "",
                    "Expiration": key.expiration,
                }
            }),
        };
        doc.to_string()
    };
    super::write_stdout(format!("{text}\n").as_bytes())
}

async fn logout(out: Output, http: &Http, server: Option<&str>) -> anyhow::Result<()> {
    let (forgotten, failed) = session::logout(http, server).await.map_err(usage)?;
    for f in &failed {
        eprintln!("warning: {f} (the token was forgotten here anyway)");
    }
    let text = if forgotten.is_empty() {
        match server {
            Some(s) => format!("Not signed in to {}.", saved::normalise(s)),
            None => "Not signed in anywhere.".to_string(),
        }
    } else {
        format!("Signed out of {}.", forgotten.join(", "))
    };
    super::print(
        out,
        &serde_json::json!({"signed_out": forgotten, "revocation_failures": failed}),
        text,
    );
    Ok(())
}

/// A path as one word of the AWS CLI's credential_process command line.
fn quote(path: &str) -> String {
    if path.contains([' ', '"', '\'']) {
        format!("\"{}\"", path.replace('"', "\\\""))
    } else {
        path.to_string()
    }
}

//! Login, credentials and logout put together: which issuer (from the proxy's
//! `GET /_gate/v1/issuers`), the device grant, the exchange of the ID token at
//! `POST /_gate/v1/credentials`, and when a cached key is still good enough.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::http::{message, Http};
use super::oauth;
use super::saved::{self, Entry, Key};
use super::LoginError;

/// A cached key is handed out while it has more than this left; else a new one is made.
pub(crate) const REFRESH_MARGIN_SECS: i64 = 5 * 60;

/// An issuer the proxy trusts, as `GET /_gate/v1/issuers` lists it.
#[derive(Clone, Debug)]
pub(crate) struct Issuer {
    pub(crate) name: String,
    pub(crate) issuer: String,
    pub(crate) client_id: String,
}

/// The issuers `server` trusts.
pub(crate) async fn issuers(http: &Http, server: &str) -> Result<Vec<Issuer>, LoginError> {
    let url = format!("{server}/_gate/v1/issuers");
    let answer = http.get(&url).await?;
    if answer.status != 200 {
        return Err(LoginError::Remote(format!(
            "{url} answered HTTP {} ({}): is {server} a bedrock-gate proxy with sign-in \
             configured?",
            answer.status,
            message(&answer.json)
        )));
    }
    let list = answer
        .json
        .get("issuers")
        .and_then(Value::as_array)
        .ok_or_else(|| LoginError::Remote(format!("{url} answered no list of issuers")))?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(list
        .iter()
        .filter_map(|v| {
            Some(Issuer {
                name: text(v, "name")?,
                issuer: text(v, "issuer")?,
                client_id: text(v, "client_id")?,
            })
        })
        .collect())
}

/// The issuer named `wanted`, or the only one.
pub(crate) fn choose(list: Vec<Issuer>, wanted: Option<&str>) -> Result<Issuer, LoginError> {
    let names = || {
        list.iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if list.is_empty() {
        return Err(LoginError::Remote(
            "this proxy trusts no identity provider ([[oidc.issuer]] is not configured)".into(),
        ));
    }
    match wanted {
        Some(w) => match list.iter().find(|i| i.name == w) {
            Some(i) => Ok(i.clone()),
            None => Err(LoginError::Usage(format!(
                "this proxy has no issuer `{w}`; it has: {}",
                names()
            ))),
        },
        None if list.len() == 1 => Ok(list[0].clone()),
        None => Err(LoginError::Usage(format!(
            "this proxy trusts several issuers; choose one with --issuer: {}",
            names()
        ))),
    }
}

/// What the user is told while signing in.
pub(crate) struct Prompt {
    pub(crate) verification_uri: String,
    pub(crate) verification_uri_complete: Option<String>,
    pub(crate) user_code: String,
    pub(crate) issuer_name: String,
    pub(crate) expires_in: u64,
}

/// Signs in at `server` through `wanted` (or the only issuer): shows `prompt`, waits
/// for the approval, exchanges the ID token for a key and stores everything.
pub(crate) async fn login(
    http: &Http,
    server: &str,
    wanted: Option<&str>,
    prompt: impl FnOnce(&Prompt),
) -> Result<Entry, LoginError> {
    let server = saved::normalise(server);
    super::http::check_url(&server)?;
    let issuer = choose(issuers(http, &server).await?, wanted)?;
    let endpoints = oauth::endpoints(http, &issuer.issuer).await?;
    let code = oauth::device_code(http, &endpoints, &issuer.client_id).await?;
    prompt(&Prompt {
        verification_uri: code.verification_uri.clone(),
        verification_uri_complete: code.verification_uri_complete.clone(),
        user_code: code.user_code.clone(),
        issuer_name: issuer.name.clone(),
        expires_in: code.expires_in,
    });
    let tokens = oauth::poll(http, &endpoints, &issuer.client_id, &code).await?;
    let (key, user, team) = exchange(http, &server, &tokens.id_token).await?;
    let entry = Entry {
        server,
        issuer_name: issuer.name,
        issuer: issuer.issuer,
        client_id: issuer.client_id,
        token_endpoint: endpoints.token,
        revocation_endpoint: endpoints.revocation,
        refresh_token: tokens.refresh_token,
        user,
        team,
        key: Some(key),
    };
    saved::save(&entry)?;
    Ok(entry)
}

/// A key for `server` with more than [`REFRESH_MARGIN_SECS`] left: the cached one, else
/// a new one made with the refresh token (which is stored again if the provider
/// rotated it).
pub(crate) async fn credentials(http: &Http, server: &str) -> Result<Key, LoginError> {
    let server = saved::normalise(server);
    let again = format!("run `bedrock-gate login --server {server}` again");
    let mut entry = saved::load(&server)?.ok_or_else(|| {
        LoginError::Ended(format!(
            "not signed in to {server}: run `bedrock-gate login --server {server}`"
        ))
    })?;
    if let Some(key) = entry.key.as_ref().filter(|k| fresh(k, Utc::now())) {
        return Ok(key.clone());
    }
    let refresh_token = entry.refresh_token.clone().ok_or_else(|| {
        LoginError::Ended(format!(
            "the key for {server} has expired and the identity provider gave no refresh \
             token: {again}"
        ))
    })?;
    let tokens = match oauth::refresh(
        http,
        &entry.token_endpoint,
        &entry.client_id,
        &refresh_token,
    )
    .await?
    {
        Ok(t) => t,
        Err(why) => {
            return Err(LoginError::Ended(format!(
                "the sign-in to {server} has ended (the identity provider refused the \
                 refresh token: {why}): {again}"
            )))
        }
    };
    let (key, user, team) = exchange(http, &server, &tokens.id_token).await?;
    if let Some(rotated) = tokens.refresh_token {
        entry.refresh_token = Some(rotated);
    }
    entry.user = user;
    entry.team = team;
    entry.key = Some(key.clone());
    saved::save(&entry)?;
    Ok(key)
}

/// Forgets `server`'s session (every session without one), revoking each refresh token
/// at the provider when it has a revocation endpoint. Returns the servers forgotten and
/// the revocations that failed (the tokens are forgotten anyway).
pub(crate) async fn logout(
    http: &Http,
    server: Option<&str>,
) -> Result<(Vec<String>, Vec<String>), LoginError> {
    let entries: Vec<Entry> = match server {
        Some(s) => saved::load(s)?.into_iter().collect(),
        None => saved::load_all()?,
    };
    let mut forgotten = Vec::new();
    let mut failed = Vec::new();
    for entry in entries {
        if let (Some(endpoint), Some(token)) = (&entry.revocation_endpoint, &entry.refresh_token) {
            if let Err(e) = oauth::revoke(http, endpoint, &entry.client_id, token).await {
                failed.push(format!("{}: {e}", entry.server));
            }
        }
        saved::remove(&entry.server)?;
        forgotten.push(entry.server);
    }
    Ok((forgotten, failed))
}

/// Whether `key` has more than [`REFRESH_MARGIN_SECS`] left at `now`.
pub(crate) fn fresh(key: &Key, now: DateTime<Utc>) -> bool {
    DateTime::parse_from_rfc3339(&key.expiration)
        .is_ok_and(|e| e.with_timezone(&Utc) - now > chrono::Duration::seconds(REFRESH_MARGIN_SECS))
}

/// `POST /_gate/v1/credentials` with the ID token: the key, the user and the team.
async fn exchange(
    http: &Http,
    server: &str,
    id_token: &str,
) -> Result<(Key, String, String), LoginError> {
    let url = format!("{server}/_gate/v1/credentials");
    let answer = http.post_bearer(&url, id_token).await?;
    if answer.status != 200 {
        let why = message(&answer.json);
        return Err(match answer.status {
            401 | 403 => LoginError::Ended(format!("the proxy refused the sign-in: {why}")),
            s => LoginError::Remote(format!("{url} answered HTTP {s}: {why}")),
        });
    }
    let text = |k: &str| {
        answer
            .json
            .get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| LoginError::Remote(format!("{url} answered no {k}")))
    };
    Ok((
        Key {
            access_key_id: text("access_key_id")?,
            secret_access_key: text("secret_access_key")?,
            bearer_token: text("bearer_token")?,
            expiration: text("expiration")?,
        },
        text("user")?,
        text("team")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(expiration: &str) -> Key {
        Key {
            access_key_id: "a".into(),
            secret_access_key: "s".into(),
            bearer_token: "b".into(),
            expiration: expiration.into(),
        }
    }

    #[test]
    fn a_key_is_reused_only_with_more_than_the_margin_left() {
        let now = DateTime::parse_from_rfc3339("2026-12-08T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!(fresh(&key("2026-12-08T10:05:01Z"), now));
        assert!(!fresh(&key("2026-12-08T10:05:00Z"), now));
        assert!(!fresh(&key("2026-12-08T09:00:00Z"), now));
        assert!(!fresh(&key("not a time"), now));
    }

    fn issuer(name: &str) -> Issuer {
        Issuer {
            name: name.into(),
            issuer: format!("https://{name}"),
            client_id: "c".into(),
        }
    }

    #[test]
    fn the_issuer_is_the_named_or_the_only_one() {
        assert_eq!(choose(vec![issuer("a")], None).unwrap().name, "a");
        let two = vec![issuer("a"), issuer("b")];
        assert_eq!(choose(two.clone(), Some("b")).unwrap().name, "b");
        let e = choose(two.clone(), None).unwrap_err().to_string();
        assert!(e.contains("--issuer") && e.contains("a, b"), "{e}");
        assert!(choose(two, Some("c"))
            .unwrap_err()
            .to_string()
            .contains("no issuer `c`"));
        assert!(choose(vec![], None).is_err());
    }
}

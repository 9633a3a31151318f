//! OAuth 2.0 against the identity provider, as a public client: the endpoints from its
//! discovery document, the device authorization grant (RFC 8628: ask for a code, poll
//! the token endpoint at the announced interval, slowing down when told), the refresh
//! token grant, and token revocation (RFC 7009).

use std::time::Duration;

use serde_json::Value;

use super::http::{message, Http};
use super::LoginError;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// What RFC 8628 says to use when the provider announces no interval.
const DEFAULT_INTERVAL: u64 = 5;
/// The scopes asked for, when the provider supports them: the user name (`email`),
/// `profile`, the groups, and a refresh token (`offline_access`).
const WANTED_SCOPES: [&str; 5] = ["openid", "email", "profile", "groups", "offline_access"];

/// The provider's endpoints, from `<issuer>/.well-known/openid-configuration`.
#[derive(Clone, Debug)]
pub(crate) struct Endpoints {
    pub(crate) device_authorization: String,
    pub(crate) token: String,
    pub(crate) revocation: Option<String>,
    pub(crate) scopes: String,
}

/// What the user must do to approve the sign-in.
pub(crate) struct DeviceCode {
    pub(crate) device_code: String,
    pub(crate) user_code: String,
    pub(crate) verification_uri: String,
    pub(crate) verification_uri_complete: Option<String>,
    pub(crate) interval: u64,
    pub(crate) expires_in: u64,
}

/// Tokens from the token endpoint.
pub(crate) struct Tokens {
    pub(crate) id_token: String,
    pub(crate) refresh_token: Option<String>,
}

/// Reads the provider's discovery document.
pub(crate) async fn endpoints(http: &Http, issuer: &str) -> Result<Endpoints, LoginError> {
    let url = crate::identity::discovery::url(issuer);
    let doc = http.get(&url).await?;
    if doc.status != 200 {
        return Err(LoginError::Remote(format!(
            "the identity provider's discovery document {url} answered HTTP {}",
            doc.status
        )));
    }
    let text = |k: &str| doc.json.get(k).and_then(Value::as_str).map(str::to_string);
    let device_authorization = text("device_authorization_endpoint").ok_or_else(|| {
        LoginError::Remote(format!(
            "the identity provider {issuer} offers no device authorization grant \
             (no device_authorization_endpoint): ask its administrator to enable it for \
             this client"
        ))
    })?;
    let token = text("token_endpoint").ok_or_else(|| {
        LoginError::Remote(format!(
            "the identity provider {issuer} announces no token_endpoint"
        ))
    })?;
    let supported: Option<Vec<&str>> = doc
        .json
        .get("scopes_supported")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    let scopes = WANTED_SCOPES
        .iter()
        .filter(|s| {
            supported
                .as_ref()
                .map_or(**s != "groups", |list| list.contains(*s))
        })
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Endpoints {
        device_authorization,
        token,
        revocation: text("revocation_endpoint"),
        scopes,
    })
}

/// Asks for a device code and the code the user types.
pub(crate) async fn device_code(
    http: &Http,
    endpoints: &Endpoints,
    client_id: &str,
) -> Result<DeviceCode, LoginError> {
    let answer = http
        .post_form(
            &endpoints.device_authorization,
            &[("client_id", client_id), ("scope", &endpoints.scopes)],
        )
        .await?;
    if answer.status != 200 {
        return Err(LoginError::Remote(format!(
            "the identity provider refused to start a sign-in for client `{client_id}`: {}",
            message(&answer.json)
        )));
    }
    let j = &answer.json;
    let text = |k: &str| j.get(k).and_then(Value::as_str).map(str::to_string);
    let missing =
        |k: &str| LoginError::Remote(format!("the device authorization answer has no {k}"));
    Ok(DeviceCode {
        device_code: text("device_code").ok_or_else(|| missing("device_code"))?,
        user_code: text("user_code").ok_or_else(|| missing("user_code"))?,
        verification_uri: text("verification_uri").ok_or_else(|| missing("verification_uri"))?,
        verification_uri_complete: text("verification_uri_complete"),
        interval: j
            .get("interval")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_INTERVAL)
            .max(1),
        expires_in: j.get("expires_in").and_then(Value::as_u64).unwrap_or(600),
    })
}

/// Polls the token endpoint until the user approves (the tokens), denies, or the code
/// expires (errors that say so).
pub(crate) async fn poll(
    http: &Http,
    endpoints: &Endpoints,
    client_id: &str,
    code: &DeviceCode,
) -> Result<Tokens, LoginError> {
    let mut interval = code.interval;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(code.expires_in + 30);
    loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        let answer = http
            .post_form(
                &endpoints.token,
                &[
                    ("grant_type", DEVICE_GRANT),
                    ("device_code", &code.device_code),
                    ("client_id", client_id),
                ],
            )
            .await?;
        if answer.status == 200 {
            return tokens(&answer.json);
        }
        match answer.json.get("error").and_then(Value::as_str) {
            Some("authorization_pending") => {}
            Some("slow_down") => interval += 5,
            Some("expired_token") => {
                return Err(LoginError::Ended(
                    "the code expired before the sign-in was approved: run the command again \
                     and approve it sooner"
                        .into(),
                ))
            }
            Some("access_denied") => {
                return Err(LoginError::Ended(
                    "the sign-in was denied at the identity provider; nothing was changed".into(),
                ))
            }
            _ => {
                return Err(LoginError::Remote(format!(
                    "the identity provider refused the sign-in: {}",
                    message(&answer.json)
                )))
            }
        }
        if tokio::time::Instant::now() > deadline {
            return Err(LoginError::Ended(
                "the code expired before the sign-in was approved: run the command again".into(),
            ));
        }
    }
}

/// Uses the refresh token for new tokens. `Ok(None)` when the provider refused it
/// (revoked, expired): the user must sign in again.
pub(crate) async fn refresh(
    http: &Http,
    token_endpoint: &str,
    client_id: &str,
    refresh_token: &str,
) -> Result<Result<Tokens, String>, LoginError> {
    let answer = http
        .post_form(
            token_endpoint,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", client_id),
            ],
        )
        .await?;
    if answer.status == 200 {
        return tokens(&answer.json).map(Ok);
    }
    match answer.json.get("error").and_then(Value::as_str) {
        Some("invalid_grant" | "unauthorized_client" | "invalid_client") => {
            Ok(Err(message(&answer.json)))
        }
        _ => Err(LoginError::Remote(format!(
            "the identity provider could not refresh the sign-in (HTTP {}): {}",
            answer.status,
            message(&answer.json)
        ))),
    }
}

/// Revokes `refresh_token` (RFC 7009); the provider answers 200 even for unknown tokens.
pub(crate) async fn revoke(
    http: &Http,
    revocation_endpoint: &str,
    client_id: &str,
    refresh_token: &str,
) -> Result<(), LoginError> {
    let answer = http
        .post_form(
            revocation_endpoint,
            &[
                ("token", refresh_token),
                ("token_type_hint", "refresh_token"),
                ("client_id", client_id),
            ],
        )
        .await?;
    if answer.status == 200 {
        Ok(())
    } else {
        Err(LoginError::Remote(format!(
            "the identity provider did not revoke the refresh token: {}",
            message(&answer.json)
        )))
    }
}

fn tokens(json: &Value) -> Result<Tokens, LoginError> {
    let id_token = json
        .get("id_token")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            LoginError::Remote(
                "the identity provider answered no ID token (is the `openid` scope allowed \
                 for this client?)"
                    .into(),
            )
        })?
        .to_string();
    Ok(Tokens {
        id_token,
        refresh_token: json
            .get("refresh_token")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

//! Dashboard single sign-on on the admin listener (browser navigations, not JSON API):
//! - `GET /auth/oidc/issuers`: the issuers the login page offers (`{"issuers":
//!   [{"name", "start"}]}`; empty when none is configured).
//! - `GET /auth/oidc/{issuer}/start`: starts the authorization code flow
//!   (`identity::dashboard`): a short-lived `HttpOnly` cookie `bg_sso` binds it to this
//!   browser, and a 303 sends the browser to the issuer.
//! - `GET /auth/oidc/callback`: the redirect URI to register with the identity provider
//!   (`<admin.public_url>/auth/oidc/callback`; without `admin.public_url`, the scheme and
//!   `Host` the browser used). A sign-in that succeeds sets the same session cookie as
//!   a token login and sends the browser to `/`; any refusal is a plain page saying why,
//!   with no session.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, HOST, LOCATION, SET_COOKIE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::auth::SESSION_COOKIE;
use super::ApiState;
use crate::identity::dashboard::SsoError;

/// The cookie binding a started sign-in to the browser that started it.
const SSO_COOKIE: &str = "bg_sso";
/// The callback's path on the admin listener.
pub(crate) const CALLBACK_PATH: &str = "/auth/oidc/callback";
/// The pages' policy: nothing but this origin's stylesheet.
const CSP: &str = "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'none'";

/// The sign-in routes.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/auth/oidc/issuers", get(issuers))
        .route("/auth/oidc/{issuer}/start", get(start))
        .route(CALLBACK_PATH, get(callback))
}

async fn issuers(State(s): State<ApiState>) -> Response {
    let list: Vec<_> = s
        .sso
        .as_ref()
        .map(|sso| sso.issuer_names())
        .unwrap_or_default()
        .into_iter()
        .map(|name| {
            let start = format!(
                "/auth/oidc/{}/start",
                percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC)
            );
            json!({ "name": name, "start": start })
        })
        .collect();
    super::error::json_response(StatusCode::OK, &json!({ "issuers": list }))
}

/// Whether the browser speaks HTTPS to this listener.
fn https(s: &ApiState, headers: &HeaderMap) -> bool {
    s.ops.session_cookie_always_secure()
        || s.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// The redirect URI: from `admin.public_url`, else the request's scheme and `Host`
/// (which must look like a host name or address with an optional port).
fn redirect_uri(s: &ApiState, headers: &HeaderMap) -> Result<String, SsoError> {
    if let Some(base) = &s.public_url {
        return Ok(format!("{base}{CALLBACK_PATH}"));
    }
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .ok_or_else(|| {
            SsoError::BadRequest(
                "The request's Host header is missing or not a host name; set admin.public_url."
                    .into(),
            )
        })?;
    let scheme = if https(s, headers) { "https" } else { "http" };
    Ok(format!("{scheme}://{host}{CALLBACK_PATH}"))
}

fn cookie(
    name: &str,
    value: &str,
    path: &str,
    same_site: &str,
    max_age: u64,
    secure: bool,
) -> String {
    format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite={same_site}; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

async fn start(
    State(s): State<ApiState>,
    Path(issuer): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(sso) = s.sso.as_ref() else {
        return page(
            StatusCode::NOT_FOUND,
            "Single sign-on is not configured on this gate (no [[oidc.issuer]]).",
        );
    };
    let started = match redirect_uri(&s, &headers) {
        Ok(uri) => sso.start(&issuer, &uri).await,
        Err(e) => Err(e),
    };
    match started {
        Ok(started) => {
            let secure = https(&s, &headers);
            // Lax: the cookie must come back on the issuer's top-level redirect.
            let binding = cookie(
                SSO_COOKIE,
                &started.browser_secret,
                "/auth/oidc",
                "Lax",
                crate::identity::dashboard::PENDING_TTL.as_secs(),
                secure,
            );
            redirect(&started.url, &[binding])
        }
        Err(e) => refusal(&e),
    }
}

async fn callback(
    State(s): State<ApiState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(sso) = s.sso.as_ref() else {
        return page(
            StatusCode::NOT_FOUND,
            "Single sign-on is not configured on this gate (no [[oidc.issuer]]).",
        );
    };
    let browser = cookie_value(&headers, SSO_COOKIE);
    let error = q
        .get("error")
        .map(|e| (e.as_str(), q.get("error_description").map(String::as_str)));
    let secure = https(&s, &headers);
    let clear_binding = cookie(SSO_COOKIE, "", "/auth/oidc", "Lax", 0, secure);
    let outcome = sso
        .finish(
            q.get("state").map(String::as_str),
            q.get("code").map(String::as_str),
            error,
            browser.as_deref(),
        )
        .await;
    match outcome {
        Ok(signed) => {
            let ttl = s.ops.session_ttl().as_secs();
            let session = cookie(
                SESSION_COOKIE,
                &signed.session.id,
                "/",
                "Strict",
                ttl,
                secure,
            );
            tracing::debug!(user = %signed.username, "dashboard session opened");
            redirect("/", &[session, clear_binding])
        }
        Err(e) => {
            let mut r = refusal(&e);
            if let Ok(v) = HeaderValue::from_str(&clear_binding) {
                r.headers_mut().append(SET_COOKIE, v);
            }
            r
        }
    }
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn redirect(location: &str, cookies: &[String]) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        h.insert(LOCATION, v);
    }
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            h.append(SET_COOKIE, v);
        }
    }
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn refusal(e: &SsoError) -> Response {
    let status = match e {
        SsoError::BadRequest(_) => StatusCode::BAD_REQUEST,
        SsoError::Refused(_) => StatusCode::UNAUTHORIZED,
        SsoError::NoRole(_) => StatusCode::FORBIDDEN,
        SsoError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    tracing::info!(status = status.as_u16(), reason = %e, "dashboard sign-in refused");
    page(status, &e.to_string())
}

/// A plain page saying why, with a way back to the login.
fn page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Sign-in refused · bedrock-gate</title>\
         <link rel=\"stylesheet\" href=\"/assets/app.css\"></head>\
         <body><main id=\"main\" class=\"login\"><h1>Sign-in refused</h1>\
         <p class=\"error-text\" role=\"alert\" id=\"sso-error\">{}</p>\
         <p>No session was opened. <a href=\"/\">Back to the sign-in page</a></p>\
         </main></body></html>\n",
        escape(message)
    );
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_the_message() {
        assert_eq!(escape("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
        let r = page(StatusCode::FORBIDDEN, "<script>");
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(r.headers()[CONTENT_SECURITY_POLICY], CSP);
    }
}

//! The one place a dashboard session's role is enforced, called by the auth layer
//! ([`super::auth`]) for every request made with a session cookie (admin tokens have
//! full rights and skip it):
//! - `admin`: everything.
//! - `viewer`: every read (GET, HEAD) and logout; any change is 403 naming the role.
//! - `team_admin`: reads and changes of the users of their teams (a user's page, limits,
//!   keys, blocks and protection, key revocation, usage and aggregates for them or their
//!   team), their teams' pages, and the lists of users, teams, keys, blocks, the
//!   blocking audit and per-team/per-user aggregates cut down to their teams ([`Scope`], applied to the
//!   JSON answer); anything else is 403 naming the role and the teams.

use axum::extract::{MatchedPath, Request};
use axum::http::{header, Method, StatusCode};
use axum::response::Response;
use http_body_util::BodyExt;
use serde_json::Value;

use super::error::{json_response, ApiError};
use super::ApiState;
use crate::domain::DashboardRole;

/// The largest list answer a team admin's request filters (larger: 500, logged).
const MAX_FILTERED_BYTES: usize = 64 * 1024 * 1024;

/// How a team admin's list answer is cut down: which field of each item names what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Items whose `team` is one of the teams (users).
    TeamField,
    /// Items whose `name` is one of the teams (teams).
    NameIsTeam,
    /// Items whose `username` is a user of the teams (keys, blocks).
    UsernameField,
    /// Aggregates by team: `key` is one of the teams.
    KeyIsTeam,
    /// Aggregates by user: `key` is a user of the teams.
    KeyIsUser,
}

/// What the role check looks at in a request (owned, so the check can await lookups).
pub(crate) struct Asked {
    method: Method,
    template: String,
    path: String,
    query: Option<String>,
    wants_csv: bool,
}

impl Asked {
    /// The method, the matched route, the path and query, and whether CSV is asked for.
    pub(crate) fn of(req: &Request) -> Self {
        Self {
            method: req.method().clone(),
            template: req
                .extensions()
                .get::<MatchedPath>()
                .map(|m| m.as_str().to_string())
                .unwrap_or_default(),
            path: req.uri().path().to_string(),
            query: req.uri().query().map(str::to_string),
            wants_csv: req
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/csv")),
        }
    }
}

/// What the role allows for this request: `Ok(None)` as it is, `Ok(Some(scope))` with
/// the answer cut down, `Err` 403 (or a lookup failure).
pub(crate) async fn authorize(
    state: &ApiState,
    role: &DashboardRole,
    req: &Asked,
) -> Result<Option<Scope>, ApiError> {
    let method = req.method.clone();
    let template = req.template.clone();
    let logout = method == Method::POST && template == "/api/v1/session/logout";
    let read = matches!(method, Method::GET | Method::HEAD);
    match role {
        DashboardRole::Admin => Ok(None),
        DashboardRole::Viewer if read || logout => Ok(None),
        DashboardRole::Viewer => Err(ApiError::Forbidden(format!(
            "The viewer role is read-only: {method} {} is refused (ask an admin).",
            req.path
        ))),
        DashboardRole::TeamAdmin(teams) => {
            let refused = || {
                ApiError::Forbidden(format!(
                    "The team_admin role (teams: {}) cannot {method} {}.",
                    teams.join(", "),
                    req.path
                ))
            };
            let param = |name: &str| path_param(&template, &req.path, name);
            let query = |name: &str| query_param(req.query.as_deref(), name);
            let own_team = |t: Option<String>| t.is_some_and(|t| teams.contains(&t));
            let csv = query("format").is_some_and(|f| f == "csv") || req.wants_csv;
            let list = |scope: Scope| if csv { Err(refused()) } else { Ok(Some(scope)) };
            match (read, template.as_str()) {
                (_, "/api/v1/session") | (false, "/api/v1/session/logout") => Ok(None),
                (true, "/api/v1/summary") => Ok(None),
                (true, "/api/v1/users") => list(Scope::TeamField),
                (true, "/api/v1/teams") => list(Scope::NameIsTeam),
                (true, "/api/v1/keys" | "/api/v1/blocks" | "/api/v1/audit/blocking") => {
                    list(Scope::UsernameField)
                }
                (true, "/api/v1/teams/{team}") if own_team(param("team")) => Ok(None),
                (true, "/api/v1/users/{username}")
                | (
                    false,
                    "/api/v1/users/{username}/limits"
                    | "/api/v1/users/{username}/keys"
                    | "/api/v1/users/{username}/block"
                    | "/api/v1/users/{username}/unblock"
                    | "/api/v1/users/{username}/protect"
                    | "/api/v1/users/{username}/unprotect",
                ) => {
                    let user = param("username").unwrap_or_default();
                    if own_team(state.ops.team_of_user(&user).await?) {
                        Ok(None)
                    } else {
                        Err(refused())
                    }
                }
                (false, "/api/v1/keys/{access_key_id}/revoke") => {
                    let key = param("access_key_id").unwrap_or_default();
                    if own_team(state.ops.team_of_key(&key).await?) {
                        Ok(None)
                    } else {
                        Err(refused())
                    }
                }
                (true, "/api/v1/usage" | "/api/v1/aggregates") => {
                    if let Some(user) = query("user") {
                        return if own_team(state.ops.team_of_user(&user).await?) {
                            Ok(None)
                        } else {
                            Err(refused())
                        };
                    }
                    if let Some(team) = query("team") {
                        return if own_team(Some(team)) {
                            Ok(None)
                        } else {
                            Err(refused())
                        };
                    }
                    match query("group_by").as_deref() {
                        Some("team") if template == "/api/v1/aggregates" => list(Scope::KeyIsTeam),
                        Some("user") if template == "/api/v1/aggregates" => list(Scope::KeyIsUser),
                        _ => Err(refused()),
                    }
                }
                _ => Err(refused()),
            }
        }
    }
}

/// Cuts a successful JSON list answer down to the team admin's teams.
pub(crate) async fn narrow(
    state: &ApiState,
    teams: &[String],
    scope: Scope,
    response: Response,
) -> Result<Response, ApiError> {
    if response.status() != StatusCode::OK {
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = http_body_util::Limited::new(body, MAX_FILTERED_BYTES)
        .collect()
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "a list answer could not be read to narrow it");
            ApiError::Forbidden("This list is too large to narrow to your teams.".into())
        })?
        .to_bytes();
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&bytes) else {
        // Not a JSON list: nothing a team admin may see is in it.
        return Err(ApiError::Forbidden(
            "This answer cannot be narrowed to your teams.".into(),
        ));
    };
    let users = match scope {
        Scope::UsernameField | Scope::KeyIsUser => state.ops.usernames_in(teams).await?,
        _ => Vec::new(),
    };
    let field = |item: &Value, name: &str| {
        item.get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_default()
    };
    let keep: Vec<Value> = items
        .into_iter()
        .filter(|item| match scope {
            Scope::TeamField => teams.contains(&field(item, "team")),
            Scope::NameIsTeam => teams.contains(&field(item, "name")),
            Scope::KeyIsTeam => teams.contains(&field(item, "key")),
            Scope::UsernameField => users.contains(&field(item, "username")),
            Scope::KeyIsUser => users.contains(&field(item, "key")),
        })
        .collect();
    let mut out = json_response(parts.status, &keep);
    for (name, value) in &parts.headers {
        if name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    Ok(out)
}

/// The raw value of `{name}` in `template` as it appears in `path`, percent-decoded.
fn path_param(template: &str, path: &str, name: &str) -> Option<String> {
    let wanted = format!("{{{name}}}");
    let at = template.split('/').position(|s| s == wanted)?;
    let raw = path.split('/').nth(at)?;
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// The first value of `name` in a query string, decoded; empty values count as absent.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = url_decode(k)?;
            (k == name).then(|| url_decode(v)).flatten()
        })
        .filter(|v| !v.is_empty())
}

fn url_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_read_from_the_matched_template() {
        assert_eq!(
            path_param(
                "/api/v1/users/{username}/limits",
                "/api/v1/users/a%40b.com/limits",
                "username"
            ),
            Some("a@b.com".into())
        );
        assert_eq!(
            path_param("/api/v1/users", "/api/v1/users", "username"),
            None
        );
        assert_eq!(
            query_param(Some("a=1&user=bob%2B1&x"), "user"),
            Some("bob+1".into())
        );
        assert_eq!(query_param(Some("user="), "user"), None);
        assert_eq!(query_param(None, "user"), None);
    }
}

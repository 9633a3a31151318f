//! `/scim/v2/Users`: a user of the proxy as a SCIM User (RFC 7643 §4.1) and the
//! requests on it. What is kept: `userName` (the user name), the person's name
//! (`name.formatted`, else `displayName`, else `name.givenName` + `name.familyName`, else
//! the user name), one email (the primary, else the first), `active`, `externalId`;
//! `groups` is read-only. Other attributes of the core User schema and the enterprise
//! extension are accepted and not kept (identity providers send them routinely; a
//! `password` is never stored). An attribute of no schema, or a kept one of the wrong
//! type, is refused (`invalidSyntax` / `invalidValue`) and changes nothing.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Map, Value};

use super::body::{list_query, project, ScimBody};
use super::error::{scim_json, ScimError};
use super::filter;
use super::patch::{self, get};
use super::{base_url, list_response, parse_id, ScimState};
use crate::domain::Actor;
use crate::ops::scim_users::ScimUserState;
use crate::store::User;

/// The core User schema.
pub(crate) const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The enterprise User extension (accepted, not kept).
pub(crate) const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Core attributes accepted and not kept.
const IGNORED: &[&str] = &[
    "nickName",
    "profileUrl",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "password",
    "phoneNumbers",
    "ims",
    "photos",
    "addresses",
    "entitlements",
    "roles",
    "x509Certificates",
];

/// The SCIM User of `u`, in groups `groups` (id, name).
pub(crate) fn resource(u: &User, groups: &[crate::store::scim::Member], base: &str) -> Value {
    let mut r = json!({
        "schemas": [USER_SCHEMA],
        "id": u.id.to_string(),
        "userName": u.username,
        "name": {"formatted": u.person_name},
        "active": u.active,
        "groups": groups.iter().map(|g| json!({
            "value": g.id.to_string(),
            "display": g.name,
            "$ref": format!("{base}/Groups/{}", g.id),
        })).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "User",
            "created": rfc3339(u.created_at),
            "lastModified": rfc3339(u.created_at),
            "location": format!("{base}/Users/{}", u.id),
        },
    });
    if let Some(e) = &u.email {
        r["emails"] = json!([{"value": e, "primary": true}]);
    }
    if let Some(x) = &u.external_id {
        r["externalId"] = json!(x);
    }
    r
}

fn rfc3339(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// The user a POST or PUT body (or a patched document) describes; `active` defaults to
/// `current_active`.
pub(crate) fn parse(
    body: &Map<String, Value>,
    current_active: bool,
) -> Result<ScimUserState, ScimError> {
    let str_of = |k: &str, v: &Value| -> Result<Option<String>, ScimError> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            _ => Err(ScimError::value(format!("`{k}` must be a string"))),
        }
    };
    let mut username = None;
    let mut formatted = None;
    let mut display = None;
    let mut given = None;
    let mut family = None;
    let mut email = None;
    let mut external_id = None;
    let mut active = current_active;
    for (k, v) in body {
        let lk = k.to_ascii_lowercase();
        match lk.as_str() {
            "schemas" => {
                let ok = v.as_array().is_some_and(|a| {
                    a.iter().all(Value::is_string)
                        && a.iter().any(|s| s.as_str() == Some(USER_SCHEMA))
                });
                if !ok {
                    return Err(ScimError::syntax(format!(
                        "`schemas` must be a list of schema URNs including \"{USER_SCHEMA}\""
                    )));
                }
            }
            // Read-only or server-made: ignored on input, as RFC 7643 §2.2 allows.
            "id" | "meta" | "groups" => {}
            "username" => username = str_of(k, v)?,
            "externalid" => external_id = str_of(k, v)?,
            "displayname" => display = str_of(k, v)?,
            "active" => {
                active = match v {
                    Value::Bool(b) => *b,
                    // Entra ID sends "True"/"False" in PATCH.
                    Value::String(s) if s.eq_ignore_ascii_case("true") => true,
                    Value::String(s) if s.eq_ignore_ascii_case("false") => false,
                    _ => return Err(ScimError::value("`active` must be a boolean")),
                }
            }
            "name" => {
                let Value::Object(n) = v else {
                    if v.is_null() {
                        continue;
                    }
                    return Err(ScimError::value("`name` must be an object"));
                };
                for (nk, nv) in n {
                    let field = format!("name.{nk}");
                    match nk.to_ascii_lowercase().as_str() {
                        "formatted" => formatted = str_of(&field, nv)?,
                        "givenname" => given = str_of(&field, nv)?,
                        "familyname" => family = str_of(&field, nv)?,
                        "middlename" | "honorificprefix" | "honorificsuffix" => {
                            str_of(&field, nv)?;
                        }
                        _ => return Err(ScimError::syntax(format!("unknown attribute `{field}`"))),
                    }
                }
            }
            "emails" => email = parse_emails(v)?,
            _ if lk == ENTERPRISE.to_ascii_lowercase() => {
                if !v.is_object() && !v.is_null() {
                    return Err(ScimError::value(format!(
                        "`{ENTERPRISE}` must be an object"
                    )));
                }
            }
            _ if IGNORED.iter().any(|i| i.eq_ignore_ascii_case(k)) => {}
            _ => return Err(ScimError::syntax(format!("unknown attribute `{k}`"))),
        }
    }
    let username = username
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ScimError::value("`userName` is required"))?;
    let joined = match (given, family) {
        (Some(g), Some(f)) => Some(format!("{g} {f}")),
        (g, f) => g.or(f),
    };
    let person_name = formatted
        .or(display)
        .or(joined)
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| username.clone());
    Ok(ScimUserState {
        username,
        person_name,
        email,
        external_id,
        active,
    })
}

/// The email kept from `emails`: the primary one, else the first.
fn parse_emails(v: &Value) -> Result<Option<String>, ScimError> {
    let items = match v {
        Value::Null => return Ok(None),
        Value::Array(a) => a,
        _ => return Err(ScimError::value("`emails` must be a list")),
    };
    let mut first = None;
    let mut primary = None;
    for item in items {
        let o = item
            .as_object()
            .ok_or_else(|| ScimError::value("each of `emails` must be an object"))?;
        let mut value = None;
        let mut is_primary = false;
        for (k, v) in o {
            match k.to_ascii_lowercase().as_str() {
                "value" => {
                    value = Some(
                        v.as_str()
                            .ok_or_else(|| ScimError::value("`emails.value` must be a string"))?
                            .to_string(),
                    )
                }
                "primary" => {
                    is_primary = v
                        .as_bool()
                        .ok_or_else(|| ScimError::value("`emails.primary` must be a boolean"))?
                }
                "type" | "display" => {
                    if !v.is_string() {
                        return Err(ScimError::value(format!("`emails.{k}` must be a string")));
                    }
                }
                _ => return Err(ScimError::syntax(format!("unknown attribute `emails.{k}`"))),
            }
        }
        let Some(value) = value else {
            continue;
        };
        if is_primary && primary.is_none() {
            primary = Some(value.clone());
        }
        first.get_or_insert(value);
    }
    Ok(primary.or(first))
}

/// `POST /Users`.
pub(crate) async fn create(
    State(s): State<ScimState>,
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let new = parse(&body, true)?;
    let user = s.ops.scim_create_user(&actor, &new).await?;
    Ok(scim_json(
        StatusCode::CREATED,
        &resource(&user, &[], &base_url(&headers)),
    ))
}

/// `GET /Users/{id}`.
pub(crate) async fn get_one(
    State(s): State<ScimState>,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let q = list_query(&q)?;
    let id = parse_id(&id, "User")?;
    let user = s.ops.scim_user(id).await?;
    let groups = s.ops.scim_user_groups(id).await?;
    let r = resource(&user, &groups, &base_url(&headers));
    Ok(scim_json(
        StatusCode::OK,
        &project(r, &q.attributes, &q.excluded),
    ))
}

/// `GET /Users` with `filter` (`userName`, `externalId` or `id` `eq`), `startIndex`,
/// `count`.
pub(crate) async fn list(
    State(s): State<ScimState>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let q = list_query(&q)?;
    let cond = match &q.filter {
        Some(f) => {
            let eq = filter::parse(f).map_err(ScimError::filter)?;
            let attr = eq.attribute.to_ascii_lowercase();
            if !["username", "externalid", "id"].contains(&attr.as_str()) {
                return Err(ScimError::filter(format!(
                    "filtering on `{}` is not supported; use userName, externalId or id",
                    eq.attribute
                )));
            }
            Some(eq)
        }
        None => None,
    };
    let mut users = s.ops.scim_users(None).await?;
    users.sort_by_key(|u| u.id);
    if let Some(eq) = &cond {
        users.retain(|u| {
            let v = match eq.attribute.to_ascii_lowercase().as_str() {
                "username" => Value::String(u.username.clone()),
                "externalid" => u.external_id.clone().map_or(Value::Null, Value::String),
                _ => Value::String(u.id.to_string()),
            };
            eq.matches(&v)
        });
    }
    let base = base_url(&headers);
    let total = users.len();
    let mut page = Vec::new();
    for u in users.iter().skip(q.start_index - 1).take(q.count) {
        let groups = s.ops.scim_user_groups(u.id).await?;
        page.push(project(
            resource(u, &groups, &base),
            &q.attributes,
            &q.excluded,
        ));
    }
    Ok(scim_json(
        StatusCode::OK,
        &list_response(total, q.start_index, page),
    ))
}

/// `PUT /Users/{id}`: replaces what is kept; `active` left out stays as it is.
pub(crate) async fn replace(
    State(s): State<ScimState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "User")?;
    let current = s.ops.scim_user(id).await?;
    let to = parse(&body, current.active)?;
    let user = s.ops.scim_replace_user(&actor, id, &to).await?;
    let groups = s.ops.scim_user_groups(id).await?;
    Ok(scim_json(
        StatusCode::OK,
        &resource(&user, &groups, &base_url(&headers)),
    ))
}

/// `PATCH /Users/{id}`.
pub(crate) async fn patch(
    State(s): State<ScimState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "User")?;
    let current = s.ops.scim_user(id).await?;
    let base = base_url(&headers);
    let Value::Object(mut doc) = resource(&current, &[], &base) else {
        return Err(ScimError::Internal("a user is not an object".into()));
    };
    for read_only in ["id", "meta", "groups"] {
        doc.remove(read_only);
    }
    patch::apply(&mut doc, &body, USER_SCHEMA, &[ENTERPRISE])?;
    if let Some(new_id) = get(&doc, "id") {
        if new_id != &Value::String(id.to_string()) {
            return Err(ScimError::mutability("`id` cannot be changed"));
        }
    }
    let to = parse(&doc, current.active)?;
    let user = s.ops.scim_replace_user(&actor, id, &to).await?;
    let groups = s.ops.scim_user_groups(id).await?;
    Ok(scim_json(StatusCode::OK, &resource(&user, &groups, &base)))
}

/// `DELETE /Users/{id}`.
pub(crate) async fn delete(
    State(s): State<ScimState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "User")?;
    s.ops.scim_delete_user(&actor, id).await?;
    Ok(axum::response::IntoResponse::into_response(
        StatusCode::NO_CONTENT,
    ))
}

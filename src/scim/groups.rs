//! `/scim/v2/Groups`: SCIM Groups (RFC 7643 §4.2) with users as members. A group whose
//! `displayName` is a group in `[oidc.teams]` puts its members in that team (the service
//! layer's rule, `ops::scim_groups`). Members are users of this service, by SCIM id;
//! groups inside groups are not supported.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Map, Value};

use super::body::{list_query, project, ScimBody};
use super::error::{scim_json, ScimError};
use super::filter;
use super::patch;
use super::{base_url, list_response, parse_id, ScimState};
use crate::domain::Actor;
use crate::ops::scim_groups::ScimGroupState;
use crate::ops::Ops;
use crate::store::scim::{Group, Member};

/// The core Group schema.
pub(crate) const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// The SCIM Group of `g` with `members`.
fn resource(g: &Group, members: &[Member], base: &str) -> Value {
    let mut r = json!({
        "schemas": [GROUP_SCHEMA],
        "id": g.id.to_string(),
        "displayName": g.display_name,
        "members": members.iter().map(|m| json!({
            "value": m.id.to_string(),
            "display": m.name,
            "type": "User",
            "$ref": format!("{base}/Users/{}", m.id),
        })).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "Group",
            "created": rfc3339(g.created_at),
            "lastModified": rfc3339(g.updated_at),
            "location": format!("{base}/Groups/{}", g.id),
        },
    });
    if let Some(x) = &g.external_id {
        r["externalId"] = json!(x);
    }
    r
}

fn rfc3339(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// The group a POST or PUT body (or a patched document) describes.
fn parse(body: &Map<String, Value>) -> Result<ScimGroupState, ScimError> {
    let mut display_name = None;
    let mut external_id = None;
    let mut members = Vec::new();
    for (k, v) in body {
        match k.to_ascii_lowercase().as_str() {
            "schemas" => {
                let ok = v.as_array().is_some_and(|a| {
                    a.iter().all(Value::is_string)
                        && a.iter().any(|s| s.as_str() == Some(GROUP_SCHEMA))
                });
                if !ok {
                    return Err(ScimError::syntax(format!(
                        "`schemas` must be a list of schema URNs including \"{GROUP_SCHEMA}\""
                    )));
                }
            }
            "id" | "meta" => {}
            "displayname" => {
                display_name = Some(
                    v.as_str()
                        .ok_or_else(|| ScimError::value("`displayName` must be a string"))?
                        .to_string(),
                )
            }
            "externalid" => {
                external_id = match v {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    _ => return Err(ScimError::value("`externalId` must be a string")),
                }
            }
            "members" => {
                let items = match v {
                    Value::Null => continue,
                    Value::Array(a) => a,
                    _ => return Err(ScimError::value("`members` must be a list")),
                };
                for item in items {
                    let o = item
                        .as_object()
                        .ok_or_else(|| ScimError::value("each member must be an object"))?;
                    let mut value = None;
                    for (mk, mv) in o {
                        match mk.to_ascii_lowercase().as_str() {
                            "value" => {
                                value = Some(mv.as_str().ok_or_else(|| {
                                    ScimError::value("`members.value` must be a string")
                                })?)
                            }
                            "display" | "$ref" => {}
                            "type" => {
                                if mv.as_str() != Some("User") {
                                    return Err(ScimError::value(
                                        "members must be users (groups in groups are not supported)",
                                    ));
                                }
                            }
                            _ => {
                                return Err(ScimError::syntax(format!(
                                    "unknown attribute `members.{mk}`"
                                )))
                            }
                        }
                    }
                    let value =
                        value.ok_or_else(|| ScimError::value("each member needs a `value`"))?;
                    let id = value.parse::<i64>().map_err(|_| {
                        ScimError::value(format!("member `{value}` is not a user of this service"))
                    })?;
                    members.push(id);
                }
            }
            _ => return Err(ScimError::syntax(format!("unknown attribute `{k}`"))),
        }
    }
    let display_name = display_name
        .filter(|d| !d.trim().is_empty())
        .ok_or_else(|| ScimError::value("`displayName` is required"))?;
    Ok(ScimGroupState {
        display_name,
        external_id,
        members,
    })
}

async fn render(ops: &Ops, g: &Group, base: &str) -> Result<Value, ScimError> {
    let members = ops.scim_group_members(g.id).await?;
    Ok(resource(g, &members, base))
}

/// `POST /Groups`.
pub(crate) async fn create(
    State(s): State<ScimState>,
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let new = parse(&body)?;
    let g = s.ops.scim_create_group(&actor, &new).await?;
    let r = render(&s.ops, &g, &base_url(&headers)).await?;
    Ok(scim_json(StatusCode::CREATED, &r))
}

/// `GET /Groups/{id}`.
pub(crate) async fn get_one(
    State(s): State<ScimState>,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let q = list_query(&q)?;
    let id = parse_id(&id, "Group")?;
    let g = s.ops.scim_group(id).await?;
    let r = render(&s.ops, &g, &base_url(&headers)).await?;
    Ok(scim_json(
        StatusCode::OK,
        &project(r, &q.attributes, &q.excluded),
    ))
}

/// `GET /Groups` with `filter` (`displayName`, `externalId` or `id` `eq`), `startIndex`,
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
            if !["displayname", "externalid", "id"].contains(&attr.as_str()) {
                return Err(ScimError::filter(format!(
                    "filtering on `{}` is not supported; use displayName, externalId or id",
                    eq.attribute
                )));
            }
            Some(eq)
        }
        None => None,
    };
    let mut groups = s.ops.scim_groups(None).await?;
    if let Some(eq) = &cond {
        groups.retain(|g| {
            let v = match eq.attribute.to_ascii_lowercase().as_str() {
                "displayname" => Value::String(g.display_name.clone()),
                "externalid" => g.external_id.clone().map_or(Value::Null, Value::String),
                _ => Value::String(g.id.to_string()),
            };
            eq.matches(&v)
        });
    }
    let base = base_url(&headers);
    let total = groups.len();
    let mut page = Vec::new();
    for g in groups.iter().skip(q.start_index - 1).take(q.count) {
        let r = render(&s.ops, g, &base).await?;
        page.push(project(r, &q.attributes, &q.excluded));
    }
    Ok(scim_json(
        StatusCode::OK,
        &list_response(total, q.start_index, page),
    ))
}

/// `PUT /Groups/{id}`.
pub(crate) async fn replace(
    State(s): State<ScimState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "Group")?;
    let to = parse(&body)?;
    let g = s.ops.scim_replace_group(&actor, id, &to).await?;
    let r = render(&s.ops, &g, &base_url(&headers)).await?;
    Ok(scim_json(StatusCode::OK, &r))
}

/// `PATCH /Groups/{id}`.
pub(crate) async fn patch(
    State(s): State<ScimState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "Group")?;
    let g = s.ops.scim_group(id).await?;
    let base = base_url(&headers);
    let Value::Object(mut doc) = render(&s.ops, &g, &base).await? else {
        return Err(ScimError::Internal("a group is not an object".into()));
    };
    doc.remove("meta");
    doc.remove("id");
    patch::apply(&mut doc, &body, GROUP_SCHEMA, &[])?;
    let to = parse(&doc)?;
    let g = s.ops.scim_replace_group(&actor, id, &to).await?;
    let r = render(&s.ops, &g, &base).await?;
    Ok(scim_json(StatusCode::OK, &r))
}

/// `DELETE /Groups/{id}`.
pub(crate) async fn delete(
    State(s): State<ScimState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "Group")?;
    s.ops.scim_delete_group(&actor, id).await?;
    Ok(axum::response::IntoResponse::into_response(
        StatusCode::NO_CONTENT,
    ))
}

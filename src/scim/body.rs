//! Request bodies and list parameters of `/scim/v2`: a JSON object sent as
//! `application/scim+json` or `application/json` (else 415; a body that is not a JSON
//! object: 400 `invalidSyntax`), and the list query (`filter`, `startIndex`, `count`,
//! `attributes`, `excludedAttributes`).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde_json::{Map, Value};

use super::error::ScimError;

/// A request body: one JSON object.
pub(crate) struct ScimBody(pub(crate) Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for ScimBody {
    type Rejection = ScimError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
            let essence = ct.split(';').next().unwrap_or("").trim();
            if essence != "application/scim+json" && essence != "application/json" {
                return Err(ScimError::UnsupportedMediaType(format!(
                    "the body must be application/scim+json (or application/json), not `{essence}`"
                )));
            }
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ScimError::syntax(format!("the body could not be read: {e}")))?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => Ok(Self(m)),
            Ok(_) => Err(ScimError::syntax("the body must be a JSON object")),
            Err(e) => Err(ScimError::syntax(format!("the body is not JSON: {e}"))),
        }
    }
}

/// The default and largest page size of a list.
pub(crate) const MAX_PAGE: usize = 200;

/// A list request's query.
#[derive(Debug, Default)]
pub(crate) struct ListQuery {
    /// `filter`.
    pub(crate) filter: Option<String>,
    /// `startIndex` (1-based; below 1 counts as 1).
    pub(crate) start_index: usize,
    /// `count` (negative counts as 0; at most [`MAX_PAGE`]).
    pub(crate) count: usize,
    /// `attributes`.
    pub(crate) attributes: Vec<String>,
    /// `excludedAttributes`.
    pub(crate) excluded: Vec<String>,
}

/// The query of a list (or a single GET's `attributes`), from the query's pairs.
pub(crate) fn list_query(pairs: &[(String, String)]) -> Result<ListQuery, ScimError> {
    let mut q = ListQuery {
        start_index: 1,
        count: MAX_PAGE,
        ..ListQuery::default()
    };
    let names = |v: &str| -> Vec<String> {
        v.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    for (key, value) in pairs {
        match key.as_str() {
            "filter" => q.filter = Some(value.clone()),
            "startIndex" => {
                let n: i64 = value.trim().parse().map_err(|_| {
                    ScimError::value(format!("startIndex `{value}` is not an integer"))
                })?;
                q.start_index = usize::try_from(n.max(1)).unwrap_or(1);
            }
            "count" => {
                let n: i64 = value
                    .trim()
                    .parse()
                    .map_err(|_| ScimError::value(format!("count `{value}` is not an integer")))?;
                q.count = usize::try_from(n.max(0)).unwrap_or(0).min(MAX_PAGE);
            }
            "attributes" => q.attributes = names(value),
            "excludedAttributes" => q.excluded = names(value),
            // Sorting is not supported (ServiceProviderConfig says so); results come in
            // id order, as RFC 7644 §3.4.2.3 allows.
            "sortBy" | "sortOrder" => {}
            other => {
                return Err(ScimError::value(format!(
                    "unknown query parameter `{other}`"
                )))
            }
        }
    }
    Ok(q)
}

/// `resource` with only `attributes` (and `id`, `schemas`, `meta`), or without
/// `excluded`; top-level attribute names, compared without case.
pub(crate) fn project(mut resource: Value, attributes: &[String], excluded: &[String]) -> Value {
    let Value::Object(map) = &mut resource else {
        return resource;
    };
    let always = ["id", "schemas", "meta"];
    let top = |a: &str| a.split('.').next().unwrap_or(a).to_ascii_lowercase();
    if !attributes.is_empty() {
        let keep: Vec<String> = attributes.iter().map(|a| top(a)).collect();
        map.retain(|k, _| always.contains(&k.as_str()) || keep.contains(&k.to_ascii_lowercase()));
    }
    if !excluded.is_empty() {
        let drop: Vec<String> = excluded.iter().map(|a| top(a)).collect();
        map.retain(|k, _| always.contains(&k.as_str()) || !drop.contains(&k.to_ascii_lowercase()));
    }
    resource
}

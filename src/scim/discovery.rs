//! The SCIM discovery endpoints (RFC 7644 §4): `ServiceProviderConfig` (PATCH and
//! filtering supported; bulk, sorting, ETags and password changes not), `ResourceTypes`
//! (User, Group) and `Schemas` (exactly the attributes this service keeps and returns;
//! the enterprise extension is accepted on input but not kept, so it is not listed).

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::error::{scim_json, ScimError};
use super::groups::GROUP_SCHEMA;
use super::users::USER_SCHEMA;
use super::{base_url, list_response};

fn attr(name: &str, kind: &str, mutability: &str, extra: Value) -> Value {
    let mut a = json!({
        "name": name, "type": kind, "multiValued": false, "required": false,
        "caseExact": false, "mutability": mutability, "returned": "default",
        "uniqueness": "none", "description": name,
    });
    if let (Value::Object(a), Value::Object(extra)) = (&mut a, extra) {
        a.extend(extra);
    }
    a
}

fn user_schema(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER_SCHEMA, "name": "User", "description": "A user of the proxy",
        "attributes": [
            attr("userName", "string", "readWrite",
                 json!({"required": true, "uniqueness": "server",
                        "description": "The user name (letters, digits, -_.@)"})),
            attr("name", "complex", "readWrite", json!({"subAttributes": [
                attr("formatted", "string", "readWrite", json!({"description": "The person's name"})),
            ]})),
            attr("active", "boolean", "readWrite",
                 json!({"description": "False: every key revoked, no new key issued"})),
            attr("emails", "complex", "readWrite", json!({"multiValued": true, "subAttributes": [
                attr("value", "string", "readWrite", json!({})),
                attr("primary", "boolean", "readWrite", json!({})),
            ]})),
            attr("groups", "complex", "readOnly", json!({"multiValued": true, "subAttributes": [
                attr("value", "string", "readOnly", json!({})),
                attr("display", "string", "readOnly", json!({})),
                attr("$ref", "reference", "readOnly", json!({"referenceTypes": ["Group"]})),
            ]})),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{USER_SCHEMA}")},
    })
}

fn group_schema(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": GROUP_SCHEMA, "name": "Group",
        "description": "A group; mapped in [oidc.teams], it puts its members in a team",
        "attributes": [
            attr("displayName", "string", "readWrite",
                 json!({"required": true, "uniqueness": "server"})),
            attr("members", "complex", "readWrite", json!({"multiValued": true, "subAttributes": [
                attr("value", "string", "immutable", json!({"caseExact": true})),
                attr("display", "string", "readOnly", json!({})),
                attr("type", "string", "immutable", json!({"canonicalValues": ["User"]})),
                attr("$ref", "reference", "immutable", json!({"referenceTypes": ["User"]})),
            ]})),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{GROUP_SCHEMA}")},
    })
}

fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users",
            "description": "Users of the proxy", "schema": USER_SCHEMA,
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group", "name": "Group", "endpoint": "/Groups",
            "description": "Groups (mapped to teams by [oidc.teams])", "schema": GROUP_SCHEMA,
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")},
        }),
    ]
}

/// `GET /ServiceProviderConfig`.
pub(crate) async fn service_provider_config(headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": "https://github.com/bedrock-gate/bedrock-gate/blob/main/docs/IDENTITY.md",
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": super::body::MAX_PAGE},
            "changePassword": {"supported": false},
            "sort": {"supported": false},
            "etag": {"supported": false},
            "authenticationSchemes": [{
                "type": "oauthbearertoken", "name": "SCIM token",
                "description": "Authorization: Bearer <token from `bedrock-gate admin create-token NAME --scope scim`>",
                "primary": true,
            }],
            "meta": {"resourceType": "ServiceProviderConfig",
                     "location": format!("{base}/ServiceProviderConfig")},
        }),
    )
}

/// `GET /Schemas`.
pub(crate) async fn schemas(headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    let all = vec![user_schema(&base), group_schema(&base)];
    scim_json(StatusCode::OK, &list_response(all.len(), 1, all))
}

/// `GET /Schemas/{id}`.
pub(crate) async fn schema(
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let base = base_url(&headers);
    match id.as_str() {
        USER_SCHEMA => Ok(scim_json(StatusCode::OK, &user_schema(&base))),
        GROUP_SCHEMA => Ok(scim_json(StatusCode::OK, &group_schema(&base))),
        _ => Err(ScimError::NotFound(format!("schema `{id}` not found"))),
    }
}

/// `GET /ResourceTypes`.
pub(crate) async fn resource_types_list(headers: HeaderMap) -> Response {
    let all = resource_types(&base_url(&headers));
    scim_json(StatusCode::OK, &list_response(all.len(), 1, all))
}

/// `GET /ResourceTypes/{id}`.
pub(crate) async fn resource_type(
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    resource_types(&base_url(&headers))
        .into_iter()
        .find(|r| r["id"] == Value::String(id.clone()))
        .map(|r| scim_json(StatusCode::OK, &r))
        .ok_or_else(|| ScimError::NotFound(format!("resource type `{id}` not found")))
}

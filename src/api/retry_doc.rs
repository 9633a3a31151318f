//! The answer every admin change may give besides its own: 503 with `Retry-After` when
//! its outcome is unknown (the database connection failed during the commit) or it
//! kept meeting lock conflicts after its retries (see `error`, and docs/RELIABILITY.md,
//! "Concurrent admin changes"). Added to every changing operation of the OpenAPI
//! document in one place, so no route can forget it.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Content, OpenApi, Ref, ResponseBuilder};

/// Adds the 503 answer to every `POST`, `PUT`, `PATCH` and `DELETE` operation of `doc`.
pub(super) fn add_retry_after(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            add(op);
        }
    }
}

fn add(op: &mut Operation) {
    let retry_after = HeaderBuilder::new()
        .schema(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1)),
        )
        .description(Some(
            "seconds to wait before looking and sending the change again",
        ))
        .build();
    let response = ResponseBuilder::new()
        .description(
            "the change's outcome is unknown (the database connection failed while it was \
             being committed) or it kept meeting lock conflicts: look at the current state, \
             then send it again; a change is never half applied",
        )
        .header("Retry-After", retry_after)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("ErrorBody"))),
        )
        .build();
    op.responses
        .responses
        .entry("503".to_string())
        .or_insert_with(|| response.into());
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_change_lists_503_with_retry_after_and_no_read_does() {
        let doc: serde_json::Value = serde_json::from_str(super::super::openapi()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let mut changes = 0;
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                let has = op["responses"]
                    .get("503")
                    .is_some_and(|r| r["headers"].get("Retry-After").is_some());
                match method.as_str() {
                    "post" | "put" | "patch" | "delete" => {
                        changes += 1;
                        assert!(has, "{method} {path} lacks 503 with Retry-After");
                    }
                    "get" => assert!(!has, "{method} {path}"),
                    _ => {}
                }
            }
        }
        assert!(changes > 10, "{changes} changing operations");
        assert!(paths["/api/v1/users/{username}/block"]["post"].is_object());
    }
}

//! The admin API against a real `serve`: every route documented in the OpenAPI document
//! and guarded by the admin token; each resource's success, 400, 404 and 409 answers;
//! the admin audit log (tokens: `api_tokens.rs`; reports and CSV: `api_reports.rs`).

use crate::common;

use std::collections::BTreeSet;

use common::admin::{request, Api};
use common::{Engine, Gate, GateOptions};
use serde_json::{json, Value};

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

async fn gate(engine: Engine) -> (Gate, Api) {
    let gate = Gate::start(GateOptions {
        engine,
        ..Default::default()
    })
    .await;
    let api = Api::new(&gate, "tester").await;
    (gate, api)
}

/// (method, path) of every operation in the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

fn fill(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => in_param = true,
            '}' => {
                in_param = false;
                out.push_str("nobody");
            }
            _ if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

#[tokio::test]
async fn every_route_is_documented_and_needs_a_token() {
    let (gate, api) = gate(Engine::Sqlite).await;
    let doc = request("GET", &format!("{}/api/v1/openapi.json", api.base), &[], "").await;
    assert_eq!(doc.status, 200, "openapi.json needs no token");
    let doc = doc.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let ops = operations(&doc);
    // Every success answer names its shape: a schema reference or a typed array of one,
    // never a bare `object` that tells a client nothing.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, answer) in op["responses"].as_object().unwrap() {
                let Some(schema) = answer.pointer("/content/application~1json/schema") else {
                    continue;
                };
                if !status.starts_with('2') || path.ends_with("openapi.json") {
                    continue;
                }
                let shape = schema.get("items").unwrap_or(schema);
                assert!(
                    shape.get("$ref").is_some() || shape.get("properties").is_some(),
                    "{method} {path} {status} has no schema: {schema}"
                );
            }
        }
    }
    for (m, p) in [
        ("GET", "/api/v1/teams"),
        ("POST", "/api/v1/teams"),
        ("GET", "/api/v1/teams/{team}"),
        ("PATCH", "/api/v1/teams/{team}/limits"),
        ("DELETE", "/api/v1/teams/{team}"),
        ("GET", "/api/v1/users"),
        ("POST", "/api/v1/users"),
        ("GET", "/api/v1/users/{username}"),
        ("PATCH", "/api/v1/users/{username}/limits"),
        ("DELETE", "/api/v1/users/{username}"),
        ("POST", "/api/v1/users/{username}/keys"),
        ("GET", "/api/v1/keys"),
        ("POST", "/api/v1/keys/{access_key_id}/revoke"),
        ("GET", "/api/v1/limits"),
        ("GET", "/api/v1/blocks"),
        ("POST", "/api/v1/users/{username}/block"),
        ("POST", "/api/v1/users/{username}/unblock"),
        ("POST", "/api/v1/users/{username}/protect"),
        ("POST", "/api/v1/users/{username}/unprotect"),
        ("GET", "/api/v1/prices"),
        ("PUT", "/api/v1/prices"),
        ("GET", "/api/v1/usage"),
        ("GET", "/api/v1/aggregates"),
        ("GET", "/api/v1/audit/blocking"),
        ("GET", "/api/v1/audit/admin"),
        ("POST", "/api/v1/reset"),
        ("POST", "/api/v1/cloudtrail/events"),
        ("GET", "/api/v1/users/{username}/iam-links"),
        ("POST", "/api/v1/users/{username}/iam-links"),
        ("DELETE", "/api/v1/users/{username}/iam-links/{principal}"),
        ("GET", "/api/v1/admin/tokens"),
        ("POST", "/api/v1/admin/tokens"),
        ("POST", "/api/v1/admin/tokens/{name}/revoke"),
        ("GET", "/api/v1/openapi.json"),
    ] {
        assert!(
            ops.contains(&(m.into(), p.into())),
            "{m} {p} is not documented"
        );
    }
    let paths: BTreeSet<&String> = ops.iter().map(|(_, p)| p).collect();
    for path in paths {
        let url = format!("{}{}", api.base, fill(path));
        for method in METHODS {
            let documented = ops.contains(&(method.to_string(), path.clone()));
            if !documented {
                // Routed methods are exactly the documented ones.
                let a = api.raw(method, &fill(path), "").await;
                assert_eq!(a.status, 405, "{method} {path} answers {}", a.status);
                assert!(a.message().contains("does not take"));
                continue;
            }
            // The two public routes: the document and the dashboard's login (which
            // takes the token in its body; tests/it/api_session.rs).
            if path == "/api/v1/openapi.json" || path == "/api/v1/session/login" {
                continue;
            }
            for auth in [None, Some("Bearer bga_wrong"), Some("Basic dXNlcjpwYXNz")] {
                let headers: Vec<(&str, &str)> =
                    auth.iter().map(|a| ("authorization", *a)).collect();
                let a = request(method, &url, &headers, "{}").await;
                assert_eq!(a.status, 401, "{method} {path} with {auth:?}: {}", a.text);
                assert_eq!(a.header("www-authenticate").as_deref(), Some("Bearer"));
                assert!(!a.message().is_empty());
            }
        }
    }
    for unknown in ["/api/v1/nope", "/nope", "/api/v1/teams/x/y/z"] {
        let a = api.call("GET", unknown, None).await;
        assert_eq!(a.status, 404, "{unknown}");
        assert!(a.message().contains("no route"), "{}", a.text);
    }
    let health = request("GET", &format!("{}/healthz", api.base), &[], "").await;
    assert_eq!(health.status, 200, "health checks stay open");
    gate.stop().await;
}

#[tokio::test]
async fn teams_and_bad_input() {
    let (gate, api) = gate(Engine::Sqlite).await;
    let body =
        json!({"name": "research", "limits": {"daily_requests": 10, "monthly_budget_usd": 5.5}});
    let a = api.call("POST", "/api/v1/teams", Some(body.clone())).await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.json()["limits"]["daily_requests"], 10);
    assert_eq!(a.json()["limits"]["monthly_requests"], Value::Null);
    let dup = api.call("POST", "/api/v1/teams", Some(body)).await;
    assert_eq!(dup.status, 409);
    assert!(dup.message().contains("already exists"), "{}", dup.text);

    for (raw, names) in [
        (r#"{"name": "bad name"}"#, "team name"),
        (r#"{"name": 5}"#, "name"),
        (r#"{"nam": "x"}"#, "nam"),
        (
            r#"{"name": "x", "limits": {"daily_requests": "ten"}}"#,
            "limits.daily_requests",
        ),
        (
            r#"{"name": "x", "limits": {"daily_requests": -1}}"#,
            "daily_requests",
        ),
        (r#"{"name": "x""#, "JSON"),
        ("", "name"),
    ] {
        let a = api.raw("POST", "/api/v1/teams", raw).await;
        assert_eq!(a.status, 400, "{raw}: {}", a.text);
        let m = a.message();
        assert!(m.contains(names), "{raw}: `{m}` should name {names}");
    }

    let list = api.get_ok("/api/v1/teams").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let info = api.get_ok("/api/v1/teams/research").await;
    assert_eq!(info["members"], json!([]));
    assert_eq!(
        api.call("GET", "/api/v1/teams/nope", None).await.status,
        404
    );

    let a = api
        .call(
            "PATCH",
            "/api/v1/teams/research/limits",
            Some(json!({"daily_requests": null, "monthly_requests": 100})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json()["limits"]["daily_requests"], Value::Null);
    assert_eq!(a.json()["limits"]["monthly_requests"], 100);
    assert_eq!(
        a.json()["limits"]["monthly_budget_usd"],
        5.5,
        "absent fields stay"
    );
    let empty = api
        .call("PATCH", "/api/v1/teams/research/limits", Some(json!({})))
        .await;
    assert_eq!(empty.status, 400);
    let unknown = api
        .call(
            "PATCH",
            "/api/v1/teams/nope/limits",
            Some(json!({"daily_requests": 1})),
        )
        .await;
    assert_eq!(unknown.status, 404);
    let q = api.call("GET", "/api/v1/teams?frmat=csv", None).await;
    assert_eq!(q.status, 400);
    assert!(q.message().contains("frmat"), "{}", q.text);

    gate.user("ann", "research").await;
    let busy = api.call("DELETE", "/api/v1/teams/research", None).await;
    assert_eq!(busy.status, 409, "{}", busy.text);
    assert_eq!(
        api.call("DELETE", "/api/v1/users/ann", None).await.status,
        200
    );
    let gone = api.call("DELETE", "/api/v1/teams/research", None).await;
    assert_eq!(gone.status, 200, "{}", gone.text);
    assert_eq!(gone.json(), json!({"deleted": "research"}));
    assert_eq!(
        api.call("DELETE", "/api/v1/teams/research", None)
            .await
            .status,
        404
    );
    gate.stop().await;
}

#[tokio::test]
async fn users_keys_blocks_and_prices() {
    let (gate, api) = gate(Engine::Sqlite).await;
    api.call("POST", "/api/v1/teams", Some(json!({"name": "t"})))
        .await;
    let new = json!({"username": "bob", "person_name": "Bob B", "team": "t", "email": "b@example.com",
                     "language": "es", "limits": {"monthly_budget_usd": 20}});
    let a = api.call("POST", "/api/v1/users", Some(new.clone())).await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.json()["language"], "es");
    assert_eq!(
        a.json()["limits"]["daily_requests"],
        350,
        "configured default"
    );
    assert_eq!(
        api.call("POST", "/api/v1/users", Some(new)).await.status,
        409
    );
    let no_team = json!({"username": "x", "person_name": "X", "team": "nope"});
    assert_eq!(
        api.call("POST", "/api/v1/users", Some(no_team))
            .await
            .status,
        404
    );
    let bad = json!({"username": "x", "person_name": "X", "team": "t", "language": "fr"});
    let a = api.call("POST", "/api/v1/users", Some(bad)).await;
    assert_eq!(a.status, 400);
    assert!(a.message().contains("language"), "{}", a.text);
    let bad_email = json!({"username": "x", "person_name": "X", "team": "t", "email": "nope"});
    assert_eq!(
        api.call("POST", "/api/v1/users", Some(bad_email))
            .await
            .status,
        400
    );

    let users = api.get_ok("/api/v1/users?team=t").await;
    assert_eq!(users[0]["username"], "bob");
    assert_eq!(users[0]["usage"]["day"]["requests"], 0);
    assert_eq!(
        api.call("GET", "/api/v1/users?team=nope", None)
            .await
            .status,
        404
    );
    assert_eq!(
        api.call("GET", "/api/v1/users/nope", None).await.status,
        404
    );
    let a = api
        .call(
            "PATCH",
            "/api/v1/users/bob/limits",
            Some(json!({"daily_requests": 5})),
        )
        .await;
    assert_eq!(a.json()["limits"]["daily_requests"], 5);

    // Keys: issued once with the secret, listed without it, revoked once.
    let a = api
        .call(
            "POST",
            "/api/v1/users/bob/keys",
            Some(json!({"tool": "claude-code"})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let key = a.json();
    let id = key["access_key_id"].as_str().unwrap().to_string();
    assert!(key["secret_access_key"].as_str().unwrap().len() >= 40);
    assert!(key["bearer_token"].is_string());
    assert_eq!(
        api.call(
            "POST",
            "/api/v1/users/nope/keys",
            Some(json!({"tool": "x"}))
        )
        .await
        .status,
        404
    );
    assert_eq!(
        api.call("POST", "/api/v1/users/bob/keys", Some(json!({})))
            .await
            .status,
        400
    );
    let keys = api.get_ok("/api/v1/keys?user=bob").await;
    assert_eq!(keys[0]["access_key_id"], id.as_str());
    assert!(keys[0].get("secret_access_key").is_none());
    gate.wait_key_known(key["bearer_token"].as_str().unwrap(), true)
        .await;
    let revoke = format!("/api/v1/keys/{id}/revoke");
    assert_eq!(api.call("POST", &revoke, None).await.status, 200);
    assert_eq!(api.call("POST", &revoke, None).await.status, 404);
    gate.wait_key_known(key["bearer_token"].as_str().unwrap(), false)
        .await;

    // Blocks.
    let a = api
        .call(
            "POST",
            "/api/v1/users/bob/block",
            Some(json!({"duration": "2h", "reason": "testing"})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json()["blocked"], true);
    assert_eq!(a.json()["blocked_reason"], "testing");
    let a = api
        .call(
            "POST",
            "/api/v1/users/bob/block",
            Some(json!({"duration": "5x"})),
        )
        .await;
    assert_eq!(a.status, 400);
    assert!(a.message().contains("duration"), "{}", a.text);
    assert_eq!(
        api.call("POST", "/api/v1/users/nope/block", None)
            .await
            .status,
        404
    );
    let blocks = api.get_ok("/api/v1/blocks").await;
    assert_eq!(blocks[0]["username"], "bob");
    let info = api.get_ok("/api/v1/users/bob").await;
    assert_eq!(info["blocked"], true);
    assert_eq!(
        api.call(
            "POST",
            "/api/v1/users/bob/unblock",
            Some(json!({"reason": "ok"}))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        api.call("POST", "/api/v1/users/bob/unblock", None)
            .await
            .status,
        409
    );
    let a = api.call("POST", "/api/v1/users/bob/protect", None).await;
    assert_eq!(a.json()["administrative_safe"], true);
    let a = api.call("POST", "/api/v1/users/bob/unprotect", None).await;
    assert_eq!(a.json()["administrative_safe"], false);
    let audit = api.get_ok("/api/v1/audit/blocking?user=bob").await;
    let ops: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["unprotect", "protect", "unblock", "block"]);
    assert_eq!(audit[0]["performed_by"], "api:tester");
    assert_eq!(
        api.call("GET", "/api/v1/audit/blocking?limit=-1", None)
            .await
            .status,
        400
    );

    // Prices: model ids with `:` and `/` travel in the body.
    let arn = "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0";
    let a = api
        .call(
            "PUT",
            "/api/v1/prices",
            Some(json!({"model_id": arn, "input_per_1k": 0.5, "output_per_1k": 1.5})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        a.json()["model_id"],
        "anthropic.claude-3-haiku-20240307-v1:0"
    );
    let prices = api.get_ok("/api/v1/prices").await;
    let haiku = prices
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["model_id"] == "anthropic.claude-3-haiku-20240307-v1:0")
        .unwrap();
    assert_eq!(haiku["input_per_1k"], 0.5);
    let neg = api
        .call(
            "PUT",
            "/api/v1/prices",
            Some(json!({"model_id": "m", "input_per_1k": -1, "output_per_1k": 1})),
        )
        .await;
    assert_eq!(neg.status, 400);
    let missing = api
        .call("PUT", "/api/v1/prices", Some(json!({"model_id": "m"})))
        .await;
    assert_eq!(missing.status, 400);
    assert!(
        missing.message().contains("input_per_1k"),
        "{}",
        missing.text
    );

    let limits = api.get_ok("/api/v1/limits").await;
    assert_eq!(
        limits[0],
        json!({"kind": "team", "name": "t", "limits": {"daily_requests": null,
        "monthly_requests": null, "daily_budget_usd": null, "monthly_budget_usd": null,
        "rpm": null, "tpm": null, "max_concurrent": null}})
    );
    assert_eq!(limits[1]["name"], "bob");
    assert_eq!(limits[1]["limits"]["daily_requests"], 5);

    let reset = api.call("POST", "/api/v1/reset", None).await;
    assert_eq!(reset.status, 200, "{}", reset.text);
    assert!(reset.json()["day"].is_string());
    let ct = api
        .call("POST", "/api/v1/cloudtrail/events", Some(json!([1])))
        .await;
    assert_eq!(ct.status, 400);
    assert_eq!(ct.message(), "event 0 is not a JSON object");
    let ct = api
        .call("POST", "/api/v1/cloudtrail/events", Some(json!([])))
        .await;
    assert_eq!(ct.status, 202, "{}", ct.text);
    assert_eq!(ct.json()["records"], 0);
    assert_eq!(
        api.call("DELETE", "/api/v1/users/bob", None).await.status,
        200
    );
    assert_eq!(
        api.call("DELETE", "/api/v1/users/bob", None).await.status,
        404
    );
    gate.stop().await;
}

#[tokio::test]
async fn the_admin_audit_log_names_the_token_and_the_change() {
    for engine in common::engines() {
        let (gate, api) = gate(engine).await;
        api.call("POST", "/api/v1/teams", Some(json!({"name": "t"})))
            .await;
        let new = json!({"username": "cy", "person_name": "Cy", "team": "t", "limits": {"daily_requests": 10}});
        assert_eq!(
            api.call("POST", "/api/v1/users", Some(new)).await.status,
            201
        );
        let a = api
            .call(
                "PATCH",
                "/api/v1/users/cy/limits",
                Some(json!({"daily_requests": 20})),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.text);

        let page = api.get_ok("/api/v1/audit/admin?resource=user:cy").await;
        let e = &page["entries"][0];
        assert_eq!(e["operation"], "set_user_limits");
        assert_eq!(e["actor"], "api:tester");
        assert_eq!(e["before"]["daily_requests"], 10);
        assert_eq!(e["after"]["daily_requests"], 20);
        assert_eq!(page["entries"][1]["operation"], "create_user");
        assert_eq!(page["entries"][1]["before"], Value::Null);

        // Filters and paging: every entry once, newest first.
        let all = api.get_ok("/api/v1/audit/admin?actor=api:tester").await;
        let all: Vec<i64> = all["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_i64().unwrap())
            .collect();
        assert_eq!(all.len(), 3, "team, user, limits");
        let mut seen = Vec::new();
        let mut path = "/api/v1/audit/admin?actor=api:tester&limit=1".to_string();
        loop {
            let p = api.get_ok(&path).await;
            seen.extend(
                p["entries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["id"].as_i64().unwrap()),
            );
            match p["next_cursor"].as_str() {
                Some(c) => {
                    path = format!("/api/v1/audit/admin?actor=api:tester&limit=1&cursor={c}")
                }
                None => break,
            }
        }
        assert_eq!(seen, all);
        let ops = api
            .get_ok("/api/v1/audit/admin?operation=create_team")
            .await;
        assert_eq!(ops["entries"].as_array().unwrap().len(), 1);
        for bad in ["operation=nope", "cursor=zz", "limit=0", "from=yesterday"] {
            let a = api
                .call("GET", &format!("/api/v1/audit/admin?{bad}"), None)
                .await;
            assert_eq!(a.status, 400, "{bad}: {}", a.text);
        }
        // The CLI's actor is recorded the same way.
        gate.ops
            .set_user_limits(
                &bedrock_gate::domain::Actor::system("cli:root"),
                "cy",
                &bedrock_gate::domain::LimitsUpdate {
                    daily_requests: Some(None),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let p = api.get_ok("/api/v1/audit/admin?actor=cli:root").await;
        assert_eq!(p["entries"][0]["after"]["daily_requests"], Value::Null);
        gate.stop().await;
    }
}

//! Admin tokens against a real `serve`: created and revoked through the API and the
//! command line (`admin create-token|list-tokens|revoke-token|audit`), revoked tokens
//! refused, a token created elsewhere accepted on its first use.

use crate::common;

use std::process::Command;

use common::admin::Api;
use common::{Engine, Gate, GateOptions};
use serde_json::{json, Value};

async fn gate(engine: Engine) -> (Gate, Api) {
    let gate = Gate::start(GateOptions {
        engine,
        ..Default::default()
    })
    .await;
    let api = Api::new(&gate, "tester").await;
    (gate, api)
}

#[tokio::test]
async fn revoked_tokens_get_401() {
    let (gate, api) = gate(Engine::Sqlite).await;
    let a = api
        .call("POST", "/api/v1/admin/tokens", Some(json!({"name": "bot"})))
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let bot = Api {
        base: api.base.clone(),
        token: a.json()["token"].as_str().unwrap().to_string(),
    };
    assert!(bot.token.starts_with("bga_") && bot.token.len() >= 4 + 43);
    assert_eq!(bot.call("GET", "/api/v1/teams", None).await.status, 200);
    let dup = api
        .call("POST", "/api/v1/admin/tokens", Some(json!({"name": "bot"})))
        .await;
    assert_eq!(dup.status, 409);
    let listed = api.get_ok("/api/v1/admin/tokens").await;
    assert!(
        listed.to_string().find(&bot.token).is_none(),
        "never the token"
    );

    // Revoked through the API: refused at once.
    assert_eq!(
        api.call("POST", "/api/v1/admin/tokens/bot/revoke", None)
            .await
            .status,
        200
    );
    let a = bot.call("GET", "/api/v1/teams", None).await;
    assert_eq!(a.status, 401);
    assert_eq!(
        api.call("POST", "/api/v1/admin/tokens/bot/revoke", None)
            .await
            .status,
        404
    );

    // Revoked elsewhere (as the CLI does, on the database): refused within the cache's
    // lifetime.
    gate.ops
        .revoke_admin_token(&bedrock_gate::domain::Actor::system("cli:root"), "tester")
        .await
        .unwrap();
    api.until("GET", "/api/v1/teams", |a| a.status == 401).await;
    gate.stop().await;
}

/// A token created elsewhere (the CLI, another proxy: on the database, not through
/// this listener) works on its first use, although the listener read the active tokens
/// a moment before. (The dashboard's end-to-end test logs in with a token made so.)
#[tokio::test]
async fn a_token_created_elsewhere_works_at_once() {
    let (gate, api) = gate(Engine::Sqlite).await;
    assert_eq!(api.call("GET", "/api/v1/teams", None).await.status, 200);
    let created = gate
        .ops
        .create_admin_token(
            &bedrock_gate::domain::Actor::system("cli:root"),
            "fresh",
            bedrock_gate::domain::TokenScope::Admin,
        )
        .await
        .unwrap();
    let fresh = Api {
        base: api.base.clone(),
        token: created.token,
    };
    let a = fresh.call("GET", "/api/v1/teams", None).await;
    assert_eq!(a.status, 200, "{}", a.text);
    // A wrong token is still refused.
    let wrong = Api {
        base: api.base.clone(),
        token: "bga_wrong".into(),
    };
    assert_eq!(wrong.call("GET", "/api/v1/teams", None).await.status, 401);
    gate.stop().await;
}

#[tokio::test]
async fn cli_admin_token_commands() {
    let (gate, api) = gate(Engine::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gate.toml");
    std::fs::write(&cfg, format!("[database]\nurl = \"{}\"\n", gate.db_url())).unwrap();
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_bedrock-gate"))
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .env("USER", "root")
            .env_remove("SUDO_USER")
            .env_remove("BEDROCK_GATE_CONFIG")
            .output()
            .unwrap()
    };
    let out = cli(&["--output", "json", "admin", "create-token", "ops"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["name"], "ops");
    let token = created["token"].as_str().unwrap().to_string();
    let text = cli(&["admin", "create-token", "ops2"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("bga_"));
    let dup = cli(&["admin", "create-token", "ops"]);
    assert_eq!(dup.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));

    let ops = Api {
        base: api.base.clone(),
        token: token.clone(),
    };
    assert_eq!(ops.call("GET", "/api/v1/teams", None).await.status, 200);

    let out = cli(&["--output", "json", "admin", "list-tokens"]);
    let list = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(list.contains("\"ops\"") && !list.contains(&token), "{list}");
    let out = cli(&["admin", "revoke-token", "ops"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        cli(&["admin", "revoke-token", "ops"]).status.code(),
        Some(1)
    );
    ops.until("GET", "/api/v1/teams", |a| a.status == 401).await;

    let out = cli(&["--output", "json", "admin", "audit", "--actor", "cli:root"]);
    let audit: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ops: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["revoke_token", "create_token", "create_token"]);
    gate.stop().await;
}

//! Sign-in against a real OpenID provider: npm `oidc-provider` (pinned in
//! tests/js/package.json, installed by `npm ci --prefix tests/js`), run by
//! tests/js/oidc-provider.mjs on port 0 with scripted users, hands out ID tokens through
//! its own authorization code flow. The proxy exchanges them at
//! `POST /_gate/v1/credentials` for keys that the AWS SDK for Rust then calls with,
//! recorded for the signed-in user in the team their group maps to, until the key's
//! expiry, after which it is refused with `ExpiredTokenException`. Tokens from another
//! issuer, tampered, expired or for another audience are refused with 401, and nothing
//! is created.
//!
//! A missing node or `oidc-provider` is a skip, unless `GATE_TEST_REQUIRE_CLIENTS=1`.

use crate::common;

use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};
use base64::Engine as _;
use bedrock_gate::auth::crypto::IssuedKey;
use bedrock_gate::domain::{Actor, LimitsUpdate};
use common::local::error_type;
use common::oidc::{exchange, provider, Provider};
use common::{Engine, Gate, GateOptions};
use serde_json::Value;

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

fn oidc_config(issuer: &str, ttl: &str) -> String {
    format!(
        "[oidc]\ncredential_ttl = \"{ttl}\"\nclock_skew = \"0s\"\n\
         [oidc.teams]\n\"ml-devs\" = \"ml\"\n\"data-devs\" = \"data\"\n\
         [[oidc.issuer]]\nname = \"corp\"\nissuer = \"{issuer}\"\nclient_id = \"gate\"\n\
         client_secret = \"gate-secret\"\n"
    )
}

async fn start(issuer: &str, ttl: &str, engine: Engine) -> Gate {
    let gate = Gate::start(GateOptions {
        extra_config: oidc_config(issuer, ttl),
        engine,
        ..Default::default()
    })
    .await;
    gate.ops
        .create_team(&Actor::api("test"), "ml", &LimitsUpdate::default())
        .await
        .unwrap();
    gate.ops
        .create_team(&Actor::api("test"), "data", &LimitsUpdate::default())
        .await
        .unwrap();
    gate
}

fn message() -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text("hi".into()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_id_token_becomes_a_key_that_calls_until_it_expires() {
    let Some(op) = provider().await else { return };
    for engine in common::engines() {
        signs_in_calls_and_expires(&op, engine).await;
    }
}

async fn signs_in_calls_and_expires(op: &Provider, engine: Engine) {
    let gate = start(&op.issuer, "3s", engine).await;

    let (status, body) = common::http_get(&format!("{}/_gate/v1/issuers", gate.url))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let issuers: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        issuers["issuers"],
        serde_json::json!([{"name": "corp", "issuer": op.issuer, "client_id": "gate"}])
    );
    assert!(!body.contains("gate-secret"));

    let token = op.id_token("alice", "gate", 3600).await;
    let (status, cred) = exchange(&gate, &token).await;
    assert_eq!(status, 200, "{cred}");
    assert_eq!(cred["user"], "alice@corp.example");
    assert_eq!(cred["team"], "ml");
    let expiration = chrono::DateTime::parse_from_rfc3339(cred["expiration"].as_str().unwrap())
        .unwrap()
        .timestamp();
    let now = chrono::Utc::now().timestamp();
    assert!((now + 1..=now + 4).contains(&expiration), "{cred}");
    let key = IssuedKey {
        access_key_id: cred["access_key_id"].as_str().unwrap().into(),
        secret_access_key: cred["secret_access_key"].as_str().unwrap().into(),
        bearer_token: cred["bearer_token"].as_str().unwrap().into(),
    };

    // The user was created just in time, in the mapped team, by `oidc:<user>`.
    let info = gate.ops.user_info("alice@corp.example").await.unwrap();
    let info = serde_json::to_value(&info).unwrap();
    assert_eq!(info["team"], "ml", "{info}");
    if engine == Engine::Sqlite {
        let db = sqlx::SqlitePool::connect(&gate.db_url()).await.unwrap();
        let audit: Vec<(String, String)> = sqlx::query_as(
            "SELECT operation, resource FROM admin_audit_log WHERE actor = ? ORDER BY id",
        )
        .bind("oidc:alice@corp.example")
        .fetch_all(&db)
        .await
        .unwrap();
        assert_eq!(
            audit[0],
            ("create_user".into(), "user:alice@corp.example".into())
        );
        assert_eq!(audit[1].0, "issue_key", "{audit:?}");
        db.close().await;
    }

    // The key calls (SigV4 through the AWS SDK for Rust), recorded for alice in `ml`.
    gate.wait_key_known(&key.bearer_token, true).await;
    let client = common::sdk_client(&gate.url, &key);
    client
        .converse()
        .model_id(MODEL)
        .messages(message())
        .send()
        .await
        .unwrap();
    let records = gate.records(1).await;
    assert_eq!(records[0].username, "alice@corp.example");
    assert_eq!(records[0].team, "ml");
    assert_eq!(records[0].access_key_id, key.access_key_id);

    // Past its expiry, the key is refused as expired, by bearer and by SigV4.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, r) = common::converse(&gate.url, &key.bearer_token).await;
        if status == 403 {
            assert_eq!(error_type(&r), "ExpiredTokenException");
            assert!(String::from_utf8_lossy(r.body()).contains("expired"));
            break;
        }
        assert_eq!(status, 200);
        assert!(Instant::now() < deadline, "the key never expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let err = client
        .converse()
        .model_id(MODEL)
        .messages(message())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ExpiredTokenException"), "{err:?}");

    // A user whose groups map to no team (and no default team) is refused, not created.
    let token = op.id_token("bob", "gate", 3600).await;
    let (status, body) = exchange(&gate, &token).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("[oidc.teams]"),
        "{body}"
    );
    assert!(gate.ops.user_info("bob@corp.example").await.is_err());

    // Signing in again issues a new key; when the user's groups now map to another
    // team, the user moves there.
    let token = op.id_token("alice", "gate", 3600).await;
    let (status, again) = exchange(&gate, &token).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["team"], "ml");
    assert_ne!(again["access_key_id"], cred["access_key_id"]);
    let token = op.id_token_in("alice", &["data-devs"]).await;
    let (status, moved) = exchange(&gate, &token).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["team"], "data");
    let info =
        serde_json::to_value(gate.ops.user_info("alice@corp.example").await.unwrap()).unwrap();
    assert_eq!(info["team"], "data", "{info}");
    gate.stop().await;
}

#[tokio::test]
async fn bad_id_tokens_are_refused_and_create_nothing() {
    let Some(op) = provider().await else { return };
    let Some(stranger) = provider().await else {
        return;
    };
    let gate = start(&op.issuer, "1h", Engine::Sqlite).await;
    let refused = |(status, body): (u16, Value), words: &str| {
        assert_eq!(status, 401, "{body}");
        let m = body["message"].as_str().unwrap().to_string();
        assert!(m.contains(words), "expected {words:?} in {m:?}");
    };

    let other_issuer = stranger.id_token("alice", "gate", 3600).await;
    refused(exchange(&gate, &other_issuer).await, "does not trust");

    let wrong_audience = op.id_token("alice", "other-app", 3600).await;
    refused(exchange(&gate, &wrong_audience).await, "audience");

    let good = op.id_token("alice", "gate", 3600).await;
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&b64.decode(&parts[1]).unwrap()).unwrap();
    claims["email"] = "mallory@corp.example".into();
    parts[1] = b64.encode(claims.to_string());
    refused(exchange(&gate, &parts.join(".")).await, "signature");

    let short = op.id_token("alice", "gate", 1).await;
    let exp = {
        let c: Value =
            serde_json::from_slice(&b64.decode(short.split('.').nth(1).unwrap()).unwrap()).unwrap();
        c["exp"].as_i64().unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while chrono::Utc::now().timestamp() <= exp {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    refused(exchange(&gate, &short).await, "expired");

    refused(exchange(&gate, "not.a.token").await, "");
    let (status, _) =
        common::raw_post(&format!("{}/_gate/v1/credentials", gate.url), &[], b"").await;
    assert_eq!(status, 401);

    assert!(gate.ops.users(None).await.unwrap().is_empty());
    assert!(gate.ops.keys(None).await.unwrap().is_empty());
    gate.stop().await;
}

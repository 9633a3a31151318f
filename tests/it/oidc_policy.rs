//! Policy per group and what sign-in makes visible, against a real OpenID provider
//! (tests/common/oidc.rs): a team's limits hold for the users sign-in creates in it; an
//! `[oidc.teams]` entry in table form gives the users it places default limits, at the
//! first sign-in and when a sign-in moves them, never over limits an administrator
//! set; sign-ins and their refusals are counted in `/metrics` by issuer and result,
//! proxy refusals by reason; every sign-in has its `sign_in` audit row; each key's
//! expiry shows in the admin API, the user's page (dashboard JSON) and `user info`.
//!
//! A missing node or `oidc-provider` is a skip, unless `GATE_TEST_REQUIRE_CLIENTS=1`.

use crate::common;

use bedrock_gate::auth::crypto::IssuedKey;
use bedrock_gate::domain::{Actor, LimitsUpdate};
use common::local::error_type;
use common::oidc::{exchange, provider, Provider};
use common::{Engine, Gate, GateOptions};
use serde_json::Value;

/// `POST /_gate/v1/credentials` that must succeed; the key and the body.
async fn signed_in(gate: &Gate, token: &str) -> (IssuedKey, Value) {
    let (status, cred) = exchange(gate, token).await;
    assert_eq!(status, 200, "{cred}");
    let key = IssuedKey {
        access_key_id: cred["access_key_id"].as_str().unwrap().into(),
        secret_access_key: cred["secret_access_key"].as_str().unwrap().into(),
        bearer_token: cred["bearer_token"].as_str().unwrap().into(),
    };
    (key, cred)
}

/// The sum of `/metrics` samples named `name` (as written, `_total` included) whose
/// labels include every `k="v"` of `labels`.
async fn metric(gate: &Gate, name: &str, labels: &[(&str, &str)]) -> f64 {
    let (status, text) = common::http_get(&format!("{}/metrics", gate.admin_url))
        .await
        .unwrap();
    assert_eq!(status, 200);
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

/// The user's JSON view (`user info` / `GET /api/v1/users/{name}`).
async fn info(gate: &Gate, user: &str) -> Value {
    serde_json::to_value(gate.ops.user_info(user).await.unwrap()).unwrap()
}

fn policy_config(issuer: &str) -> String {
    format!(
        "[quota]\ndefault_daily_requests = 350\ndefault_monthly_requests = 5000\n\
         [oidc]\ncredential_ttl = \"1h\"\nclock_skew = \"0s\"\n\
         [oidc.teams]\n\
         \"ml-devs\" = {{ team = \"ml\", daily_requests = 2, monthly_budget_usd = 50 }}\n\
         \"data-devs\" = \"data\"\n\
         \"ops-devs\" = {{ team = \"ops\", daily_requests = 7 }}\n\
         \"lost-devs\" = \"nowhere\"\n\
         [[oidc.issuer]]\nname = \"corp\"\nissuer = \"{issuer}\"\nclient_id = \"gate\"\n"
    )
}

#[tokio::test]
async fn group_policy_limits_and_what_sign_in_makes_visible() {
    let Some(op) = provider().await else { return };
    for engine in common::engines() {
        group_policy(&op, engine).await;
    }
}

async fn group_policy(op: &Provider, engine: Engine) {
    let gate = Gate::start(GateOptions {
        extra_config: policy_config(&op.issuer),
        engine,
        ..Default::default()
    })
    .await;
    let admin = Actor::api("test");
    for (team, daily) in [("ml", None), ("data", Some(1)), ("ops", None)] {
        let limits = LimitsUpdate {
            daily_requests: daily.map(Some),
            ..LimitsUpdate::default()
        };
        gate.ops.create_team(&admin, team, &limits).await.unwrap();
    }
    // Every result of the configured issuer is there at 0 before any sign-in.
    let ok = [("issuer", "corp"), ("result", "ok")];
    assert_eq!(metric(&gate, "bedrock_gate_sign_ins_total", &ok).await, 0.0);

    // A team's limits apply to users sign-in creates: `data` has room for one call a
    // day, shared; carol (data-devs, a plain entry) gets quota.default_*.
    let (carol, cred) = signed_in(&gate, &op.id_token("carol", "gate", 3600).await).await;
    assert_eq!(cred["team"], "data");
    let c = info(&gate, "carol@corp.example").await;
    assert_eq!(c["limits_source"], "defaults", "{c}");
    assert_eq!(c["limits"]["daily_requests"], 350, "{c}");
    gate.wait_key_known(&carol.bearer_token, true).await;
    let (status, _) = common::converse(&gate.url, &carol.bearer_token).await;
    assert_eq!(status, 200);
    let (status, r) = common::converse(&gate.url, &carol.bearer_token).await;
    assert_ne!(status, 200);
    assert_eq!(error_type(&r), "ServiceQuotaExceededException");

    // alice (ml-devs) is created with the group's defaults over quota.default_*; her own
    // limit of 2 a day holds.
    let (alice, cred) = signed_in(&gate, &op.id_token("alice", "gate", 3600).await).await;
    assert_eq!(cred["team"], "ml");
    let a = info(&gate, "alice@corp.example").await;
    assert_eq!(a["limits_source"], "group", "{a}");
    assert_eq!(a["limits"]["daily_requests"], 2, "{a}");
    assert_eq!(a["limits"]["monthly_requests"], 5000, "{a}");
    assert_eq!(a["limits"]["monthly_budget_usd"], 50.0, "{a}");
    gate.wait_key_known(&alice.bearer_token, true).await;
    for _ in 0..2 {
        let (status, r) = common::converse(&gate.url, &alice.bearer_token).await;
        assert_eq!(status, 200, "{:?}", r.body());
    }
    let (status, r) = common::converse(&gate.url, &alice.bearer_token).await;
    assert_ne!(status, 200);
    assert_eq!(error_type(&r), "ServiceQuotaExceededException");

    // A sign-in that moves alice gives her the new group's defaults (her limits were
    // never an administrator's); keys not given fall back to quota.default_*.
    signed_in(&gate, &op.id_token_in("alice", &["ops-devs"]).await).await;
    let a = info(&gate, "alice@corp.example").await;
    assert_eq!(
        (&a["team"], &a["limits_source"]),
        (&"ops".into(), &"group".into())
    );
    assert_eq!(a["limits"]["daily_requests"], 7, "{a}");
    assert_eq!(a["limits"]["monthly_budget_usd"], Value::Null, "{a}");

    // Once an administrator sets her limits, no sign-in changes them, even one that
    // moves her to a group with defaults.
    let three = LimitsUpdate {
        daily_requests: Some(Some(3)),
        ..LimitsUpdate::default()
    };
    gate.ops
        .set_user_limits(&admin, "alice@corp.example", &three)
        .await
        .unwrap();
    signed_in(&gate, &op.id_token_in("alice", &["ml-devs"]).await).await;
    let a = info(&gate, "alice@corp.example").await;
    assert_eq!(
        (&a["team"], &a["limits_source"]),
        (&"ml".into(), &"admin".into())
    );
    assert_eq!(a["limits"]["daily_requests"], 3, "{a}");
    assert_eq!(a["limits"]["monthly_budget_usd"], Value::Null, "{a}");

    // A user an administrator created with limits keeps them; one created without
    // (quota.default_*) takes the group's when sign-in moves them.
    let create = |name: &str, limits: LimitsUpdate| bedrock_gate::ops::users::CreateUser {
        username: format!("{name}@corp.example"),
        person_name: name.into(),
        team: "data".into(),
        limits,
        ..Default::default()
    };
    let five = LimitsUpdate {
        daily_requests: Some(Some(5)),
        ..LimitsUpdate::default()
    };
    gate.ops
        .create_user(&admin, &create("dave", five))
        .await
        .unwrap();
    gate.ops
        .create_user(&admin, &create("erin", LimitsUpdate::default()))
        .await
        .unwrap();
    for name in ["dave", "erin"] {
        let (_, cred) = signed_in(&gate, &op.id_token_in(name, &["ml-devs"]).await).await;
        assert_eq!(cred["team"], "ml");
    }
    let d = info(&gate, "dave@corp.example").await;
    assert_eq!(
        (&d["limits_source"], &d["limits"]["daily_requests"]),
        (&"admin".into(), &5.into())
    );
    let e = info(&gate, "erin@corp.example").await;
    assert_eq!(
        (&e["limits_source"], &e["limits"]["daily_requests"]),
        (&"group".into(), &2.into())
    );

    // Refused sign-ins are counted, by issuer and result, and create nothing.
    let (status, _) = exchange(&gate, &op.id_token("alice", "other-app", 3600).await).await;
    assert_eq!(status, 401);
    let (status, _) = exchange(&gate, &op.id_token("bob", "gate", 3600).await).await;
    assert_eq!(status, 403);
    let (status, body) = exchange(&gate, &op.id_token_in("frank", &["lost-devs"]).await).await;
    assert_eq!(status, 403);
    assert!(
        body["message"].as_str().unwrap().contains("team `nowhere`"),
        "{body}"
    );
    let (status, _) = exchange(&gate, "not.a.token").await;
    assert_eq!(status, 401);
    assert!(gate.ops.user_info("bob@corp.example").await.is_err());
    assert!(gate.ops.user_info("frank@corp.example").await.is_err());
    let count = |result: &'static str, issuer: &'static str| {
        let gate = &gate;
        async move {
            metric(
                gate,
                "bedrock_gate_sign_ins_total",
                &[("issuer", issuer), ("result", result)],
            )
            .await
        }
    };
    assert_eq!(count("ok", "corp").await, 6.0);
    assert_eq!(count("invalid_token", "corp").await, 1.0);
    assert_eq!(count("no_team", "corp").await, 2.0);
    assert_eq!(count("invalid_token", "(none)").await, 1.0);
    assert_eq!(count("issuer_unavailable", "corp").await, 0.0);
    // Refusals by the proxy are counted by reason.
    let refused = metric(
        &gate,
        "bedrock_gate_requests_total",
        &[("outcome", "refused"), ("reason", "quota_exceeded")],
    )
    .await;
    assert_eq!(refused, 2.0);

    // The audit log has a `sign_in` row per successful exchange, naming the issuer,
    // beside the key's `issue_key` row.
    let api = common::admin::Api::new(&gate, "audit-reader").await;
    let page = api
        .get_ok("/api/v1/audit/admin?operation=sign_in&resource=user:alice@corp.example")
        .await;
    let rows = page["entries"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{page}");
    assert_eq!(rows[0]["actor"], "oidc:alice@corp.example");
    assert_eq!(rows[0]["after"]["issuer"], "corp");
    assert_eq!(rows[0]["after"]["group"], "ml-devs");
    assert_eq!(rows[0]["after"]["team"], "ml");
    let issued = api
        .get_ok("/api/v1/audit/admin?operation=issue_key&actor=oidc:alice@corp.example")
        .await;
    assert_eq!(issued["entries"].as_array().unwrap().len(), 3, "{issued}");

    // Each key's expiry is visible: the admin API's keys, the user's page (dashboard
    // JSON) and `user info`. An administrator's key never expires.
    gate.issue_key("alice@corp.example", "claude-code").await;
    set_expired(&gate, &alice.access_key_id).await;
    let keys = api.get_ok("/api/v1/keys?user=alice@corp.example").await;
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 4);
    let by_id = |id: &str| {
        keys.iter()
            .find(|k| k["access_key_id"] == id)
            .unwrap()
            .clone()
    };
    let first = by_id(&alice.access_key_id);
    assert_eq!(first["expired"], true, "{first}");
    assert!(first["expires_at"].as_i64().unwrap() <= chrono::Utc::now().timestamp_millis());
    let admin_key = keys.iter().find(|k| k["tool"] == "claude-code").unwrap();
    assert_eq!(
        (&admin_key["expires_at"], &admin_key["expired"]),
        (&Value::Null, &false.into())
    );
    let page = api.get_ok("/api/v1/users/alice@corp.example").await;
    assert_eq!(page["limits_source"], "admin");
    let page_keys = page["keys"].as_array().unwrap();
    let live: Vec<_> = page_keys
        .iter()
        .filter(|k| k["tool"] == "oidc" && k["expired"] == false)
        .collect();
    assert_eq!(live.len(), 2, "{page}");
    for k in live {
        let at = k["expires_at"].as_i64().unwrap();
        let in_an_hour = chrono::Utc::now().timestamp_millis() + 3_600_000;
        assert!((in_an_hour - 600_000..=in_an_hour).contains(&at), "{k}");
        assert!(k["expires_at_rfc3339"].as_str().is_some(), "{k}");
    }
    if engine == Engine::Sqlite {
        user_info_text(&gate).await;
    }
    gate.stop().await;
}

/// Puts key `id`'s expiry a minute in the past (as if its time had run out).
async fn set_expired(gate: &Gate, id: &str) {
    let past = chrono::Utc::now().timestamp_millis() - 60_000;
    let sql = "UPDATE api_keys SET expires_at = ? WHERE access_key_id = ?";
    match gate.db_url().starts_with("sqlite") {
        true => {
            let db = sqlx::SqlitePool::connect(&gate.db_url()).await.unwrap();
            sqlx::query(sql)
                .bind(past)
                .bind(id)
                .execute(&db)
                .await
                .unwrap();
            db.close().await;
        }
        false => {
            let db = sqlx::MySqlPool::connect(&gate.db_url()).await.unwrap();
            sqlx::query(sql)
                .bind(past)
                .bind(id)
                .execute(&db)
                .await
                .unwrap();
            db.close().await;
        }
    }
}

/// `bedrock-gate user info` as an administrator reads it: the limits with who set them,
/// and every key with its expiry (`expired` past it, `never` for an administrator's).
async fn user_info_text(gate: &Gate) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gate.toml");
    std::fs::write(
        &config,
        format!("[database]\nurl = \"{}\"\n", gate.db_url()),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bedrock-gate"))
        .arg("--config")
        .arg(&config)
        .args(["user", "info", "alice@corp.example"])
        .env_remove("BEDROCK_GATE_CONFIG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(text.contains("(set by an administrator)"), "{text}");
    assert!(text.contains("EXPIRES"), "{text}");
    let line = |needle: &str| {
        text.lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(line(" expired ").len(), 1, "{text}");
    let admin_key = line("claude-code");
    assert!(admin_key[0].trim_end().ends_with("never"), "{text}");
    assert_eq!(
        line(" oidc ")
            .iter()
            .filter(|l| l.contains("active"))
            .count(),
        2,
        "{text}"
    );
}

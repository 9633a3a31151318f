//! Dashboard single sign-on end to end: the system's headless Chromium, driven by
//! playwright-core (tests/js/dashboard-sso.mjs), signs in through a real OpenID
//! provider (npm `oidc-provider`, tests/js/oidc-provider.mjs, with scripted users)
//! with the authorization code flow, PKCE, state and nonce, back to the gate's callback
//! on a port chosen at run time. Roles from groups: an admin changes a limit, a viewer
//! sees every page and is refused a change (403 naming the role), a team admin sees and
//! changes only their team. A wrong or replayed state, an ID token with another nonce or
//! from another issuer, and a user in no role group are each refused with a clear page
//! and no session. Afterwards the sessions' roles are in `admin_sessions` and the
//! changes in the admin audit log as `oidc:<username>`; admin tokens keep full rights.
//!
//! Chromium, node, playwright-core or oidc-provider missing is a skip, unless
//! `GATE_TEST_REQUIRE_CLIENTS=1`, which makes it a failure.

use crate::common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bedrock_gate::domain::{Actor, Limits};
use bedrock_gate::ops::users::CreateUser;
use common::admin::Api;
use common::clients::{clean_env, missing, node_available, run_for, show};
use common::{Engine, Gate, GateOptions};
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;
use tokio::process::Command;

/// The whole browser scenario must finish within this.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(240);
/// Checks tests/js/dashboard-sso.mjs makes.
const CHECKS: usize = 8;

fn chromium() -> String {
    std::env::var("GATE_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// A running tests/js/oidc-provider.mjs (killed when dropped).
struct Provider {
    _child: tokio::process::Child,
    issuer: String,
}

async fn provider(js: &Path) -> Provider {
    let mut child = Command::new("node")
        .arg(js.join("oidc-provider.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the provider did not start within 30 s")
        .unwrap()
        .expect("the provider printed nothing");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let v: Value = serde_json::from_str(&line).unwrap();
    Provider {
        _child: child,
        issuer: v["issuer"].as_str().unwrap().to_string(),
    }
}

fn sso_config(issuer: &str) -> String {
    format!(
        "[oidc]\nclock_skew = \"5s\"\n\
         admin_groups = [\"gate-admins\"]\nviewer_groups = [\"finance\"]\n\
         team_admin_groups = [\"leads\"]\n\
         [oidc.teams]\n\"ml-devs\" = \"ml\"\n\"data-devs\" = \"data\"\n\
         [[oidc.issuer]]\nname = \"corp\"\nissuer = \"{issuer}\"\nclient_id = \"dashboard\"\n\
         client_secret = \"dashboard-secret\"\n"
    )
}

#[tokio::test]
async fn dashboard_single_sign_on_with_roles_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let js = root.join("tests/js");
    if !Path::new(&chromium()).is_file() {
        missing("chromium is not installed (apt-get install -y chromium)");
        return;
    }
    if !js.join("node_modules/playwright-core").is_dir()
        || !js.join("node_modules/oidc-provider/package.json").is_file()
        || !node_available().await
    {
        missing("node with playwright-core and oidc-provider is not installed (npm ci --prefix tests/js)");
        return;
    }
    let op = provider(&js).await;
    let other = provider(&js).await;
    for engine in common::engines() {
        scenario(root, &op, &other, engine).await;
    }
}

async fn scenario(root: &Path, op: &Provider, other: &Provider, engine: Engine) {
    let gate = Gate::start(GateOptions {
        extra_config: sso_config(&op.issuer),
        engine,
        ..Default::default()
    })
    .await;
    // The login page offers the issuer.
    let (status, body) = common::http_get(&format!("{}/auth/oidc/issuers", gate.admin_url))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"issuers": [{"name": "corp", "start": "/auth/oidc/corp/start"}]})
    );
    gate.user_with_limits("mlu", "ml", Limits::default()).await;
    gate.user_with_limits("datau", "data", Limits::default())
        .await;

    let mut cmd = Command::new("node");
    cmd.arg(root.join("tests/js/dashboard-sso.mjs"));
    clean_env(&mut cmd);
    cmd.current_dir(root.join("tests/js"))
        .env("DASH_URL", &gate.admin_url)
        .env("OP_URL", &op.issuer)
        .env("OP2_URL", &other.issuer)
        .env("ML_USER", "mlu")
        .env("DATA_USER", "datau")
        .env("CHROMIUM", chromium());
    let out = run_for(cmd, "tests/js/dashboard-sso.mjs", SCENARIO_TIMEOUT).await;
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{CHECKS} passed, 0 failed")),
        "{}",
        show(&out)
    );

    // The limits the admin and the team admin set; the data team's user is untouched.
    let info = serde_json::to_value(gate.ops.user_info("mlu").await.unwrap()).unwrap();
    assert_eq!(info["limits"]["daily_requests"], 33, "{info}");
    let info = serde_json::to_value(gate.ops.user_info("datau").await.unwrap()).unwrap();
    assert_eq!(info["limits"]["daily_requests"], Value::Null, "{info}");

    // Changes and sign-ins are audited as oidc:<username>; admin tokens keep full rights.
    let api = Api::new(&gate, "automation").await;
    let a = api.call("GET", "/api/v1/audit/admin?limit=100", None).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let log: Value = serde_json::from_str(&a.text).unwrap();
    let entries = log
        .get("entries")
        .or_else(|| log.get("records"))
        .unwrap_or(&log)
        .as_array()
        .unwrap()
        .clone();
    let by = |actor: &str, op: &str| {
        entries
            .iter()
            .filter(|e| e["actor"] == actor && e["operation"] == op)
            .count()
    };
    assert_eq!(by("oidc:ada@corp.example", "set_user_limits"), 1, "{log}");
    assert_eq!(by("oidc:tia@corp.example", "set_user_limits"), 1, "{log}");
    assert_eq!(by("oidc:vic@corp.example", "set_user_limits"), 0, "{log}");
    assert!(by("oidc:ada@corp.example", "login") >= 1, "{log}");
    let a = api
        .call(
            "PATCH",
            "/api/v1/users/datau/limits",
            Some(json!({"daily_requests": 9})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);

    // Each session recorded its role; the refused sign-ins opened none.
    let roles = session_roles(&gate, engine).await;
    assert_eq!(
        roles,
        vec![
            ("admin".to_string(), "oidc:ada@corp.example".to_string()),
            (
                "team_admin".to_string(),
                "oidc:tia@corp.example".to_string()
            ),
            ("viewer".to_string(), "oidc:vic@corp.example".to_string()),
        ],
        "{engine:?}"
    );

    // A person who leaves (their proxy user deleted, as `user delete` or a SCIM delete
    // or deactivation does) loses their dashboard session with it.
    // The session's user is the email the issuer gave; the proxy user is found by it.
    let actor = Actor::system("test");
    gate.ops
        .create_user(
            &actor,
            &CreateUser {
                username: "vic".into(),
                person_name: "Vic".into(),
                team: "ml".into(),
                email: Some("vic@corp.example".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    gate.ops.delete_user(&actor, "vic").await.unwrap();
    let roles = session_roles(&gate, engine).await;
    assert!(
        roles.iter().all(|(_, who)| who != "oidc:vic@corp.example"),
        "{roles:?}"
    );
    assert_eq!(roles.len(), 2, "{roles:?}");
    gate.stop().await;
}

/// `(role, token_name)` of every session, sorted.
async fn session_roles(gate: &Gate, engine: Engine) -> Vec<(String, String)> {
    let sql = "SELECT role, token_name FROM admin_sessions ORDER BY token_name";
    let mut rows: Vec<(String, String)> = match engine {
        Engine::Sqlite => {
            let db = sqlx::SqlitePool::connect(&gate.db_url()).await.unwrap();
            sqlx::query_as(sql).fetch_all(&db).await.unwrap()
        }
        Engine::MySql => {
            let db = sqlx::MySqlPool::connect(&gate.db_url()).await.unwrap();
            sqlx::query_as(sql).fetch_all(&db).await.unwrap()
        }
    };
    rows.sort();
    rows
}

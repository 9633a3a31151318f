//! The web dashboard end to end in real headless Chromium: the system's `chromium`,
//! driven by playwright-core from Node (tests/js/dashboard.mjs) against a running gate
//! with the fake upstream, while boto3 (tests/python/converse.py) makes real calls
//! through the proxy. The script checks what an admin sees and does (login, usage on
//! Users and Calls, block and unblock with the proxy's answer, the last minute against
//! the short-term limits on User and Team, a limit, a price, CSV, CSRF, logout) and
//! takes screenshots of every page at desktop and 390 px width into
//! `DASH_SHOTS` (default `/tmp/dash-shots`), logging each page's load time.
//!
//! Chromium, playwright-core (`npm ci --prefix tests/js`) or boto3 missing is a skip,
//! unless `GATE_TEST_REQUIRE_CLIENTS=1` (CI), which makes it a failure.

use crate::common;

use std::path::Path;
use std::time::Duration;

use bedrock_gate::domain::{Actor, Limits};
use common::admin::Api;
use common::clients::{clean_env, missing, node_available, python_ok, run_for, show};
use common::upstream::{CACHE_READ_TOKENS, CACHE_WRITE_TOKENS, INPUT_TOKENS, OUTPUT_TOKENS};
use common::{Gate, GateOptions};
use serde_json::json;
use tokio::process::Command;

/// The whole browser scenario, screenshots included, must finish within this.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(300);
/// The model the calls use, priced for the test at round numbers.
const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const USD_PER_1K_IN: f64 = 1.0;
const USD_PER_1K_OUT: f64 = 2.0;
/// Cache tokens are free here, so a call costs a round 0.21 USD.
const USD_PER_1K_CACHE: f64 = 0.0;
/// Checks tests/js/dashboard.mjs makes.
const CHECKS: usize = 18;

fn chromium() -> String {
    std::env::var("GATE_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

#[tokio::test]
async fn the_dashboard_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !Path::new(&chromium()).is_file() {
        missing("chromium is not installed (apt-get install -y chromium chromium-driver)");
        return;
    }
    if !root.join("tests/js/node_modules/playwright-core").is_dir() || !node_available().await {
        missing("node with playwright-core is not installed (npm ci --prefix tests/js)");
        return;
    }
    if !python_ok("import boto3").await {
        missing("python3 with boto3 is not available");
        return;
    }

    let gate = Gate::start(GateOptions::default()).await;
    let api = Api::new(&gate, "setup").await;
    let a = api
        .call(
            "PUT",
            "/api/v1/prices",
            Some(json!({"model_id": MODEL, "input_per_1k": USD_PER_1K_IN,
                        "output_per_1k": USD_PER_1K_OUT, "cache_read_per_1k": USD_PER_1K_CACHE,
                        "cache_write_per_1k": USD_PER_1K_CACHE})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let alice = gate
        .user_with_limits(
            "alice",
            "research",
            Limits {
                daily_requests: Some(10),
                monthly_requests: Some(200),
                daily_budget_usd: Some(5.0),
                monthly_budget_usd: Some(50.0),
                ..Default::default()
            },
        )
        .await;
    let bob = gate.user("bob", "platform").await;
    let a = api
        .call(
            "PATCH",
            "/api/v1/teams/research/limits",
            Some(json!({"daily_requests": 40, "monthly_requests": 800,
                        "daily_budget_usd": 10.0, "monthly_budget_usd": 20.0,
                        "tpm": 1_000_000})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    // Short-term limits, never reached here: the pages show them with the last minute.
    let a = api
        .call(
            "PATCH",
            "/api/v1/users/alice/limits",
            Some(json!({"rpm": 600, "max_concurrent": 4})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    gate.wait_applied().await;
    let token = gate
        .ops
        .create_admin_token(
            &Actor::system("test"),
            "dashboard-e2e",
            bedrock_gate::domain::TokenScope::Admin,
        )
        .await
        .unwrap()
        .token;
    let per_call = (INPUT_TOKENS as f64 * USD_PER_1K_IN
        + OUTPUT_TOKENS as f64 * USD_PER_1K_OUT
        + (CACHE_READ_TOKENS + CACHE_WRITE_TOKENS) as f64 * USD_PER_1K_CACHE)
        / 1000.0;
    // Relative to the repository (the script runs in tests/js).
    let shots = root.join(std::env::var("DASH_SHOTS").unwrap_or_else(|_| "/tmp/dash-shots".into()));

    let mut cmd = Command::new("node");
    cmd.arg(root.join("tests/js/dashboard.mjs"));
    clean_env(&mut cmd);
    cmd.current_dir(root.join("tests/js"))
        .env("DASH_URL", &gate.admin_url)
        .env("DASH_TOKEN", &token)
        .env("DASH_SHOTS", &shots)
        .env("CHROMIUM", chromium())
        .env("GATE_URL", &gate.url)
        .env("GATE_REGION", common::REGION)
        .env("ALICE_KEY_ID", &alice.key.access_key_id)
        .env("ALICE_SECRET", &alice.key.secret_access_key)
        .env("BOB_KEY_ID", &bob.key.access_key_id)
        .env("BOB_SECRET", &bob.key.secret_access_key)
        .env("CALL_COST", per_call.to_string())
        .env("CONVERSE_PY", root.join("tests/python/converse.py"));
    let out = run_for(cmd, "tests/js/dashboard.mjs", SCENARIO_TIMEOUT).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in stdout.lines().filter(|l| l.starts_with("load")) {
        eprintln!("{line}");
    }
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout
            .lines()
            .any(|l| l == format!("{CHECKS} passed, 0 failed")),
        "{}",
        show(&out)
    );

    // What the browser saw is what the database holds.
    let records = gate.records(4).await;
    let alice_ok: Vec<_> = records
        .iter()
        .filter(|r| r.username == "alice" && r.status_code == 200)
        .collect();
    assert!(
        alice_ok.len() >= 4,
        "3 calls, and at least one after the unblock"
    );
    for r in &alice_ok {
        assert!((r.cost_usd - per_call).abs() < 1e-9, "{r:?}");
    }
    // Her refusals while blocked are rows too, with no cost.
    let refused = gate.refusals().await;
    assert!(
        refused.iter().any(|r| r.username == "alice"
            && r.status_code == 403
            && r.refused == Some(bedrock_gate::domain::Refused::Blocked)
            && r.cost_usd == 0.0),
        "{refused:?}"
    );
    let trail = api.get_ok("/api/v1/audit/blocking?user=alice").await;
    let by_session: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["performed_by"] == "dashboard:dashboard-e2e")
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(by_session.len(), 2, "the block and the unblock: {trail}");
    let info = api.get_ok("/api/v1/users/alice").await;
    assert_eq!(info["limits"]["daily_requests"], 50, "the limit edit");
    let prices = api.get_ok("/api/v1/prices").await;
    let haiku = prices
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["model_id"] == MODEL)
        .unwrap();
    assert_eq!(haiku["output_per_1k"], 3.0, "the price edit");
    gate.stop().await;
}

//! Short-term limits through the real proxy: calls in flight against a cap (the rest
//! 429 with `Retry-After`, freed when calls end), requests per minute exact on one
//! proxy, tokens per minute settled to the real counts of streams, two proxies on one
//! database (MariaDB when configured) within the documented bound, the current rate in
//! `user info` and `team info`, 429s counted by team in `/metrics`. Real clients
//! retrying a 429 are in tests/it/ratelimit_clients.rs.

use crate::common;

use std::time::Duration;

use bedrock_gate::domain::Limits;
use common::throttle::{gate_and_user, open, rate, throttled_in_metrics, HANG_STREAM, SAFETY};
use common::upstream::{INPUT_TOKENS, OUTPUT_TOKENS};
use common::{converse, raw_post, shared_engine, Gate, GateOptions};

/// A stream that ends with the fake's usage.
const STREAM: &str = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream";

fn retry_after<B>(r: &http::Response<B>) -> u64 {
    r.headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", r.headers()))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn error_type<B>(r: &http::Response<B>) -> String {
    r.headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Whose `rate` view a test waits on.
#[derive(Clone, Copy)]
enum Of<'a> {
    /// `user info`.
    User(&'a str),
    /// `team info`.
    Team(&'a str),
}

/// Waits until `check` holds for the `rate` of the user's `user info` or the team's
/// `team info`.
async fn until_rate(gate: &Gate, of: Of<'_>, check: impl Fn(&serde_json::Value) -> bool) {
    let deadline = tokio::time::Instant::now() + SAFETY;
    loop {
        let info = match of {
            Of::User(name) => serde_json::to_value(gate.ops.user_info(name).await.unwrap()),
            Of::Team(name) => serde_json::to_value(gate.ops.team_info(name).await.unwrap()),
        }
        .unwrap();
        if check(&info["rate"]) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the info never showed it: {}",
            info["rate"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn calls_beyond_the_concurrency_cap_get_429_until_a_call_ends() {
    let limits = Limits {
        max_concurrent: rate(3),
        ..Default::default()
    };
    let (gate, user) = gate_and_user("carol", "eng", limits).await;
    let url = format!("{}{HANG_STREAM}", gate.url);
    let calls = (0..10).map(|_| open(&url, &user, common::BODY));
    let answers = futures_util::future::join_all(calls).await;
    let (held, refused): (Vec<_>, Vec<_>) = answers.into_iter().partition(|r| r.status() == 200);
    assert_eq!(held.len(), 3, "three in flight at once");
    assert_eq!(refused.len(), 7);
    for r in &refused {
        assert_eq!(r.status(), 429);
        assert_eq!(error_type(r), "ThrottlingException");
        assert_eq!(retry_after(r), 1);
    }
    assert_eq!(
        gate.upstream.count(),
        3,
        "refused calls never went upstream"
    );
    assert_eq!(throttled_in_metrics(&gate, "eng").await, 7);
    until_rate(&gate, Of::User("carol"), |r| {
        r["in_flight"] == 3 && r["max_concurrent"] == 3
    })
    .await;
    // The team's view: its members together, under the team's own (default) limits.
    until_rate(&gate, Of::Team("eng"), |r| {
        r["in_flight"] == 3 && r["requests_last_minute"] == 3 && r["max_concurrent"].is_null()
    })
    .await;

    // The clients go away: their slots are freed, and the next call is admitted.
    drop(held);
    let deadline = tokio::time::Instant::now() + SAFETY;
    loop {
        let (status, _) = converse(&gate.url, &user.key.bearer_token).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 429);
        assert!(tokio::time::Instant::now() < deadline, "slots never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    until_rate(&gate, Of::User("carol"), |r| r["in_flight"] == 0).await;
    until_rate(&gate, Of::Team("eng"), |r| r["in_flight"] == 0).await;
    gate.stop().await;
}

#[tokio::test]
async fn requests_per_minute_are_exact_on_one_proxy() {
    let limits = Limits {
        rpm: rate(5),
        ..Default::default()
    };
    let (gate, user) = gate_and_user("dan", "ops", limits).await;
    let calls = (0..20).map(|_| converse(&gate.url, &user.key.bearer_token));
    let answers = futures_util::future::join_all(calls).await;
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(ok, 5, "exactly the limit in the minute");
    for (status, r) in answers.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(*status, 429);
        assert_eq!(error_type(r), "ThrottlingException");
        let wait = retry_after(r);
        assert!((1..=61).contains(&wait), "Retry-After {wait}");
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("5 requests per minute for user dan"),
            "{message}"
        );
    }
    assert_eq!(gate.upstream.count(), 5);
    // Nobody is blocked for a rate limit.
    let info = serde_json::to_value(gate.ops.user_info("dan").await.unwrap()).unwrap();
    assert_eq!(info["blocked"], false);
    gate.stop().await;
}

#[tokio::test]
async fn tokens_per_minute_settle_to_the_real_counts_of_streams() {
    let tpm = 1000;
    let limits = Limits {
        tpm: rate(tpm),
        ..Default::default()
    };
    let (gate, user) = gate_and_user("erin", "data", limits).await;
    let body = br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":300}}"#;
    // The worst case reserved at admission, and what each stream really uses.
    let reserved = (body.len() as u64).div_ceil(2) + 300;
    let real = INPUT_TOKENS + OUTPUT_TOKENS;
    let settled_fit = (tpm - reserved) / real + 1;
    let unsettled_fit = tpm / reserved;
    assert_ne!(settled_fit, unsettled_fit, "the test tells the two apart");
    let mut admitted = 0;
    let refusal = loop {
        let (status, r) = raw_post(
            &format!("{}{STREAM}", gate.url),
            &[(
                "authorization",
                &format!("Bearer {}", user.key.bearer_token),
            )],
            body,
        )
        .await;
        if status != 200 {
            break r;
        }
        admitted += 1;
        assert!(admitted <= settled_fit, "more than the limit admitted");
    };
    assert_eq!(
        admitted, settled_fit,
        "each stream settled to {real} tokens"
    );
    assert_eq!(refusal.status(), 429);
    assert!((1..=61).contains(&retry_after(&refusal)));
    let used = admitted * real;
    until_rate(&gate, Of::User("erin"), |r| {
        r["tokens_last_minute"] == used && r["requests_last_minute"] == admitted && r["tpm"] == tpm
    })
    .await;
    gate.stop().await;
}

#[tokio::test]
async fn two_proxies_on_one_database_admit_at_most_the_limit() {
    let overrides = vec![(
        "BEDROCK_GATE_RATELIMIT__PROXIES".to_string(),
        "2".to_string(),
    )];
    let first = Gate::start(GateOptions {
        engine: shared_engine(),
        overrides: overrides.clone(),
        ..Default::default()
    })
    .await;
    let second = Gate::start(GateOptions {
        shared_db: Some(first.db_url()),
        overrides,
        ..Default::default()
    })
    .await;
    let limits = Limits {
        rpm: rate(10),
        ..Default::default()
    };
    let user = first.user_with_limits("fay", "lab", limits).await;
    second.wait_key_known(&user.key.bearer_token, true).await;
    let calls = (0..30).map(|i| {
        let url = if i % 2 == 0 { &first.url } else { &second.url };
        converse(url, &user.key.bearer_token)
    });
    let answers = futures_util::future::join_all(calls).await;
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    assert!(answers.iter().all(|(s, _)| *s == 200 || *s == 429));
    // Each proxy enforces max(1, 10 / 2) = 5: together exactly the limit.
    assert_eq!(first.upstream.count(), 5);
    assert_eq!(second.upstream.count(), 5);
    assert_eq!(ok, 10);
    // user info sums what both proxies report.
    until_rate(&first, Of::User("fay"), |r| r["requests_last_minute"] == 10).await;
    until_rate(&first, Of::Team("lab"), |r| r["requests_last_minute"] == 10).await;
    second.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn overrides_are_set_through_the_cli_and_the_admin_api_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gate.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}?mode=rwc\"\n[ratelimit]\nuser_rpm = 30\n",
            dir.path().join("gate.db").display()
        ),
    )
    .unwrap();
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_bedrock-gate"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env_remove("BEDROCK_GATE_CONFIG")
            .output()
            .unwrap()
    };
    let ok = |args: &[&str]| {
        let out = cli(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    ok(&[
        "--output",
        "json",
        "team",
        "create",
        "eng",
        "--max-concurrent",
        "4",
    ]);
    ok(&["--output", "json", "user", "create", "hal", "Hal", "eng"]);
    let info = ok(&["--output", "json", "user", "info", "hal"]);
    assert_eq!(info["rate"]["rpm"], 30, "the default: {info}");
    let team = ok(&["--output", "json", "team", "info", "eng"]);
    assert_eq!(team["rate"]["max_concurrent"], 4, "the override: {team}");
    assert_eq!(
        team["rate"]["rpm"],
        serde_json::Value::Null,
        "no team default"
    );
    assert_eq!(team["rate"]["in_flight"], 0);
    let text = cli(&["team", "info", "eng"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(
            "rate:       0 requests and 0 tokens in the last minute, 0 in flight \
             (limits: unlimited requests/min, unlimited tokens/min, 4 in flight)"
        ),
        "{text}"
    );
    assert_eq!(info["limits"]["rpm"], serde_json::Value::Null);
    let u = ok(&[
        "--output",
        "json",
        "user",
        "set-limits",
        "hal",
        "--rpm",
        "unlimited",
        "--tpm",
        "5000",
    ]);
    assert_eq!(u["limits"]["rpm"], "unlimited");
    assert_eq!(u["limits"]["tpm"], 5000);
    let info = ok(&["--output", "json", "user", "info", "hal"]);
    assert_eq!(info["rate"]["rpm"], serde_json::Value::Null, "{info}");
    assert_eq!(info["rate"]["tpm"], 5000);
    let text = cli(&["user", "info", "hal"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("limits: unlimited requests/min, 5000 tokens/min"),
        "{text}"
    );
    let u = ok(&[
        "--output",
        "json",
        "user",
        "set-limits",
        "hal",
        "--rpm",
        "default",
    ]);
    assert_eq!(u["limits"]["rpm"], serde_json::Value::Null);
    for bad in ["-1", "lots", "1e3"] {
        let out = cli(&["user", "set-limits", "hal", "--tpm", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("`unlimited` or `default`"), "{err}");
    }

    // The admin API: a number, "unlimited", null (back to the default); audited.
    let gate = Gate::start(GateOptions::default()).await;
    gate.user("ida", "ops").await;
    let api = common::admin::Api::new(&gate, "ops-bot").await;
    let patch = |body| api.call("PATCH", "/api/v1/users/ida/limits", Some(body));
    let a = patch(serde_json::json!({"rpm": 12, "max_concurrent": "unlimited"})).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json()["limits"]["rpm"], 12);
    assert_eq!(a.json()["limits"]["max_concurrent"], "unlimited");
    let a = patch(serde_json::json!({"rpm": null})).await;
    assert_eq!(a.json()["limits"]["rpm"], serde_json::Value::Null);
    assert_eq!(patch(serde_json::json!({"tpm": -5})).await.status, 400);
    let a = api
        .call(
            "PATCH",
            "/api/v1/teams/ops/limits",
            Some(serde_json::json!({"tpm": 900})),
        )
        .await;
    assert_eq!(a.json()["limits"]["tpm"], 900, "{}", a.text);
    let team = api.get_ok("/api/v1/teams/ops").await;
    assert_eq!(team["rate"]["tpm"], 900, "{team}");
    assert_eq!(team["rate"]["requests_last_minute"], 0, "{team}");
    let user = api.get_ok("/api/v1/users/ida").await;
    assert_eq!(
        user["rate"]["max_concurrent"],
        serde_json::Value::Null,
        "{user}"
    );
    assert_eq!(user["rate"]["in_flight"], 0);
    let audit = api
        .get_ok("/api/v1/audit/admin?resource=user:ida&operation=set_user_limits")
        .await;
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{audit}");
    assert_eq!(entries[1]["after"]["rpm"], 12, "{audit}");
    gate.stop().await;
}

//! Quotas through the real proxy: exact admission under concurrency on one proxy (on
//! SQLite and on MariaDB when configured) and on three proxies sharing a database
//! (MariaDB when configured, else an SQLite file), refusals shaped as the
//! INTERFACE table says, automatic and manual blocks, protection, the reset and the
//! audit trail.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use bedrock_gate::domain::{Actor, AuditOperation, BlockKind, DomainEvent, EventKind};
use bedrock_gate::store::Limits;
use common::local::{error_message as message, error_type};
use common::{
    converse as call, raw_post, shared_engine as engine, Engine, Gate, GateOptions, BODY,
};

/// Fires `n` concurrent calls spread round-robin over `urls`; returns the statuses.
async fn burst(urls: &[String], token: &str, n: usize) -> Vec<(u16, http::Response<bytes::Bytes>)> {
    let token = Arc::new(token.to_string());
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let url = urls[i % urls.len()].clone();
        let token = Arc::clone(&token);
        set.spawn(async move { call(&url, &token).await });
    }
    let mut out = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap());
    }
    out
}

fn limit(n: i64) -> Limits {
    Limits {
        daily_requests: Some(n),
        ..Default::default()
    }
}

async fn wait_blocked(gate: &Gate, username: &str) -> bedrock_gate::store::BlockStatus {
    let user = gate.store.user(username).await.unwrap();
    for _ in 0..100 {
        let s = gate.store.block_status(user.id).await.unwrap();
        if let Some(s) = s.filter(|s| s.blocked) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{username} was not blocked");
}

/// Waits until the database's state version is past `version` (a block is committed
/// just before its version bump).
async fn wait_version_above(gate: &Gate, version: i64) {
    for _ in 0..100 {
        if gate.store.state_version().await.unwrap() > version {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the state version did not move past {version}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_calls_against_a_limit_of_50_admit_exactly_50() {
    for engine in common::engines() {
        exactly_50_of_200(engine).await;
    }
}

async fn exactly_50_of_200(engine: Engine) {
    let gate = Gate::start(GateOptions {
        engine,
        ..Default::default()
    })
    .await;
    let alice = gate.user_with_limits("alice", "research", limit(50)).await;
    let before_block = gate.store.state_version().await.unwrap();
    let results = burst(
        std::slice::from_ref(&gate.url),
        &alice.key.bearer_token,
        200,
    )
    .await;
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(ok, 50);
    assert_eq!(gate.upstream.valid_count(), 50, "counted at the upstream");
    for (status, resp) in results.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(*status, 400);
        assert_eq!(error_type(resp), "ServiceQuotaExceededException");
        assert_eq!(resp.headers()["x-should-retry"], "false");
        let m = message(resp);
        assert!(
            m.contains("daily request limit of 50") && m.contains("resets at"),
            "{m}"
        );
    }

    // Reaching the daily limit blocked alice automatically, with an audit row.
    let status = wait_blocked(&gate, "alice").await;
    assert_eq!(status.kind, Some(BlockKind::Automatic));
    assert!(status.blocked_until.is_some());
    let audit = gate.store.audit(Some("alice"), 10).await.unwrap();
    let row = audit
        .iter()
        .find(|a| a.operation == AuditOperation::AutoBlock)
        .unwrap();
    assert_eq!(row.limit_at_time, Some(50));
    assert_eq!(row.requests_at_time, Some(50));
    assert_eq!(row.usage_percent, Some(100.0));
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.operation == AuditOperation::AutoBlock)
            .count(),
        1
    );

    // While blocked for the limit (once the proxy serves the block), calls keep getting
    // the limit's 400.
    wait_version_above(&gate, before_block).await;
    gate.wait_applied().await;
    let (status, resp) = call(&gate.url, &alice.key.bearer_token).await;
    assert_eq!(
        (status, error_type(&resp).as_str()),
        (400, "ServiceQuotaExceededException")
    );
    assert_eq!(gate.upstream.valid_count(), 50);
    let records = gate.records(50).await;
    assert_eq!(records.len(), 50, "one record per admitted call");

    // One warning (80 % by default) and one exhaustion event for the day's limit.
    let warnings = gate
        .store
        .events(Some(EventKind::Warning), 10)
        .await
        .unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning: DomainEvent = serde_json::from_str(&warnings[0].payload).unwrap();
    assert!(
        matches!(&warning, DomainEvent::Warning { limit, threshold_percent: 80, used: 40.., .. } if limit == "daily_requests"),
        "{warning:?}"
    );
    let blocked = gate
        .store
        .events(Some(EventKind::Blocked), 10)
        .await
        .unwrap();
    assert_eq!(blocked.len(), 1, "one automatic block event: {blocked:?}");

    // This proxy claimed today's reset at start (catch-up); a second claim fails.
    let tz = gate.config.quota.timezone;
    let today = bedrock_gate::quota::engine::period_keys(tz, chrono::Utc::now()).0;
    assert!(!gate
        .store
        .claim_job("daily_reset", &today, "test")
        .await
        .unwrap());

    // The reset lifts the automatic block.
    let report = gate.ops.reset_now(&Actor::system("test")).await.unwrap();
    assert_eq!(report.unblocked, vec!["alice".to_string()]);
    let user = gate.store.user("alice").await.unwrap();
    assert!(
        !gate
            .store
            .block_status(user.id)
            .await
            .unwrap()
            .unwrap()
            .blocked
    );
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_proxies_sharing_the_database_admit_exactly_50_of_200() {
    let first = Gate::start(GateOptions {
        engine: engine(),
        ..Default::default()
    })
    .await;
    let mut others = Vec::new();
    for _ in 0..2 {
        others.push(
            Gate::start(GateOptions {
                shared_db: Some(first.db_url()),
                ..Default::default()
            })
            .await,
        );
    }
    let bob = first.user_with_limits("bob", "ops", limit(50)).await;
    for g in &others {
        g.wait_key_known(&bob.key.bearer_token, true).await;
    }
    let urls: Vec<String> = std::iter::once(&first)
        .chain(others.iter())
        .map(|g| g.url.clone())
        .collect();
    let results = burst(&urls, &bob.key.bearer_token, 200).await;
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    let upstream: usize = std::iter::once(&first)
        .chain(others.iter())
        .map(|g| g.upstream.valid_count())
        .sum();
    assert_eq!(ok, 50);
    assert_eq!(upstream, 50, "counted at the upstreams");
    assert!(results
        .iter()
        .all(|(s, r)| *s == 200 || error_type(r) == "ServiceQuotaExceededException"));
    for g in others {
        g.stop().await;
    }
    first.stop().await;
}

#[tokio::test]
async fn a_team_limit_is_shared_by_its_members() {
    let gate = Gate::start(GateOptions {
        engine: engine(),
        ..Default::default()
    })
    .await;
    let a = gate.user("ann", "shared").await;
    let b = gate.user("ben", "shared").await;
    gate.ops
        .set_team_limits(
            &Actor::system("test"),
            "shared",
            &bedrock_gate::domain::LimitsUpdate {
                daily_requests: Some(Some(3)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    gate.wait_applied().await;
    let mut ok = 0;
    for token in [
        &a.key.bearer_token,
        &b.key.bearer_token,
        &a.key.bearer_token,
        &b.key.bearer_token,
    ] {
        let (status, resp) = call(&gate.url, token).await;
        if status == 200 {
            ok += 1;
        } else {
            assert!(message(&resp).contains("team shared"), "{}", message(&resp));
        }
    }
    assert_eq!(ok, 3);
    gate.stop().await;
}

#[tokio::test]
async fn budgets_reserve_the_worst_case_and_refuse_what_cannot_fit() {
    let gate = Gate::start(GateOptions {
        engine: engine(),
        ..Default::default()
    })
    .await;
    // claude-3-haiku: $0.00025 in / $0.00125 out per 1k. A call reserves about 50 prompt
    // tokens + 100 output tokens = ~$0.00014 and really costs 120 in / 45 out (plus cache)
    // = ~$0.000089. A budget of $0.0005 fits a few calls, never more than it can pay.
    let carol = gate
        .user_with_limits(
            "carol",
            "t",
            Limits {
                daily_budget_usd: Some(0.0005),
                ..Default::default()
            },
        )
        .await;
    let mut admitted = 0;
    for _ in 0..10 {
        let (status, resp) = call(&gate.url, &carol.key.bearer_token).await;
        match status {
            200 => admitted += 1,
            400 => {
                assert_eq!(error_type(&resp), "ServiceQuotaExceededException");
                assert!(
                    message(&resp).contains("daily budget of $0.00"),
                    "{}",
                    message(&resp)
                );
            }
            s => panic!("unexpected {s}"),
        }
    }
    let records = gate.records(admitted).await;
    let spent: f64 = records.iter().map(|r| r.cost_usd).sum();
    assert!(
        admitted >= 3,
        "settled calls free their unused reservation: {admitted}"
    );
    assert!(spent <= 0.0005 + 1e-9, "spent {spent}");

    // A model without a price cannot be budgeted.
    let (status, resp) = raw_post(
        &format!("{}/model/unknown.model-v1/converse", gate.url),
        &[(
            "authorization",
            &format!("Bearer {}", carol.key.bearer_token),
        )],
        BODY,
    )
    .await;
    assert_eq!(
        (status, error_type(&resp).as_str()),
        (400, "ValidationException")
    );
    assert!(message(&resp).contains("No price"));
    gate.stop().await;
}

// Several threads: the CLI runs as a child process the test waits for without yielding,
// and the proxy's tasks must go on meanwhile (a record write holding SQLite's write lock
// on a frozen runtime would make the CLI time out on "database is locked").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_protection_reset_and_audit_behave_as_specified() {
    for engine in common::engines() {
        blocks_protection_reset_and_audit(engine).await;
    }
}

async fn blocks_protection_reset_and_audit(engine: Engine) {
    let gate = Gate::start(GateOptions {
        engine,
        ..Default::default()
    })
    .await;
    let dave = gate.user_with_limits("dave", "t", limit(2)).await;
    let user = gate.store.user("dave").await.unwrap();
    let bin = env!("CARGO_BIN_EXE_bedrock-gate");
    let cfg_path = {
        let dir = tempfile::tempdir().unwrap().keep();
        let path = dir.join("gate.toml");
        let key = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(common::MASTER_KEY)
        };
        std::fs::write(
            &path,
            format!(
                "[database]\nurl = \"{}\"\nmaster_key = \"{key}\"\n",
                gate.db_url()
            ),
        )
        .unwrap();
        path
    };
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(bin)
            .arg("--config")
            .arg(&cfg_path)
            .args(args)
            .arg("--output")
            .arg("json")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let settle = || gate.wait_applied();

    // A manual block: 403 AccessDenied saying why and until when; nothing upstream.
    cli(&[
        "user",
        "block",
        "dave",
        "--duration",
        "2h",
        "--reason",
        "laptop stolen",
    ]);
    settle().await;
    let (status, resp) = call(&gate.url, &dave.key.bearer_token).await;
    assert_eq!(
        (status, error_type(&resp).as_str()),
        (403, "AccessDeniedException")
    );
    let m = message(&resp);
    assert!(m.contains("laptop stolen") && m.contains("until"), "{m}");
    assert_eq!(gate.upstream.count(), 0);
    let info = cli(&["user", "info", "dave"]);
    assert_eq!(info["blocked"], true);
    assert_eq!(info["blocked_reason"], "laptop stolen");

    // Unblocked, the limit of 2 applies; the third call is refused and blocks dave.
    cli(&["user", "unblock", "dave"]);
    settle().await;
    for _ in 0..2 {
        assert_eq!(call(&gate.url, &dave.key.bearer_token).await.0, 200);
    }
    let (status, _) = call(&gate.url, &dave.key.bearer_token).await;
    assert_eq!(status, 400);
    let s = wait_blocked(&gate, "dave").await;
    assert_eq!(s.kind, Some(BlockKind::Automatic));

    // Unblocking an automatic block protects until the next reset: calls go through.
    let un = cli(&["user", "unblock", "dave", "--reason", "deadline"]);
    assert_eq!(un["administrative_safe"], true);
    assert!(un["protected_until"].is_i64());
    assert!(un["protected_until_rfc3339"].is_string());
    settle().await;
    assert_eq!(call(&gate.url, &dave.key.bearer_token).await.0, 200);
    assert_eq!(gate.upstream.valid_count(), 3);

    // The reset ends the day-long protection.
    let report = cli(&["reset"]);
    assert_eq!(report["unprotected"][0], "dave");
    let st = gate.store.block_status(user.id).await.unwrap().unwrap();
    assert!(!st.administrative_safe && !st.blocked);

    // Standing protection: never refused for limits.
    cli(&["user", "protect", "dave"]);
    settle().await;
    assert_eq!(call(&gate.url, &dave.key.bearer_token).await.0, 200);
    cli(&["user", "unprotect", "dave"]);
    settle().await;
    assert_eq!(call(&gate.url, &dave.key.bearer_token).await.0, 400);

    // An indefinite manual block survives the reset; until-reset is the default.
    cli(&["user", "block", "dave", "--duration", "indefinite"]);
    let report = cli(&["reset"]);
    assert!(report["unblocked"].as_array().unwrap().is_empty());
    cli(&["user", "unblock", "dave"]);
    cli(&["user", "block", "dave"]);
    let info = cli(&["user", "info", "dave"]);
    assert!(info["blocked_until"].is_i64());

    let audit = cli(&["audit", "--user", "dave"]);
    let ops: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["operation"].as_str().unwrap())
        .collect();
    for op in [
        "block",
        "unblock",
        "auto_block",
        "reset_unprotect",
        "protect",
        "unprotect",
    ] {
        assert!(ops.contains(&op), "{op} in {ops:?}");
    }
    assert_eq!(ops[0], "block", "newest first");
    assert!(audit[0]["performed_by"]
        .as_str()
        .unwrap()
        .starts_with("cli:"));
    gate.stop().await;
}

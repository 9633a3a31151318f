//! Quota truth: a call the proxy itself failed before any byte of it reached Bedrock (no
//! upstream credentials, upstream unreachable) gives its reservation back and counts in
//! no limit, budget or usage sum, while its record keeps the reason; a call that may
//! have reached Bedrock (a timeout after it was sent) still counts. On SQLite, and on
//! MariaDB when configured.

use crate::common;

use bedrock_gate::domain::NotSent;
use bedrock_gate::store::Limits;
use common::{converse, engines, Engine, Gate, GateOptions};

/// Calls each test makes; the user's limit allows fewer, so a call that used quota
/// would make a later one a refusal (400, limit reached).
const CALLS: usize = 5;

fn limits() -> Limits {
    Limits {
        daily_requests: Some(2),
        monthly_requests: Some(3),
        daily_budget_usd: Some(1.0),
        monthly_budget_usd: None,
        ..Default::default()
    }
}

/// `usage.day` and `usage.month` of `user info` and of `team info`, as JSON.
async fn usage_views(gate: &Gate, user: &str, team: &str) -> Vec<serde_json::Value> {
    let user = serde_json::to_value(gate.ops.user_info(user).await.unwrap()).unwrap();
    let team = serde_json::to_value(gate.ops.team_info(team).await.unwrap()).unwrap();
    let mut views = Vec::new();
    for info in [user, team] {
        for period in ["day", "month"] {
            views.push(info["usage"][period].clone());
        }
    }
    views
}

/// Makes [`CALLS`] calls that the proxy fails with `status` before they reach Bedrock,
/// then checks that nothing was counted and every record says why.
async fn failed_calls_use_no_quota(gate: Gate, status: u16, reason: NotSent) {
    let alice = gate.user_with_limits("alice", "research", limits()).await;
    for i in 0..CALLS {
        let (got, resp) = converse(&gate.url, &alice.key.bearer_token).await;
        assert_eq!(
            got,
            status,
            "call {i}: {}",
            String::from_utf8_lossy(resp.body())
        );
    }
    let records = gate.records(CALLS).await;
    assert_eq!(records.len(), CALLS);
    for r in &records {
        assert_eq!(r.not_sent, Some(reason), "{r:?}");
        assert_eq!(r.status_code, i64::from(status));
        assert_eq!(r.cost_usd, 0.0);
    }
    for view in usage_views(&gate, "alice", "research").await {
        assert_eq!(view["requests"], 0, "{view}");
        assert_eq!(view["cost_usd"], 0.0, "{view}");
    }
    gate.stop().await;
}

fn options(engine: Engine) -> GateOptions {
    GateOptions {
        engine,
        ..Default::default()
    }
}

#[tokio::test]
async fn calls_without_upstream_credentials_use_no_quota() {
    for engine in engines() {
        let gate = Gate::start(GateOptions {
            no_upstream_credentials: true,
            ..options(engine)
        })
        .await;
        failed_calls_use_no_quota(gate, 503, NotSent::NoCredentials).await;
    }
}

#[tokio::test]
async fn calls_to_an_unreachable_upstream_use_no_quota() {
    for engine in engines() {
        // Port 9 on loopback: nothing listens there, the connection is refused.
        let gate = Gate::start(GateOptions {
            upstream_override: Some("http://127.0.0.1:9".into()),
            ..options(engine)
        })
        .await;
        failed_calls_use_no_quota(gate, 503, NotSent::UpstreamUnreachable).await;
    }
}

#[tokio::test]
async fn a_call_that_timed_out_after_it_was_sent_still_counts() {
    // Accepts connections and never answers: the request went out, Bedrock may bill it.
    let (gate, holder) = common::local::gate_with_silent_upstream().await;
    let alice = gate.user_with_limits("alice", "research", limits()).await;
    let mut statuses = Vec::new();
    let mut last = String::new();
    for _ in 0..3 {
        let (status, resp) = converse(&gate.url, &alice.key.bearer_token).await;
        statuses.push(status);
        last = String::from_utf8_lossy(resp.body()).into_owned();
    }
    assert_eq!(statuses, [408, 408, 400], "{last}");
    assert!(
        last.contains("daily request limit of 2"),
        "two sent calls used the daily limit of 2: {last}"
    );
    let records = gate.records(2).await;
    assert_eq!(records.len(), 2, "the refusal left no record");
    assert!(records.iter().all(|r| r.not_sent.is_none()), "{records:?}");
    let views = usage_views(&gate, "alice", "research").await;
    assert_eq!(views[0]["requests"], 2, "{views:?}");
    gate.stop().await;
    holder.abort();
}

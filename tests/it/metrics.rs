//! `/metrics` through the real proxy: calls that are admitted, refused for quota, refused
//! for an unknown key and failed upstream show in the scrape with exactly the counts,
//! tokens and cost the proxy recorded; blocked users are counted; with
//! `metrics.per_user` the user label is capped at `metrics.max_users` with the rest
//! under `user="other"`. The scrape is parsed with a Prometheus text parser
//! (`prometheus-parse`), not matched as strings.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use bedrock_gate::domain::Actor;
use bedrock_gate::ops::blocking::BlockDuration;
use bedrock_gate::store::Limits;
use common::upstream::{CACHE_READ_TOKENS, CACHE_WRITE_TOKENS, INPUT_TOKENS, OUTPUT_TOKENS};
use common::{converse, raw_post, Engine, Gate, GateOptions, BODY};
use prometheus_parse::{Sample, Scrape, Value};

/// The priced model of `common::CONVERSE`, as the model label names it.
const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";

/// One scrape of `gate`'s `/metrics`, parsed; checks the content type on the way.
async fn scrape(gate: &Gate) -> Vec<Sample> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let resp = client
        .get(format!("{}/metrics", gate.admin_url).parse().unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    assert!(!scrape.samples.is_empty(), "{text}");
    // The parser skips lines it cannot read: every sample line must have been read
    // (histogram buckets are gathered into one sample per series).
    let lines = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();
    let read: usize = scrape
        .samples
        .iter()
        .map(|s| match &s.value {
            Value::Histogram(buckets) => buckets.len(),
            _ => 1,
        })
        .sum();
    assert_eq!(read, lines, "some lines were not parsed:\n{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
    scrape.samples
}

/// The value of the sample named `name` whose labels are exactly `labels`; 0 when there
/// is none (a counter that never moved has no series).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.metric == name
                && s.labels.len() == labels.len()
                && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
        })
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?}: {found:?}");
    match found.first().map(|s| &s.value) {
        None => 0.0,
        Some(Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v)) => *v,
        Some(other) => panic!("{name} {labels:?}: not a number: {other:?}"),
    }
}

/// The sum of every sample named `name` with these labels among others.
fn total(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            other => panic!("{name}: not a number: {other:?}"),
        })
        .sum()
}

/// Waits until the record writer's queue is empty (its gauge drops after each insert).
async fn wait_queue_empty(gate: &Gate) -> Vec<Sample> {
    for _ in 0..200 {
        let samples = scrape(gate).await;
        if value(&samples, "bedrock_gate_record_queue_depth", &[]) == 0.0 {
            return samples;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the record queue did not drain");
}

/// Waits until `username` is blocked in the store.
async fn wait_blocked(gate: &Gate, username: &str) {
    let user = gate.store.user(username).await.unwrap();
    for _ in 0..200 {
        if gate
            .store
            .block_status(user.id)
            .await
            .unwrap()
            .is_some_and(|s| s.blocked)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{username} was not blocked");
}

#[tokio::test]
async fn scrape_matches_the_calls_made() {
    for engine in common::engines() {
        scrape_matches_the_calls_made_on(engine).await;
    }
}

async fn scrape_matches_the_calls_made_on(engine: Engine) {
    let gate = Gate::start(GateOptions {
        engine,
        ..GateOptions::default()
    })
    .await;
    let limited = Limits {
        daily_requests: Some(2),
        ..Default::default()
    };
    let alice = gate.user_with_limits("alice", "research", limited).await;
    let bob = gate.user("bob", "research").await;
    let carol = gate.user("carol", "ops").await;

    // Two admitted calls, then a refusal for alice's daily limit.
    for _ in 0..2 {
        assert_eq!(converse(&gate.url, &alice.key.bearer_token).await.0, 200);
    }
    assert_eq!(converse(&gate.url, &alice.key.bearer_token).await.0, 400);
    // One admitted call for carol's team.
    assert_eq!(converse(&gate.url, &carol.key.bearer_token).await.0, 200);
    // An upstream error: the fake answers 500 InternalServerException.
    let (status, _) = raw_post(
        &format!("{}/model/broken.model-v1%3A0/converse", gate.url),
        &[("authorization", &format!("Bearer {}", bob.key.bearer_token))],
        BODY,
    )
    .await;
    assert_eq!(status, 500);
    // A caller with a key the proxy does not know.
    assert_eq!(converse(&gate.url, "not-a-key").await.0, 403);

    // Records are queued after the metrics are updated: once all four are stored (the
    // refusals write none) and the queue is empty, the scrape is final.
    let records = gate.records(4).await;
    let m = wait_queue_empty(&gate).await;
    let requests = "bedrock_gate_requests_total";
    let converse_of = |team: &'static str| {
        move |outcome: &'static str| {
            [
                ("outcome", outcome),
                ("team", team),
                ("model", HAIKU),
                ("operation", "Converse"),
            ]
        }
    };
    assert_eq!(
        value(&m, requests, &converse_of("research")("admitted")),
        2.0
    );
    assert_eq!(value(&m, requests, &converse_of("ops")("admitted")), 1.0);
    let mut refused = converse_of("research")("refused").to_vec();
    refused.push(("reason", "quota_exceeded"));
    assert_eq!(value(&m, requests, &refused), 1.0);
    let upstream_error = [
        ("outcome", "upstream_error"),
        ("reason", "InternalServerException"),
        ("team", "research"),
        ("model", "broken.model-v1:0"),
        ("operation", "Converse"),
    ];
    assert_eq!(value(&m, requests, &upstream_error), 1.0);
    let unknown = [
        ("outcome", "refused"),
        ("reason", "unrecognized_client"),
        ("team", "(none)"),
        ("model", "(none)"),
        ("operation", "Converse"),
    ];
    assert_eq!(value(&m, requests, &unknown), 1.0);
    assert_eq!(
        total(&m, requests, &[("outcome", "admitted")]),
        3.0,
        "only the three successful calls are admitted"
    );

    // Tokens and cost: what the fake reported, and what the proxy recorded.
    let tokens = "bedrock_gate_tokens_total";
    for (team, calls) in [("research", 2u64), ("ops", 1)] {
        for (kind, per_call) in [
            ("input", INPUT_TOKENS),
            ("output", OUTPUT_TOKENS),
            ("cache_read", CACHE_READ_TOKENS),
            ("cache_write", CACHE_WRITE_TOKENS),
        ] {
            let labels = [("team", team), ("model", HAIKU), ("type", kind)];
            assert_eq!(
                value(&m, tokens, &labels),
                (calls * per_call) as f64,
                "{team} {kind}"
            );
        }
    }
    let recorded = |team: &str, f: fn(&bedrock_gate::store::RequestRecord) -> f64| -> f64 {
        records.iter().filter(|r| r.team == team).map(f).sum()
    };
    assert_eq!(
        total(&m, tokens, &[("team", "research"), ("type", "output")]),
        recorded("research", |r| r.output_tokens as f64)
    );
    for team in ["research", "ops"] {
        let cost = value(
            &m,
            "bedrock_gate_cost_usd_total",
            &[("team", team), ("model", HAIKU)],
        );
        let want = recorded(team, |r| r.cost_usd);
        assert!(want > 0.0, "the priced model has a cost");
        assert!((cost - want).abs() < 1e-9, "{team}: {cost} != {want}");
    }

    // Timings: one observation per call that got an answer.
    let latency = [("model", HAIKU), ("operation", "Converse")];
    assert_eq!(
        value(&m, "bedrock_gate_upstream_latency_seconds_count", &latency),
        3.0
    );
    assert_eq!(
        value(
            &m,
            "bedrock_gate_upstream_first_byte_seconds_count",
            &latency
        ),
        3.0
    );
    assert_eq!(
        value(&m, "bedrock_gate_proxy_overhead_seconds_count", &[]),
        4.0
    );
    // Alice's and carol's first calls drew request-limit chunks from the database.
    assert!(
        total(
            &m,
            "bedrock_gate_quota_chunk_grants_total",
            &[("metric", "requests"), ("result", "granted")]
        ) >= 1.0
    );
    assert_eq!(total(&m, "bedrock_gate_database_errors_total", &[]), 0.0);

    // Blocked users: alice automatically (her daily limit), carol by hand.
    wait_blocked(&gate, "alice").await;
    gate.ops
        .block(
            &Actor::system("test"),
            "carol",
            BlockDuration::Indefinite,
            Some("metrics test".into()),
        )
        .await
        .unwrap();
    gate.wait_applied().await;
    let m = scrape(&gate).await;
    let blocked = "bedrock_gate_blocked_users";
    assert_eq!(value(&m, blocked, &[("kind", "automatic")]), 1.0);
    assert_eq!(value(&m, blocked, &[("kind", "manual")]), 1.0);
    gate.stop().await;
}

#[tokio::test]
async fn per_user_series_are_capped_with_the_rest_as_other() {
    let gate = Gate::start(GateOptions {
        overrides: vec![
            ("BEDROCK_GATE_METRICS__PER_USER".into(), "true".into()),
            ("BEDROCK_GATE_METRICS__MAX_USERS".into(), "2".into()),
        ],
        ..GateOptions::default()
    })
    .await;
    // Users are created (and their keys probed, which the metrics see) in this order,
    // so u1 and u2 get series of their own and u3 and u4 do not.
    let mut users = Vec::new();
    for name in ["u1", "u2", "u3", "u4"] {
        users.push(gate.user(name, "team").await);
    }
    for (user, calls) in users.iter().zip([2, 1, 1, 3]) {
        for _ in 0..calls {
            assert_eq!(converse(&gate.url, &user.key.bearer_token).await.0, 200);
        }
    }
    gate.records(7).await;
    let m = wait_queue_empty(&gate).await;
    let admitted = |user: &'static str| {
        [
            ("outcome", "admitted"),
            ("team", "team"),
            ("model", HAIKU),
            ("operation", "Converse"),
            ("user", user),
        ]
    };
    let requests = "bedrock_gate_requests_total";
    assert_eq!(value(&m, requests, &admitted("u1")), 2.0);
    assert_eq!(value(&m, requests, &admitted("u2")), 1.0);
    assert_eq!(value(&m, requests, &admitted("other")), 4.0);
    // No other user label exists: u3 and u4 are only ever "other" ("(none)" is a
    // probe made before a key was known).
    let seen: BTreeSet<&str> = m.iter().filter_map(|s| s.labels.get("user")).collect();
    let allowed = BTreeSet::from(["(none)", "other", "u1", "u2"]);
    assert!(seen.is_subset(&allowed), "{seen:?}");
    assert!(
        ["other", "u1", "u2"].iter().all(|u| seen.contains(u)),
        "{seen:?}"
    );
    let cost_other = value(
        &m,
        "bedrock_gate_cost_usd_total",
        &[("team", "team"), ("model", HAIKU), ("user", "other")],
    );
    let cost_u2 = value(
        &m,
        "bedrock_gate_cost_usd_total",
        &[("team", "team"), ("model", HAIKU), ("user", "u2")],
    );
    assert!(cost_u2 > 0.0);
    assert!(
        (cost_other - 4.0 * cost_u2).abs() < 1e-9,
        "{cost_other} vs {cost_u2}"
    );
    assert_eq!(
        value(
            &m,
            "bedrock_gate_tokens_total",
            &[
                ("team", "team"),
                ("model", HAIKU),
                ("type", "input"),
                ("user", "other")
            ]
        ),
        (4 * INPUT_TOKENS) as f64
    );
    gate.stop().await;
}

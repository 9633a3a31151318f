//! Refused calls leave a record, and the refusal a user sees is the one they can act on
//! first (issue #27, items 2 and 5), through the real proxy:
//! - each kind of refusal of a known user (blocked, request limit, rate limit,
//!   validation, no price) is a row found by the request id the caller got: in the
//!   store, in `GET /api/v1/usage`, in `usage --output json`, and counted by reason in
//!   `/metrics`; refused rows have no tokens or cost and count in no total or limit;
//! - a client hammering the proxy with 2,000 refused calls writes a bounded number of
//!   rows, and the rest are counted (and summarised in the next row written);
//! - over a daily limit, a call to an unpriced model under a budget gets the limit
//!   refusal, not the missing price; a blocked user gets the block; and the probe that
//!   finds this out counts against no limit.

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use bedrock_gate::domain::{Actor, RateLimit, Refused};
use bedrock_gate::ops::blocking::BlockDuration;
use bedrock_gate::store::{Limits, RequestRecord, UsageFilter};
use common::admin::Api;
use common::local::{error_message, error_type};
use common::{raw_post, Engine, Gate, GateOptions, BODY, CONVERSE};
use serde_json::Value;

/// A model the price list does not have (Claude Code's default, newer than the list).
const UNPRICED: &str = "/model/eu.anthropic.claude-opus-5-5/converse";
/// An operation the proxy refuses as a validation error once the caller is known.
const BIDI: &str =
    "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-bidirectional-stream";

/// One call to `path` as `token`: status, error type, message and request id.
async fn call(gate: &Gate, token: &str, path: &str) -> (u16, String, String, String) {
    let (status, resp) = raw_post(
        &format!("{}{path}", gate.url),
        &[("authorization", &format!("Bearer {token}"))],
        BODY,
    )
    .await;
    let id = resp.headers()["x-amzn-requestid"]
        .to_str()
        .unwrap()
        .to_string();
    if status == 200 {
        return (status, String::new(), String::new(), id);
    }
    (status, error_type(&resp), error_message(&resp), id)
}

/// Waits (at most 10 s) for the row of `request_uid`.
async fn row(gate: &Gate, request_uid: &str) -> RequestRecord {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = gate.store.requests(&UsageFilter::default()).await.unwrap();
        if let Some(r) = rows.into_iter().find(|r| r.request_uid == request_uid) {
            return r;
        }
        assert!(Instant::now() < deadline, "no row for {request_uid}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The text of `/metrics`.
async fn metrics(gate: &Gate) -> String {
    common::http_get(&format!("{}/metrics", gate.admin_url))
        .await
        .unwrap()
        .1
}

/// The sum of every sample of `name` whose labels include all of `labels`.
fn counted(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `bedrock-gate usage --user <user> --output json` on `gate`'s database.
fn cli_usage(gate: &Gate, user: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gate.toml");
    let key = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(common::MASTER_KEY)
    };
    std::fs::write(
        &cfg,
        format!(
            "[database]\nurl = \"{}\"\nmaster_key = \"{key}\"\n",
            gate.db_url()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bedrock-gate"))
        .arg("--config")
        .arg(&cfg)
        .args(["usage", "--user", user, "--output", "json"])
        .env_remove("BEDROCK_GATE_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The requests `user` used today, as `user info` shows them (from the rollups, written
/// with the rows: wait for the rows first).
async fn requests_today(gate: &Gate, user: &str) -> i64 {
    let info = gate.ops.user_info(user).await.unwrap();
    serde_json::to_value(&info).unwrap()["usage"]["day"]["requests"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn every_refusal_of_a_known_user_is_a_row_found_by_its_request_id() {
    for engine in common::engines() {
        every_refusal_is_recorded(engine).await;
    }
}

async fn every_refusal_is_recorded(engine: Engine) {
    let gate = Gate::start(GateOptions {
        engine,
        ..Default::default()
    })
    .await;
    let api = Api::new(&gate, "tester").await;
    let blocked = gate.user("blo", "t").await;
    let limited = gate
        .user_with_limits(
            "lim",
            "t",
            Limits {
                daily_requests: Some(1),
                ..Default::default()
            },
        )
        .await;
    let paced = gate
        .user_with_limits(
            "rpm",
            "t",
            Limits {
                rpm: Some(RateLimit::Max(1)),
                ..Default::default()
            },
        )
        .await;
    let budgeted = gate
        .user_with_limits(
            "bud",
            "t",
            Limits {
                daily_budget_usd: Some(1.0),
                ..Default::default()
            },
        )
        .await;
    gate.ops
        .block(
            &Actor::system("test"),
            "blo",
            BlockDuration::Indefinite,
            Some("refusal test".into()),
        )
        .await
        .unwrap();
    gate.wait_applied().await;

    let token = |u: &common::TestUser| u.key.bearer_token.clone();
    assert_eq!(call(&gate, &token(&limited), CONVERSE).await.0, 200);
    assert_eq!(call(&gate, &token(&paced), CONVERSE).await.0, 200);
    let refusals = [
        (
            token(&blocked),
            CONVERSE,
            "blo",
            Refused::Blocked,
            403,
            "AccessDeniedException",
        ),
        (
            token(&limited),
            CONVERSE,
            "lim",
            Refused::QuotaExceeded,
            400,
            "ServiceQuotaExceededException",
        ),
        (
            token(&paced),
            CONVERSE,
            "rpm",
            Refused::Throttled,
            429,
            "ThrottlingException",
        ),
        (
            token(&budgeted),
            BIDI,
            "bud",
            Refused::Validation,
            400,
            "ValidationException",
        ),
        (
            token(&budgeted),
            UNPRICED,
            "bud",
            Refused::NoPrice,
            400,
            "ValidationException",
        ),
    ];
    for (token, path, user, reason, status, kind) in refusals {
        let (got, got_kind, message, id) = call(&gate, &token, path).await;
        assert_eq!(
            (got, got_kind.as_str()),
            (status, kind),
            "{user}: {message}"
        );
        let r = row(&gate, &id).await;
        assert_eq!(r.username, user);
        assert_eq!(r.refused, Some(reason), "{r:?}");
        assert_eq!(r.status_code, i64::from(status));
        assert_eq!(r.error_type.as_deref(), Some(kind));
        assert_eq!(r.refusal_message.as_deref(), Some(message.as_str()));
        assert_eq!(
            (r.input_tokens, r.output_tokens, r.cost_usd),
            (0, 0, 0.0),
            "{r:?}"
        );
        assert!(r.upstream_request_id.is_none() && r.not_sent.is_none());

        // The admin API and the command line find it by the same id.
        let page = api.get_ok(&format!("/api/v1/usage?user={user}")).await;
        let found = page["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["request_uid"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} not in {page}"))
            .clone();
        assert_eq!(found["refused"], reason.to_string());
        assert_eq!(found["refusal_message"], message.as_str());
        assert_eq!(found["status_code"], status);
        let cli = cli_usage(&gate, user).to_string();
        assert!(
            cli.contains(&id) && cli.contains(&format!("\"refused\":\"{reason}\"")),
            "{id} {reason} not in {cli}"
        );
    }
    let text = metrics(&gate).await;
    for reason in [
        "blocked",
        "quota_exceeded",
        "throttled",
        "validation",
        "no_price",
    ] {
        let requests = [("outcome", "refused"), ("reason", reason)];
        assert_eq!(
            counted(&text, "bedrock_gate_requests_total", &requests),
            1.0,
            "{reason}:\n{text}"
        );
        let rows = [("result", "recorded"), ("reason", reason)];
        assert_eq!(
            counted(&text, "bedrock_gate_refusal_records_total", &rows),
            1.0,
            "{reason}:\n{text}"
        );
    }

    // Refused rows count in no total and no limit: the two calls that went through are
    // all the usage there is, and lim's one request is all it used.
    let totals = gate
        .store
        .usage_totals(&UsageFilter::default())
        .await
        .unwrap();
    assert_eq!(totals.requests, 2, "{totals:?}");
    // ... but every refusal is an error, alike in the store's totals, the rollups behind
    // `GET /api/v1/aggregates` (the dashboard's error columns) and `usage`'s totals.
    let rows = gate.store.requests(&UsageFilter::default()).await.unwrap();
    let refused = |user: Option<&str>| {
        rows.iter()
            .filter(|r| r.refused.is_some() && user.is_none_or(|u| r.username == u))
            .count() as i64
    };
    assert!(refused(None) >= 5, "{rows:?}");
    assert_eq!(totals.errors, refused(None), "{totals:?}");
    let by_user = api.get_ok("/api/v1/aggregates?group_by=user").await;
    let errors: i64 = by_user
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["errors"].as_i64().unwrap())
        .sum();
    assert_eq!(errors, refused(None), "{by_user}");
    let requests: i64 = by_user
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["requests"].as_i64().unwrap())
        .sum();
    assert_eq!(requests, 2, "refusals are no requests: {by_user}");
    for user in ["lim", "blo", "bud"] {
        let cli = cli_usage(&gate, user);
        assert_eq!(
            cli["totals"]["errors"].as_i64(),
            Some(refused(Some(user))),
            "{user}: {cli}"
        );
    }
    assert_eq!(requests_today(&gate, "lim").await, 1);
    assert_eq!(requests_today(&gate, "blo").await, 0);
    assert_eq!(requests_today(&gate, "bud").await, 0);
    assert_eq!(gate.upstream.count(), 2);
    gate.stop().await;
}

#[tokio::test]
async fn a_hammering_client_writes_a_bounded_number_of_rows() {
    let gate = Gate::start(GateOptions::default()).await;
    let user = gate.user("ham", "t").await;
    gate.ops
        .block(
            &Actor::system("test"),
            "ham",
            BlockDuration::Indefinite,
            Some("hammering".into()),
        )
        .await
        .unwrap();
    gate.wait_applied().await;
    let token = user.key.bearer_token.clone();
    let started = Instant::now();
    let mut sent = 0u32;
    let calls = 2_000u32;
    let workers = 16u32;
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (url, token) = (gate.url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..calls / workers {
                let (status, _) = raw_post(
                    &format!("{url}{CONVERSE}"),
                    &[("authorization", &format!("Bearer {token}"))],
                    BODY,
                )
                .await;
                assert_eq!(status, 403);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    sent += calls;
    let elapsed = started.elapsed().as_secs() + 1;

    // Every refusal is either a row or counted as skipped; the rows are the burst plus
    // at most one per second the storm lasted.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (rows, skipped) = loop {
        let text = metrics(&gate).await;
        let recorded = counted(
            &text,
            "bedrock_gate_refusal_records_total",
            &[("result", "recorded"), ("reason", "blocked")],
        );
        let skipped = counted(
            &text,
            "bedrock_gate_refusal_records_total",
            &[("result", "skipped"), ("reason", "blocked")],
        );
        assert_eq!(recorded + skipped, f64::from(sent), "{text}");
        let rows = gate.refusals().await.len();
        if rows as f64 == recorded {
            break (rows as u64, skipped as u64);
        }
        assert!(
            Instant::now() < deadline,
            "{rows} rows, {recorded} recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("{sent} refused calls in about {elapsed} s: {rows} rows, {skipped} skipped");
    assert!(rows >= 100, "the first 100 are all recorded: {rows}");
    assert!(rows <= 100 + elapsed, "{rows} rows in {elapsed} s");
    assert_eq!(rows + skipped, u64::from(sent));
    assert!(skipped >= u64::from(sent) - 100 - elapsed, "{skipped}");

    // The next refusal written says how many were not (refusals until one is written).
    let deadline = Instant::now() + Duration::from_secs(20);
    let note = "earlier refusals of this user were not recorded";
    loop {
        let (status, _, _, _) = call(&gate, &token, CONVERSE).await;
        assert_eq!(status, 403);
        sent += 1;
        let rows = gate.refusals().await;
        if rows
            .iter()
            .any(|r| r.refusal_message.as_deref().unwrap_or("").contains(note))
        {
            break;
        }
        assert!(Instant::now() < deadline, "no refusal was written again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every refusal written has been counted.
    let deadline = Instant::now() + Duration::from_secs(10);
    while metrics(&gate)
        .await
        .lines()
        .any(|l| l.starts_with("bedrock_gate_record_queue_depth ") && !l.ends_with(" 0"))
    {
        assert!(Instant::now() < deadline, "the record queue did not drain");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let text = metrics(&gate).await;
    let counted_all = counted(
        &text,
        "bedrock_gate_refusal_records_total",
        &[("reason", "blocked")],
    );
    assert_eq!(counted_all, f64::from(sent), "{text}");
    assert_eq!(
        gate.refusals().await.len() as f64,
        counted(
            &text,
            "bedrock_gate_refusal_records_total",
            &[("result", "recorded")]
        )
    );
    assert_eq!(requests_today(&gate, "ham").await, 0);
    assert_eq!(gate.upstream.count(), 0);
    gate.stop().await;
}

#[tokio::test]
async fn the_refusal_a_user_can_act_on_comes_first() {
    let gate = Gate::start(GateOptions::default()).await;
    let budget_and_two_calls = Limits {
        daily_requests: Some(2),
        daily_budget_usd: Some(1.0),
        ..Default::default()
    };
    let over = gate
        .user_with_limits("over", "t", budget_and_two_calls)
        .await;
    let blocked = gate
        .user_with_limits("blocked", "t", budget_and_two_calls)
        .await;
    gate.ops
        .block(
            &Actor::system("test"),
            "blocked",
            BlockDuration::Indefinite,
            Some("order test".into()),
        )
        .await
        .unwrap();
    gate.wait_applied().await;
    let over = over.key.bearer_token;

    // Under the limit an unpriced model is refused for its price, five times (Claude
    // Code's probes at start), and none of them counts: both calls are still there.
    for _ in 0..5 {
        let (status, kind, message, _) = call(&gate, &over, UNPRICED).await;
        assert_eq!((status, kind.as_str()), (400, "ValidationException"));
        assert!(message.contains("No price is configured"), "{message}");
    }
    assert_eq!(call(&gate, &over, CONVERSE).await.0, 200);
    assert_eq!(call(&gate, &over, CONVERSE).await.0, 200);
    gate.records(2).await;
    assert_eq!(requests_today(&gate, "over").await, 2);

    // Over the limit, the limit is what the user hears about.
    let (status, kind, message, id) = call(&gate, &over, UNPRICED).await;
    assert_eq!(
        (status, kind.as_str()),
        (400, "ServiceQuotaExceededException"),
        "{message}"
    );
    assert!(message.contains("daily request limit of 2"), "{message}");
    assert!(!message.contains("No price"), "{message}");
    assert_eq!(row(&gate, &id).await.refused, Some(Refused::QuotaExceeded));

    // A blocked user hears about the block, whatever else is wrong with the call.
    let (status, kind, message, _) = call(&gate, &blocked.key.bearer_token, UNPRICED).await;
    assert_eq!((status, kind.as_str()), (403, "AccessDeniedException"));
    assert!(message.contains("order test"), "{message}");
    assert_eq!(requests_today(&gate, "over").await, 2);
    assert_eq!(gate.upstream.count(), 2);
    gate.stop().await;
}

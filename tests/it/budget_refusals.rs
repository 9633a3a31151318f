//! Budget refusals that do not block, and reservations that cannot be dodged
//! (docs/QUOTA.md, "Refusals, blocks and protection" and "Budgets"): a call whose worst
//! case does not fit what is left is refused with a message that says what it asked for,
//! what is left (used and reserved apart) and what would fit; the user is not blocked and
//! a smaller call passes. An output limit spelled so that it cannot be reserved is a
//! validation error, in every spelling. A refused call takes no capacity: with two
//! proxies, the other one serves at once, and every message tells what was spent from
//! what other proxies hold.

use crate::common;

use bedrock_gate::store::Limits;
use common::local::{error_message as message, error_type};
use common::{raw_post, shared_engine, Gate, GateOptions, BODY};

/// User erin with a daily budget of $1.00: the Converse URL and her Authorization value.
async fn erin(gate: &Gate) -> (String, String) {
    let erin = gate
        .user_with_limits(
            "erin",
            "t",
            Limits {
                daily_budget_usd: Some(1.0),
                ..Default::default()
            },
        )
        .await;
    (
        format!("{}{}", gate.url, common::CONVERSE),
        format!("Bearer {}", erin.key.bearer_token),
    )
}

#[tokio::test]
async fn a_worst_case_that_does_not_fit_refuses_without_blocking() {
    let gate = Gate::start(GateOptions::default()).await;
    let (url, auth) = erin(&gate).await;
    let post = |body: Vec<u8>| {
        let (url, auth) = (url.clone(), auth.clone());
        async move { raw_post(&url, &[("authorization", &auth)], &body).await }
    };
    // claude-3-haiku output is $0.00125 per 1k: 1,000,000 tokens may cost $1.25.
    let large =
        br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":1000000}}"#;
    let (status, resp) = post(large.to_vec()).await;
    assert_eq!(
        (status, error_type(&resp).as_str()),
        (400, "ServiceQuotaExceededException")
    );
    let m = message(&resp);
    for part in [
        "may cost up to $1.25",
        "maximum output of 1000000 tokens (max_tokens) at $0.00125/1,000 output tokens",
        "more than the $1.00 left of the daily budget of $1.00 for user erin",
        "($0.00 used, $0.00 reserved by calls in progress)",
        "The user is not blocked.",
    ] {
        assert!(m.contains(part), "`{part}` not in: {m}");
    }
    assert!(!m.contains("used or reserved"), "{m}");
    // $1.00 buys 800,000 output tokens, less the prompt's share.
    let fits: u64 = m
        .split("a maximum output of ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no fitting output in: {m}"));
    assert!((799_000..800_000).contains(&fits), "{fits}");
    assert_eq!(gate.upstream.count(), 0);

    // A call within what the message offered passes, and so do small ones; nothing
    // blocked erin.
    let smaller = String::from_utf8(large.to_vec())
        .unwrap()
        .replace("1000000", &(fits / 2).to_string());
    assert_eq!(post(smaller.into_bytes()).await.0, 200);
    assert_eq!(post(BODY.to_vec()).await.0, 200);
    let info = gate.ops.user_info("erin").await.unwrap();
    assert!(!info.blocking.blocked, "{:?}", info.blocking);
    assert_eq!(gate.upstream.count(), 2);
    gate.stop().await;
}

#[tokio::test]
async fn output_limits_spelled_to_dodge_the_reservation_are_refused() {
    let gate = Gate::start(GateOptions::default()).await;
    let (url, auth) = erin(&gate).await;
    let huge = format!("1{}", "0".repeat(30));
    for (body, field) in [
        (
            r#"{"messages":[],"inferenceConfig":{"maxTokens":"100000"}}"#.to_string(),
            "inferenceConfig.maxTokens",
        ),
        (
            r#"{"messages":[],"max_tokens":100000.0}"#.into(),
            "max_tokens",
        ),
        (
            r#"{"messages":[],"inferenceConfig":{"maxTokens":10},"max_gen_len":-1}"#.into(),
            "max_gen_len",
        ),
        (r#"{"messages":[],"max_tokens":1e30}"#.into(), "max_tokens"),
        (
            format!(r#"{{"messages":[],"max_tokens":{huge}}}"#),
            "max_tokens",
        ),
        (
            r#"{"messages":[],"max_tokens":10,"max_tokens":1000000}"#.into(),
            "max_tokens",
        ),
        (
            r#"{"prompt":"hi","max_tokens_to_sample":"5000"}"#.into(),
            "max_tokens_to_sample",
        ),
        (
            r#"{"textGenerationConfig":{"maxTokenCount":-5},"inputText":"hi"}"#.into(),
            "textGenerationConfig.maxTokenCount",
        ),
    ] {
        let (status, resp) = raw_post(&url, &[("authorization", &auth)], body.as_bytes()).await;
        assert_eq!(
            (status, error_type(&resp).as_str()),
            (400, "ValidationException"),
            "{body}"
        );
        let m = message(&resp);
        assert!(
            m.contains(&format!("`{field}` must be a whole number")),
            "{body}: {m}"
        );
    }
    assert_eq!(gate.upstream.count(), 0);
    gate.stop().await;
}

/// The micro-USD amount right before `after` in `text` (`$0.000087 used`).
fn micro_before(text: &str, after: &str) -> Option<i64> {
    let head = text.split(after).next()?;
    let usd: f64 = head.rsplit('$').next()?.trim().parse().ok()?;
    Some((usd * 1_000_000.0).round() as i64)
}

/// Micro-USD of the daily budget counters granted to all proxies.
async fn granted_micro_usd(url: &str) -> i64 {
    use sqlx::Connection;
    let sql = "SELECT CAST(COALESCE(SUM(granted), 0) AS SIGNED) FROM quota_counters \
               WHERE metric = 'micro_usd' AND LENGTH(period) = 10";
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::MySqlConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
    }
}

#[tokio::test]
async fn a_refusal_on_one_proxy_strands_nothing_while_the_other_serves() {
    let a = Gate::start(GateOptions {
        engine: shared_engine(),
        ..Default::default()
    })
    .await;
    let b = Gate::start(GateOptions {
        shared_db: Some(a.db_url()),
        ..Default::default()
    })
    .await;
    let (url_a, auth) = erin(&a).await;
    b.wait_key_known(auth.trim_start_matches("Bearer "), true)
        .await;
    let url_b = format!("{}{}", b.url, common::CONVERSE);
    let post = |url: &str, body: &[u8]| {
        let (url, auth, body) = (url.to_string(), auth.clone(), body.to_vec());
        async move { raw_post(&url, &[("authorization", &auth)], &body).await }
    };
    let large =
        br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":1000000}}"#;
    let eighth =
        br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":100000}}"#;

    // A small call on A: A holds a chunk of the budget.
    assert_eq!(post(&url_a, BODY).await.0, 200);
    let cost = (a.records(1).await[0].cost_usd * 1_000_000.0).ceil() as i64;
    let before = granted_micro_usd(&a.db_url()).await;
    assert!(
        before < 100_000,
        "A holds a chunk, not the budget: {before}"
    );

    // A refuses the $1.25 worst case and takes nothing for it.
    let (status, resp) = post(&url_a, large).await;
    assert_eq!(
        (status, error_type(&resp).as_str()),
        (400, "ServiceQuotaExceededException")
    );
    let m = message(&resp);
    assert!(
        m.contains("more than the $1.00 left of the daily budget of $1.00"),
        "{m}"
    );
    assert_eq!(micro_before(&m, " used,"), Some(cost), "{m}");
    assert!(m.contains("The user is not blocked."), "{m}");
    assert_eq!(
        granted_micro_usd(&a.db_url()).await,
        before,
        "a refused call pulls no capacity"
    );

    // B serves a $0.125 call at once, and so does A.
    let (status, resp) = post(&url_b, eighth).await;
    assert_eq!(status, 200, "{}", message(&resp));
    assert_eq!(post(&url_a, eighth).await.0, 200);

    // B's refusal of the large call: what was spent, with what A holds named as held
    // elsewhere, never as used; once A has reported its spending (every 2 s), the
    // used amount is the whole real spend.
    let spent = 3 * cost;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (status, resp) = post(&url_b, large).await;
        assert_eq!(status, 400);
        let m = message(&resp);
        let used = micro_before(&m, " used,").unwrap_or_else(|| panic!("{m}"));
        assert!(
            (cost..=spent).contains(&used),
            "used {used} of a real {spent}: {m}"
        );
        assert!(
            m.contains("held by other proxies"),
            "A still holds its chunk: {m}"
        );
        if used == spent {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{m}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(a.upstream.valid_count() + b.upstream.valid_count(), 3);
    b.stop().await;
    a.stop().await;
}

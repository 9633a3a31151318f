//! A lowered limit is exact at once (docs/QUOTA.md, "How a lowered limit takes effect
//! and why it is exact"), through the real proxy: capacity granted under the old limit
//! is taken back when a user's limit, a team's limit or a budget falls, on every proxy,
//! so that once the change is applied exactly what is left under the new limit is
//! admitted, counted at the fake upstream; a refusal says the real use, also past a
//! limit lowered below it; raising a limit keeps working. On one proxy (SQLite) and on
//! two proxies sharing a database (MariaDB when configured), with calls flowing on
//! both proxies while the limit drops.

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bedrock_gate::domain::{Actor, LimitsUpdate};
use bedrock_gate::store::Limits;
use common::local::error_message as message;
use common::{converse as call, shared_engine, Engine, Gate, GateOptions};

fn daily(n: i64) -> Limits {
    Limits {
        daily_requests: Some(n),
        ..Default::default()
    }
}

async fn set_daily(gate: &Gate, user: &str, n: i64) {
    gate.ops
        .set_user_limits(
            &Actor::system("test"),
            user,
            &LimitsUpdate {
                daily_requests: Some(Some(n)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

/// `n` calls, one after the other, round-robin over `urls`: the number admitted and
/// the message of the last refusal. Any status but 200 and 400 fails the test.
async fn calls(urls: &[&str], token: &str, n: usize) -> (usize, String) {
    let (mut admitted, mut refusal) = (0, String::new());
    for i in 0..n {
        let (status, resp) = call(urls[i % urls.len()], token).await;
        match status {
            200 => admitted += 1,
            400 => refusal = message(&resp),
            other => panic!("unexpected status {other}: {}", message(&resp)),
        }
    }
    (admitted, refusal)
}

/// Two proxies on one database (MariaDB when configured, else a shared SQLite file).
async fn two_proxies() -> (Gate, Gate) {
    let first = Gate::start(GateOptions {
        engine: shared_engine(),
        ..Default::default()
    })
    .await;
    let second = Gate::start(GateOptions {
        shared_db: Some(first.db_url()),
        ..Default::default()
    })
    .await;
    (first, second)
}

async fn wait_applied(gates: &[&Gate]) {
    for g in gates {
        g.wait_applied().await;
    }
}

fn upstream(gates: &[&Gate]) -> usize {
    gates.iter().map(|g| g.upstream.valid_count()).sum()
}

#[tokio::test]
async fn a_lowered_limit_is_exact_at_once_on_one_proxy() {
    let gate = Gate::start(GateOptions {
        engine: Engine::Sqlite,
        ..Default::default()
    })
    .await;
    let url = [gate.url.as_str()];

    // The case: 10 calls of 350, lowered to 12: 2 more, and the refusal says 12.
    let carol = gate.user_with_limits("carol", "t", daily(350)).await;
    let token = &carol.key.bearer_token;
    assert_eq!(calls(&url, token, 10).await.0, 10);
    set_daily(&gate, "carol", 12).await;
    gate.wait_applied().await;
    let (admitted, refusal) = calls(&url, token, 30).await;
    assert_eq!(admitted, 2, "{refusal}");
    assert_eq!(gate.upstream.valid_count(), 12, "counted at the upstream");
    assert!(
        refusal.contains("daily request limit of 12 for user carol is reached (12 requests used)"),
        "{refusal}"
    );

    // Lowered below the use: everything is refused, and the refusal says the real use.
    let dave = gate.user_with_limits("dave", "t", daily(350)).await;
    assert_eq!(calls(&url, &dave.key.bearer_token, 10).await.0, 10);
    set_daily(&gate, "dave", 5).await;
    gate.wait_applied().await;
    let (admitted, refusal) = calls(&url, &dave.key.bearer_token, 5).await;
    assert_eq!(admitted, 0, "{refusal}");
    assert!(
        refusal.contains("daily request limit of 5 for user dave is reached (10 requests used)"),
        "{refusal}"
    );

    // Lowered, then raised: the new room is there.
    let erin = gate.user_with_limits("erin", "t", daily(350)).await;
    let token = &erin.key.bearer_token;
    assert_eq!(calls(&url, token, 10).await.0, 10);
    set_daily(&gate, "erin", 11).await;
    gate.wait_applied().await;
    assert_eq!(calls(&url, token, 1).await.0, 1);
    set_daily(&gate, "erin", 15).await;
    gate.wait_applied().await;
    let (admitted, refusal) = calls(&url, token, 30).await;
    assert_eq!(admitted, 4, "{refusal}");
    assert!(refusal.contains("(15 requests used)"), "{refusal}");
    assert_eq!(gate.upstream.valid_count(), 12 + 10 + 15);
    gate.stop().await;
}

/// Calls (refused ones) until a refusal names `used` as the use, within 15 s: the
/// proxies report what they spent every 2 s.
async fn wait_refusal_says(urls: &[&str], token: &str, used: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (admitted, refusal) = calls(urls, token, urls.len()).await;
        assert_eq!(admitted, 0, "nothing more is admitted: {refusal}");
        if refusal.contains(used) {
            return refusal;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no refusal said `{used}`; the last: {refusal}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_lowered_user_or_team_limit_is_exact_across_two_proxies() {
    let (first, second) = two_proxies().await;
    let gates = [&first, &second];
    let urls = [first.url.as_str(), second.url.as_str()];

    let carol = first.user_with_limits("carol", "t", daily(350)).await;
    let token = &carol.key.bearer_token;
    second.wait_key_known(token, true).await;
    assert_eq!(calls(&urls, token, 10).await.0, 10);
    set_daily(&first, "carol", 12).await;
    wait_applied(&gates).await;
    let (admitted, refusal) = calls(&urls, token, 30).await;
    assert_eq!(admitted, 2, "{refusal}");
    assert_eq!(upstream(&gates), 12, "counted at the upstreams");
    wait_refusal_says(&urls, token, "(12 requests used)").await;

    // A team's limit, drawn on by two members through both proxies.
    let ann = first.user("ann", "crew").await;
    let ben = first.user("ben", "crew").await;
    for g in gates {
        g.wait_key_known(&ben.key.bearer_token, true).await;
        g.wait_key_known(&ann.key.bearer_token, true).await;
    }
    let team_limit = |n| LimitsUpdate {
        daily_requests: Some(Some(n)),
        ..Default::default()
    };
    first
        .ops
        .set_team_limits(&Actor::system("test"), "crew", &team_limit(350))
        .await
        .unwrap();
    wait_applied(&gates).await;
    let tokens = [&ann.key.bearer_token, &ben.key.bearer_token];
    let mut admitted = 0;
    for i in 0..10 {
        admitted += calls(&[urls[i % 2]], tokens[i / 2 % 2], 1).await.0;
    }
    assert_eq!(admitted, 10);
    first
        .ops
        .set_team_limits(&Actor::system("test"), "crew", &team_limit(12))
        .await
        .unwrap();
    wait_applied(&gates).await;
    let (mut admitted, mut refusal) = (0, String::new());
    for i in 0..30 {
        let (n, r) = calls(&[urls[i % 2]], tokens[i / 2 % 2], 1).await;
        admitted += n;
        if n == 0 {
            refusal = r;
        }
    }
    assert_eq!(admitted, 2, "{refusal}");
    assert!(
        refusal.contains("daily request limit of 12 for team crew"),
        "{refusal}"
    );
    assert_eq!(upstream(&gates), 12 + 12);
    second.stop().await;
    first.stop().await;
}

/// The first amount in micro-USD after `before` in `text` (`$0.000522` or `$0.52`).
fn micro_after(text: &str, before: &str) -> Option<i64> {
    let rest = text.split(before).nth(1)?;
    let number: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let usd: f64 = number.parse().ok()?;
    Some((usd * 1_000_000.0).round() as i64)
}

/// The micro-USD amount right before `after` in `text` (`$0.000522 used`).
fn micro_before(text: &str, after: &str) -> Option<i64> {
    let head = text.split(after).next()?;
    let number = head.rsplit('$').next()?;
    let usd: f64 = number.trim().parse().ok()?;
    Some((usd * 1_000_000.0).round() as i64)
}

#[tokio::test]
async fn a_lowered_budget_is_exact_across_two_proxies() {
    let (first, second) = two_proxies().await;
    let gates = [&first, &second];
    let urls = [first.url.as_str(), second.url.as_str()];
    let erin = first
        .user_with_limits(
            "erin",
            "t",
            Limits {
                daily_budget_usd: Some(1.0),
                ..Default::default()
            },
        )
        .await;
    let token = &erin.key.bearer_token;
    second.wait_key_known(token, true).await;
    // Both proxies draw a chunk of the $1.00 (1 % of it, far more than a call costs).
    assert_eq!(calls(&urls, token, 6).await.0, 6);
    let cost = {
        let records = first.records(6).await;
        let micro = |usd: f64| (usd * 1_000_000.0).ceil() as i64;
        let cost = micro(records[0].cost_usd);
        assert!(cost > 0 && records.iter().all(|r| micro(r.cost_usd) == cost));
        cost
    };
    // Lowered to what was spent plus $0.002: about 15 more calls' worst cases.
    let spent = 6 * cost;
    let budget_usd = (spent + 2_000) as f64 / 1_000_000.0;
    let budget = bedrock_gate::quota::limit_micro(budget_usd);
    first
        .ops
        .set_user_limits(
            &Actor::system("test"),
            "erin",
            &LimitsUpdate {
                daily_budget_usd: Some(Some(budget_usd)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    wait_applied(&gates).await;
    // Calls through the first proxy only: the second gave its chunk back when it loaded
    // the new budget, so nothing of it is stranded there.
    let (admitted, refusal) = calls(&urls[..1], token, 40).await;
    let total = (6 + admitted) as i64 * cost;
    assert!(
        total <= budget,
        "spent {total} µUSD of a budget of {budget}: {refusal}"
    );
    let worst = micro_after(&refusal, "may cost up to $").unwrap_or_else(|| panic!("{refusal}"));
    let left = micro_after(&refusal, "more than the $").unwrap_or_else(|| panic!("{refusal}"));
    let used = micro_before(&refusal, " used,").unwrap_or_else(|| panic!("{refusal}"));
    assert!(admitted >= 10, "{admitted} admitted: {refusal}");
    assert_eq!(used, total, "the refusal says the real spend: {refusal}");
    assert_eq!(left, budget - total, "{refusal}");
    assert!(left < worst, "{refusal}");
    assert!(!refusal.contains("held by other proxies"), "{refusal}");
    assert_eq!(upstream(&gates), 6 + admitted);
    second.stop().await;
    first.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_limit_lowered_under_load_admits_exactly_the_new_limit() {
    let (first, second) = two_proxies().await;
    let carol = first.user_with_limits("carol", "t", daily(1_000)).await;
    let token = Arc::new(carol.key.bearer_token.clone());
    second.wait_key_known(&token, true).await;
    let admitted = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let lowered = Arc::new(AtomicBool::new(false));
    // Two paced clients per proxy (about 50 calls a second together), each calling
    // until it is refused after the limit fell.
    let mut clients = Vec::new();
    for url in [first.url.clone(), second.url.clone()] {
        for _ in 0..2 {
            let (url, token) = (url.clone(), Arc::clone(&token));
            let (admitted, in_flight, lowered) = (
                Arc::clone(&admitted),
                Arc::clone(&in_flight),
                Arc::clone(&lowered),
            );
            clients.push(tokio::spawn(async move {
                let mut pace = tokio::time::interval(Duration::from_millis(80));
                loop {
                    pace.tick().await;
                    in_flight.fetch_add(1, Ordering::SeqCst);
                    let (status, resp) = call(&url, &token).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    match status {
                        200 => {
                            admitted.fetch_add(1, Ordering::SeqCst);
                        }
                        400 if lowered.load(Ordering::SeqCst) => return,
                        other => panic!("unexpected status {other}: {}", message(&resp)),
                    }
                }
            }));
        }
    }
    // Wait until the proxies hold well more than the new limit will leave: then keeping
    // what they hold would overshoot it.
    let db = first.db_url();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let new_limit = loop {
        let granted = granted(&db).await;
        let used = admitted.load(Ordering::SeqCst) + in_flight.load(Ordering::SeqCst);
        if granted >= used as i64 + 80 {
            break used as i64 + 30;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the chunks never grew"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    lowered.store(true, Ordering::SeqCst);
    set_daily(&first, "carol", new_limit).await;
    for c in clients {
        c.await.unwrap();
    }
    let admitted = admitted.load(Ordering::SeqCst) as i64;
    assert_eq!(admitted, new_limit);
    assert_eq!(
        upstream(&[&first, &second]) as i64,
        new_limit,
        "counted at the upstreams"
    );
    second.stop().await;
    first.stop().await;
}

/// Units of the daily request counters granted to all proxies.
async fn granted(url: &str) -> i64 {
    use sqlx::Connection;
    let sql = "SELECT CAST(COALESCE(SUM(granted), 0) AS SIGNED) FROM quota_counters \
               WHERE metric = 'requests' AND LENGTH(period) = 10";
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::MySqlConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
    }
}

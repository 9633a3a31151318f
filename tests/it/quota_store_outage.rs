//! A quota store that does not answer: every call that needs a chunk grant is refused at
//! its deadline (`quota.store_timeout_ms`) with 503 `ServiceUnavailableException` and
//! `Retry-After`, nothing reaches upstream, and the grant that was under way still lands
//! in the proxy's bucket when the store answers (no stranded capacity).
//!
//! With `quota.on_store_outage = "allow"` the same outages admit calls on each user's
//! allowance, refuse past it, and charge the counters when the store answers.
//!
//! The engine is driven against a ledger that answers only when the test lets it; the
//! proxy against its real SQLite database held by an exclusive transaction of the test.
//! Waits are for observable state, with a safety deadline that fails instead of hanging.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use bedrock_gate::quota::engine::{period_keys, Ask, OnStoreOutage, QuotaEngine, Refusal};
use bedrock_gate::quota::ledger::{Grant, Ledger, LedgerFuture, MemoryLedger};
use bedrock_gate::quota::{CounterKey, Metric, Subject};
use bedrock_gate::store::Limits;
use chrono_tz::Tz;
use common::{converse, Gate, GateOptions, TestUser};
use sqlx::Connection;
use tokio::sync::watch;

const SAFETY: Duration = Duration::from_secs(30);

/// A [`MemoryLedger`] whose grants wait until the test opens the gate.
struct Stalled {
    inner: MemoryLedger,
    open: watch::Receiver<bool>,
}

impl Ledger for Stalled {
    fn grant<'a>(
        &'a self,
        key: &'a CounterKey,
        need: i64,
        want: i64,
        limit: i64,
    ) -> LedgerFuture<'a, Grant> {
        let mut open = self.open.clone();
        Box::pin(async move {
            open.wait_for(|o| *o).await.unwrap();
            self.inner.grant(key, need, want, limit).await
        })
    }

    fn release<'a>(&'a self, key: &'a CounterKey, amount: i64) -> LedgerFuture<'a, ()> {
        self.inner.release(key, amount)
    }

    fn statements(&self) -> u64 {
        self.inner.statements()
    }
}

#[tokio::test]
async fn a_stalled_ledger_refuses_at_the_deadline_and_its_late_grant_is_kept() {
    let (open_tx, open) = watch::channel(false);
    let ledger = Arc::new(Stalled {
        inner: MemoryLedger::default(),
        open,
    });
    let engine = QuotaEngine::new(Arc::clone(&ledger) as Arc<dyn Ledger>, Tz::CET, 80, None)
        .with_store_timeout(Duration::from_millis(200));
    let ask = Ask {
        user_id: 1,
        username: "alice",
        team_id: 7,
        team: "research",
        user_limits: Limits {
            daily_requests: Some(1000),
            ..Limits::default()
        },
        team_limits: Limits::default(),
        micro_usd: 0,
        allow_grants: true,
    };
    let now = chrono::Utc::now();
    let refused = tokio::time::timeout(SAFETY, engine.admit(&ask, now))
        .await
        .expect("admission waited past its deadline");
    match refused {
        Err(Refusal::Unavailable(m)) => assert!(m.contains("quota.store_timeout_ms"), "{m}"),
        other => panic!("expected a store refusal, got {other:?}"),
    }
    // A second call waits for the same counter's grant lock and is refused the same way.
    let again = tokio::time::timeout(SAFETY, engine.admit(&ask, now))
        .await
        .expect("the grant lock was waited on past the deadline");
    assert!(matches!(again, Err(Refusal::Unavailable(_))), "{again:?}");

    // The store answers: the grant that was under way lands in the bucket.
    open_tx.send(true).unwrap();
    let key = CounterKey {
        subject: Subject::User(1),
        metric: Metric::Requests,
        period: period_keys(Tz::CET, now).0.into(),
    };
    let deadline = tokio::time::Instant::now() + SAFETY;
    while engine.held(&key) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the late grant was lost"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Everything granted is held by the engine: nothing stranded.
    assert_eq!(ledger.inner.granted(&key), engine.held(&key));
    assert!(engine.admit(&ask, now).await.is_ok());
}

/// A proxy with a 300 ms store deadline (and `overrides`), user alice with a daily limit
/// of 100, and a connection of the test holding the SQLite database in an exclusive
/// transaction: no grant can be written until it ends.
async fn locked_gate(overrides: &[(&str, &str)]) -> (Gate, TestUser, sqlx::SqliteConnection) {
    let mut all = vec![(
        "BEDROCK_GATE_QUOTA__STORE_TIMEOUT_MS".to_string(),
        "300".to_string(),
    )];
    all.extend(
        overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let gate = Gate::start(GateOptions {
        overrides: all,
        ..Default::default()
    })
    .await;
    let alice = gate
        .user_with_limits(
            "alice",
            "research",
            Limits {
                daily_requests: Some(100),
                ..Limits::default()
            },
        )
        .await;
    // Another process holds the database: no grant can be written.
    let mut holder = sqlx::SqliteConnection::connect(&gate.db_url())
        .await
        .unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut holder)
        .await
        .unwrap();
    (gate, alice, holder)
}

#[tokio::test]
async fn a_locked_database_gets_503_with_retry_after_and_recovers_by_itself() {
    let (gate, alice, mut holder) = locked_gate(&[]).await;
    let (status, resp) = tokio::time::timeout(SAFETY, converse(&gate.url, &alice.key.bearer_token))
        .await
        .expect("the call waited past the store deadline");
    assert_eq!(status, 503, "{:?}", resp.body());
    assert_eq!(
        resp.headers()["x-amzn-errortype"],
        "ServiceUnavailableException"
    );
    assert_eq!(resp.headers()["retry-after"], "2");
    let message: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    assert!(
        message["message"].as_str().unwrap().contains("quota store"),
        "{message}"
    );
    assert_eq!(gate.upstream.count(), 0, "nothing reaches Bedrock");

    // The database is free again: calls pass without a restart.
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    let deadline = tokio::time::Instant::now() + SAFETY;
    loop {
        let (status, _) = converse(&gate.url, &alice.key.bearer_token).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(tokio::time::Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gate.stop().await;
}

/// An ask of `user` (team 7) with a daily request limit of 1,000 on both.
fn ask_of(user_id: i64, username: &str) -> Ask<'_> {
    Ask {
        user_id,
        username,
        team_id: 7,
        team: "research",
        user_limits: Limits {
            daily_requests: Some(1000),
            ..Limits::default()
        },
        team_limits: Limits {
            daily_requests: Some(1000),
            ..Limits::default()
        },
        micro_usd: 0,
        allow_grants: true,
    }
}

fn day_key(subject: Subject, now: chrono::DateTime<chrono::Utc>) -> CounterKey {
    CounterKey {
        subject,
        metric: Metric::Requests,
        period: period_keys(Tz::CET, now).0.into(),
    }
}

#[tokio::test]
async fn allow_mode_admits_on_the_allowance_and_charges_it_when_the_ledger_answers() {
    let (open_tx, open) = watch::channel(false);
    let ledger = Arc::new(Stalled {
        inner: MemoryLedger::default(),
        open,
    });
    let engine = QuotaEngine::new(Arc::clone(&ledger) as Arc<dyn Ledger>, Tz::CET, 80, None)
        .with_store_timeout(Duration::from_millis(100))
        .with_outage_policy(OnStoreOutage::Allow {
            requests: 3,
            micro_usd: 0,
        });
    let now = chrono::Utc::now();
    let (alice, bob) = (ask_of(1, "alice"), ask_of(2, "bob"));

    // The first call waits for the store once; then the allowance admits it and the
    // next two without asking the store again.
    for i in 0..3 {
        let admitted = tokio::time::timeout(SAFETY, engine.admit(&alice, now))
            .await
            .expect("admission waited past its deadline");
        let reservation = admitted.unwrap_or_else(|r| panic!("call {i} refused: {r:?}"));
        engine.settle(reservation, 0);
    }
    // The fourth is past alice's allowance: refused at once, saying why.
    let started = std::time::Instant::now();
    match engine.admit(&alice, now).await {
        Err(Refusal::Unavailable(m)) => {
            assert!(m.contains("allowance") && m.contains("alice"), "{m}")
        }
        other => panic!("expected a store refusal past the allowance, got {other:?}"),
    }
    assert!(
        started.elapsed() < SAFETY,
        "a refusal past the allowance should not wait for the store"
    );
    // Bob has his own allowance; the team's counter is credited for both.
    engine.settle(engine.admit(&bob, now).await.unwrap(), 0);

    // A pass waits for the ledger (a charge given up on could land later and count
    // twice); meanwhile calls still use the allowance without waiting.
    let (alice_day, bob_day, team_day) = (
        day_key(Subject::User(1), now),
        day_key(Subject::User(2), now),
        day_key(Subject::Team(7), now),
    );
    let engine = Arc::new(engine);
    let pass = tokio::spawn({
        let engine = Arc::clone(&engine);
        async move { engine.reconcile_outage().await }
    });
    let carol = ask_of(3, "carol");
    engine.settle(engine.admit(&carol, now).await.unwrap(), 0);
    assert_eq!(ledger.inner.granted(&alice_day), 0);

    // The store answers: the pass charges exactly the credited units. The grant that
    // was under way when the outage began lands in the bucket as well, so the ledger
    // shows what was consumed plus what this proxy holds.
    open_tx.send(true).unwrap();
    pass.await.unwrap();
    engine.reconcile_outage().await;
    let deadline = tokio::time::Instant::now() + SAFETY;
    while ledger.inner.granted(&alice_day) != 3 + engine.held(&alice_day) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "alice: ledger {} vs consumed 3 + held {}",
            ledger.inner.granted(&alice_day),
            engine.held(&alice_day)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        engine.reconcile_outage().await;
    }
    assert_eq!(
        ledger.inner.granted(&bob_day),
        1 + engine.held(&bob_day),
        "bob"
    );
    assert_eq!(
        ledger.inner.granted(&team_day),
        5 + engine.held(&team_day),
        "the team counter carries the three users' calls"
    );
    // The outage is over: alice is admitted again, from the ledger.
    engine.settle(engine.admit(&alice, now).await.unwrap(), 0);
}

#[tokio::test]
async fn refuse_mode_never_admits_without_the_ledger() {
    let (_open_tx, open) = watch::channel(false);
    let ledger = Arc::new(Stalled {
        inner: MemoryLedger::default(),
        open,
    });
    let engine = QuotaEngine::new(Arc::clone(&ledger) as Arc<dyn Ledger>, Tz::CET, 80, None)
        .with_store_timeout(Duration::from_millis(50))
        .with_outage_policy(OnStoreOutage::Refuse);
    let alice = ask_of(1, "alice");
    for _ in 0..3 {
        let refused = engine.admit(&alice, chrono::Utc::now()).await;
        assert!(
            matches!(refused, Err(Refusal::Unavailable(_))),
            "{refused:?}"
        );
    }
}

#[tokio::test]
async fn allow_mode_serves_calls_with_the_database_locked_and_counts_them_afterwards() {
    let (gate, alice, mut holder) = locked_gate(&[
        ("BEDROCK_GATE_QUOTA__ON_STORE_OUTAGE", "allow"),
        ("BEDROCK_GATE_QUOTA__OUTAGE_ALLOWANCE_REQUESTS", "3"),
    ])
    .await;
    for i in 0..3 {
        let (status, resp) =
            tokio::time::timeout(SAFETY, converse(&gate.url, &alice.key.bearer_token))
                .await
                .expect("the call waited past the store deadline");
        assert_eq!(status, 200, "call {i}: {:?}", resp.body());
    }
    assert_eq!(gate.upstream.count(), 3);
    let (status, resp) = converse(&gate.url, &alice.key.bearer_token).await;
    assert_eq!(status, 503, "past the allowance: {:?}", resp.body());
    assert_eq!(resp.headers()["retry-after"], "2");
    let message: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    assert!(
        message["message"].as_str().unwrap().contains("allowance"),
        "{message}"
    );
    assert_eq!(
        gate.upstream.count(),
        3,
        "the refused call never went upstream"
    );
    let granted = "SELECT COALESCE(SUM(granted), 0) FROM quota_counters \
                   WHERE subject LIKE 'user:%' AND metric = 'requests'";
    let during: i64 = sqlx::query_scalar(granted)
        .fetch_one(&mut holder)
        .await
        .unwrap();
    assert_eq!(during, 0, "nothing could be written during the outage");

    // The database is free: the three calls are charged to alice's counter and their
    // records stored, without a restart.
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    let deadline = tokio::time::Instant::now() + SAFETY;
    loop {
        let now: i64 = sqlx::query_scalar(granted)
            .fetch_one(&mut holder)
            .await
            .unwrap();
        if now >= 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the outage's calls were never charged (granted {now})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(gate.records(3).await.len(), 3);
    let (status, _) = converse(&gate.url, &alice.key.bearer_token).await;
    assert_eq!(status, 200, "served again after the outage");
    gate.stop().await;
}

//! A quota store that does not answer: every call that needs a chunk grant is refused at
//! its deadline (`quota.store_timeout_ms`) with 503 `ServiceUnavailableException` and
//! `Retry-After`, nothing reaches upstream, and the grant that was under way still lands
//! in the proxy's bucket when the store answers (no stranded capacity).
//!
//! The engine is driven against a ledger that answers only when the test lets it; the
//! proxy against its real SQLite database held by an exclusive transaction of the test.
//! Waits are for observable state, with a safety deadline that fails instead of hanging.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use bedrock_gate::quota::engine::{period_keys, Ask, QuotaEngine, Refusal};
use bedrock_gate::quota::ledger::{Grant, Ledger, LedgerFuture, MemoryLedger};
use bedrock_gate::quota::{CounterKey, Metric, Subject};
use bedrock_gate::store::Limits;
use chrono_tz::Tz;
use common::{converse, Gate, GateOptions};
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

#[tokio::test]
async fn a_locked_database_gets_503_with_retry_after_and_recovers_by_itself() {
    let gate = Gate::start(GateOptions {
        overrides: vec![("BEDROCK_GATE_QUOTA__STORE_TIMEOUT_MS".into(), "300".into())],
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

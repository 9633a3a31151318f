//! Domain events land in the outbox exactly once, and the event dispatcher hands each to
//! its subscriber exactly once, with three proxies on one database (MariaDB when
//! `GATE_TEST_MYSQL_URL` is set, as in CI; else a shared SQLite file).

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use bedrock_gate::domain::{Actor, BlockKind, DomainEvent, EventKind, Limits};
use common::{converse, shared_engine as engine, Gate, GateOptions};

async fn burst(urls: &[String], token: &str, n: usize) -> Vec<u16> {
    let token = Arc::new(token.to_string());
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let url = urls[i % urls.len()].clone();
        let token = Arc::clone(&token);
        set.spawn(async move { converse(&url, &token).await.0 });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap());
    }
    out
}

/// Waits until `check` holds on the gate's store, polling; panics with `what` after 20 s.
async fn wait_for<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    common::wait::until(what, Duration::from_secs(20), check).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_proxies_write_each_event_once_and_deliver_it_once() {
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
    let gates: Vec<&Gate> = std::iter::once(&first).chain(others.iter()).collect();
    let store = Arc::clone(&first.store);

    // Every proxy claimed today's reset at start; exactly one ran it.
    wait_for("the reset event", || async {
        !store
            .events(Some(EventKind::ResetDone), 10)
            .await
            .unwrap()
            .is_empty()
    })
    .await;

    // A limit of 10 reached from three proxies at once: one warning, one block.
    let limits = Limits {
        daily_requests: Some(10),
        ..Default::default()
    };
    let carol = first.user_with_limits("carol", "ops", limits).await;
    for g in &others {
        g.wait_key_known(&carol.key.bearer_token, true).await;
    }
    let urls: Vec<String> = gates.iter().map(|g| g.url.clone()).collect();
    let statuses = burst(&urls, &carol.key.bearer_token, 60).await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 10);
    // More refused calls on every proxy after the block: still one block event.
    wait_for("the automatic block", || async {
        let user = store.user("carol").await.unwrap();
        store
            .block_status(user.id)
            .await
            .unwrap()
            .is_some_and(|s| s.blocked)
    })
    .await;
    burst(&urls, &carol.key.bearer_token, 30).await;

    // An administrator lifts it once.
    first
        .ops
        .unblock(
            &Actor::system("cli:admin"),
            "carol",
            Some("deadline".into()),
        )
        .await
        .unwrap();

    let count = |kind| {
        let store = Arc::clone(&store);
        async move { store.events(Some(kind), 100).await.unwrap() }
    };
    let blocked = count(EventKind::Blocked).await;
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    let event: DomainEvent = serde_json::from_str(&blocked[0].payload).unwrap();
    assert!(
        matches!(&event, DomainEvent::Blocked { kind: BlockKind::Automatic, limit: Some(l), username, .. }
            if l == "daily_requests" && username == "carol"),
        "{event:?}"
    );
    assert_eq!(count(EventKind::Warning).await.len(), 1);
    assert_eq!(count(EventKind::Unblocked).await.len(), 1);
    assert_eq!(count(EventKind::ResetDone).await.len(), 1);
    let audit = first.ops.audit(Some("carol"), 100).await.unwrap();
    assert_eq!(
        audit.len(),
        2,
        "one auto_block and one unblock row: {audit:?}"
    );

    // The log subscriber got every event exactly once, whichever proxy claimed it.
    let total = store.events(None, 1000).await.unwrap().len();
    wait_for("every event delivered", || async {
        let d = store.deliveries("log").await.unwrap();
        d.len() == total && d.iter().all(|d| d.3)
    })
    .await;
    let deliveries = store.deliveries("log").await.unwrap();
    assert!(
        deliveries.iter().all(|d| d.2 == 1),
        "each event claimed once: {deliveries:?}"
    );
    let mut ids: Vec<i64> = deliveries.iter().map(|d| d.0).collect();
    ids.dedup();
    assert_eq!(ids.len(), total);

    for g in others {
        g.stop().await;
    }
    first.stop().await;
}

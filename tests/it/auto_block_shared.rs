//! The automatic block of a user whose daily limit is reached comes without a further
//! call, also when the limit's last units were spent on another proxy than the one that
//! took the last unit (docs/QUOTA.md, "When the automatic block comes"): two proxies on
//! one database (MariaDB when configured, as in CI; else a shared SQLite file); the
//! user spends part of the limit on B, crosses it on A, and makes no further call. The
//! block appears (an `auto_block` audit row, one `blocked` event) within a bounded
//! wait, and both proxies then enforce it (a raised limit does not let the user through).

use crate::common;

use std::time::Duration;

use bedrock_gate::domain::{Actor, BlockKind, DomainEvent, EventKind, Limits, LimitsUpdate};
use common::local::error_message as message;
use common::{converse, shared_engine, Gate, GateOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_crossed_on_one_proxy_while_another_holds_capacity_blocks_without_more_calls() {
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
    let limits = Limits {
        daily_requests: Some(8),
        ..Default::default()
    };
    let dave = a.user_with_limits("dave", "ops", limits).await;
    b.wait_key_known(&dave.key.bearer_token, true).await;
    let token = &dave.key.bearer_token;

    // 5 calls on B, then the last 3 on A: the 8th call takes the limit's last unit on
    // A while B holds what it spent and has not reported yet (or just did).
    for _ in 0..5 {
        assert_eq!(converse(&b.url, token).await.0, 200);
    }
    for _ in 0..3 {
        assert_eq!(converse(&a.url, token).await.0, 200);
    }

    // No further call: the block comes from the proxies' background pass (every 2 s,
    // after each has reported its use), within a bounded wait.
    let store = &a.store;
    let id = store.user("dave").await.unwrap().id;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !store
        .block_status(id)
        .await
        .unwrap()
        .is_some_and(|s| s.blocked)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "dave was not blocked automatically within 15 s of reaching the limit"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let audit = a.ops.audit(Some("dave"), 10).await.unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].operation.to_string(), "auto_block", "{audit:?}");
    let blocked = store.events(Some(EventKind::Blocked), 10).await.unwrap();
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    let event: DomainEvent = serde_json::from_str(&blocked[0].payload).unwrap();
    assert!(
        matches!(&event, DomainEvent::Blocked { kind: BlockKind::Automatic, limit: Some(l), username, .. }
            if l == "daily_requests" && username == "dave"),
        "{event:?}"
    );

    // Both proxies enforce the block: with the limit raised to 100 (room again), each
    // still refuses dave, with the block's reason (an automatic block answers the
    // limit's 400, docs/QUOTA.md), until the reset.
    a.ops
        .set_user_limits(
            &Actor::system("test"),
            "dave",
            &LimitsUpdate {
                daily_requests: Some(Some(100)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    for g in [&a, &b] {
        g.wait_applied().await;
        let (status, resp) = converse(&g.url, token).await;
        assert_eq!(status, 400, "{}", message(&resp));
        assert!(
            message(&resp).contains("for user dave is reached"),
            "{}",
            message(&resp)
        );
    }
    // The refusals after the block write no second block.
    assert_eq!(a.ops.audit(Some("dave"), 10).await.unwrap().len(), 1);
}

//! The store behaves the same on SQLite and on MariaDB. Every test runs on each engine
//! from [`common::engines`] (MariaDB when `GATE_TEST_MYSQL_URL` is set; CI sets it
//! and `GATE_TEST_REQUIRE_MYSQL=1`, so a missing server fails instead of skipping).

use crate::common;

use std::sync::Arc;

use bedrock_gate::config::DatabaseKind;
use bedrock_gate::domain::{
    Actor, AuditOperation, BlockKind, DomainEvent, EndedEarly, EventKind, KeyStatus, Language,
    LimitsUpdate, NewEvent, NotSent, UsageSource,
};
use bedrock_gate::ops::blocking::BlockDuration;
use bedrock_gate::ops::users::CreateUser;
use bedrock_gate::ops::{Ops, OpsError};
use bedrock_gate::store::{
    NewKey, Price, RequestRecord, Store, StoreError, StoredEvent, UsageFilter,
};
use common::{Engine, TestDb};

async fn open(engine: Engine) -> (TestDb, Store) {
    let db = TestDb::new(engine).await;
    let cfg = common::config(&db.url, "http://127.0.0.1:9", &[]);
    let store = Store::connect(&cfg.database, cfg.quota.timezone)
        .await
        .unwrap();
    assert_eq!(
        store.migrate().await.unwrap(),
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
            .unwrap()
            .count(),
        "every migration applies on a fresh db"
    );
    assert_eq!(store.migrate().await.unwrap(), 0, "and only once");
    let expect = match engine {
        Engine::Sqlite => DatabaseKind::Sqlite,
        Engine::MySql => DatabaseKind::MySql,
    };
    assert_eq!(store.kind(), expect);
    (db, store)
}

fn new_user(name: &str, team: &str) -> CreateUser {
    CreateUser {
        username: name.into(),
        person_name: format!("{name} Doe"),
        team: team.into(),
        email: None,
        language: Some(Language::Es),
        iam_user: Some(format!("iam-{name}")),
        limits: LimitsUpdate {
            daily_requests: Some(Some(350)),
            monthly_budget_usd: Some(Some(50.0)),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn record(uid: &str, user_id: i64, username: &str, team: &str, at: i64) -> RequestRecord {
    RequestRecord {
        request_uid: uid.into(),
        created_at: at,
        user_id,
        username: username.into(),
        team: team.into(),
        person: "P".into(),
        tool: "cli".into(),
        access_key_id: "BGX".into(),
        model_id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
        operation: "Converse".into(),
        upstream_request_id: Some("req-1".into()),
        source_ip: "127.0.0.1".into(),
        user_agent: None,
        region: "eu-west-1".into(),
        status_code: 200,
        error_type: None,
        input_tokens: 100,
        output_tokens: 50,
        cache_read_tokens: 3,
        cache_write_tokens: 2,
        cost_usd: 0.25,
        latency_ms: 12,
        usage_source: UsageSource::Reported,
        not_sent: None,
        ended_early: None,
        usage_clamped: false,
        refused: None,
        refusal_message: None,
    }
}

/// The service layer over a fresh database on `engine`.
async fn ops(engine: Engine) -> (TestDb, Arc<Store>, Ops) {
    let (db, store) = open(engine).await;
    let cfg = common::config(&db.url, "http://127.0.0.1:9", &[]);
    let store = Arc::new(store);
    let ops = Ops::new(Arc::clone(&store), &cfg);
    (db, store, ops)
}

fn events_of(kinds: &[StoredEvent]) -> Vec<(EventKind, DomainEvent)> {
    kinds
        .iter()
        .rev()
        .map(|e| (e.kind, serde_json::from_str(&e.payload).unwrap()))
        .collect()
}

#[tokio::test]
async fn teams_users_limits_and_keys() {
    for engine in common::engines() {
        let (db, s, ops) = ops(engine).await;
        let actor = Actor::system("test");
        let v0 = s.state_version().await.unwrap();
        let team = ops
            .create_team(
                &Actor::system("test"),
                "research",
                &LimitsUpdate {
                    daily_budget_usd: Some(Some(10.5)),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(team.limits.daily_budget_usd, Some(10.5));
        assert!(
            s.state_version().await.unwrap() > v0,
            "changes bump the version"
        );
        assert!(matches!(
            ops.create_team(&Actor::system("test"), "research", &LimitsUpdate::default())
                .await,
            Err(OpsError::Conflict(_))
        ));
        assert!(matches!(
            ops.create_team(&Actor::system("test"), "bad name", &LimitsUpdate::default())
                .await,
            Err(OpsError::Invalid(_))
        ));
        assert!(matches!(
            ops.create_user(&Actor::system("test"), &new_user("x", "missing"))
                .await,
            Err(OpsError::NotFound(_))
        ));
        let alice = ops
            .create_user(&Actor::system("test"), &new_user("alice", "research"))
            .await
            .unwrap();
        assert_eq!(alice.team, "research");
        assert_eq!(alice.language, Language::Es);
        assert_eq!(alice.limits.monthly_budget_usd, Some(50.0));
        assert_eq!(
            alice.limits.monthly_requests,
            Some(5000),
            "unset limits take the configured defaults"
        );
        assert!(matches!(
            ops.create_user(&Actor::system("test"), &new_user("alice", "research"))
                .await,
            Err(OpsError::Conflict(_))
        ));
        let updated = ops
            .set_user_limits(
                &actor,
                "alice",
                &LimitsUpdate {
                    daily_requests: Some(None),
                    monthly_budget_usd: Some(Some(75.0)),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(updated.limits.daily_requests, None);
        assert_eq!(updated.limits.monthly_requests, Some(5000));
        assert_eq!(updated.limits.monthly_budget_usd, Some(75.0));
        assert!(matches!(
            ops.set_user_limits(&actor, "alice", &LimitsUpdate::default())
                .await,
            Err(OpsError::Invalid(_))
        ));
        let t = ops
            .set_team_limits(
                &actor,
                "research",
                &LimitsUpdate {
                    daily_requests: Some(Some(9)),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            (t.limits.daily_requests, t.limits.daily_budget_usd),
            (Some(9), Some(10.5))
        );

        // The store keeps binary secrets as they are.
        let user_id = s.user("alice").await.unwrap().id;
        let event = NewEvent::new(DomainEvent::KeyIssued {
            username: "alice".into(),
            tool: "claude-code".into(),
            access_key_id: "BGTESTKEY00000000001".into(),
            by: "test".into(),
        });
        let key = NewKey {
            expires_at: None,
            access_key_id: "BGTESTKEY00000000001".into(),
            tool: "claude-code".into(),
            secret_enc: vec![1, 2, 3, 255, 0, 7],
            bearer_hash: "a".repeat(64),
        };
        let info = s.create_key(user_id, &key, &event, &[]).await.unwrap();
        assert_eq!(
            (info.status, info.tool.as_str()),
            (KeyStatus::Active, "claude-code")
        );
        let active = s.active_keys().await.unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!(
            active[0].secret_enc,
            vec![1, 2, 3, 255, 0, 7],
            "binary secrets survive"
        );
        assert_eq!(
            (active[0].username.as_str(), active[0].team.as_str()),
            ("alice", "research")
        );
        ops.revoke_key(&actor, "BGTESTKEY00000000001")
            .await
            .unwrap();
        assert!(s.active_keys().await.unwrap().is_empty());
        assert!(matches!(
            ops.revoke_key(&actor, "BGTESTKEY00000000001").await,
            Err(OpsError::NotFound(_))
        ));
        assert!(matches!(
            ops.revoke_key(&actor, "BGNOSUCHKEY").await,
            Err(OpsError::NotFound(_))
        ));
        assert_eq!(
            ops.keys(Some("alice")).await.unwrap()[0].status,
            KeyStatus::Revoked
        );

        // Every change others must hear about is one event, in order.
        let kinds: Vec<EventKind> = events_of(&s.events(None, 100).await.unwrap())
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            kinds,
            [
                EventKind::LimitsChanged,
                EventKind::LimitsChanged,
                EventKind::KeyIssued,
                EventKind::KeyRevoked
            ]
        );

        assert!(matches!(
            ops.delete_team(&Actor::system("test"), "research").await,
            Err(OpsError::Conflict(_))
        ));
        assert_eq!(ops.users(Some("research")).await.unwrap().len(), 1);
        ops.delete_user(&Actor::system("test"), "alice")
            .await
            .unwrap();
        assert!(
            ops.keys(None).await.unwrap().is_empty(),
            "keys go with the user"
        );
        ops.delete_team(&Actor::system("test"), "research")
            .await
            .unwrap();
        assert!(ops.teams().await.unwrap().is_empty());
        assert!(s.block_status(user_id).await.unwrap().is_none());
        db.drop_db().await;
    }
}

#[tokio::test]
async fn the_blocking_service_writes_status_audit_and_one_event_per_change() {
    for engine in common::engines() {
        let (db, s, ops) = ops(engine).await;
        let actor = Actor::system("cli:admin");
        ops.create_team(&Actor::system("test"), "t", &LimitsUpdate::default())
            .await
            .unwrap();
        ops.create_user(&Actor::system("test"), &new_user("bob", "t"))
            .await
            .unwrap();

        assert!(matches!(
            ops.unblock(&actor, "bob", None).await,
            Err(OpsError::Conflict(_))
        ));
        let v = ops
            .block(
                &actor,
                "bob",
                BlockDuration::Indefinite,
                Some("audit".into()),
            )
            .await
            .unwrap();
        assert!(v.blocked && v.blocked_until.is_none());
        let info = ops.user_info("bob").await.unwrap();
        assert_eq!(info.blocking.blocked_reason.as_deref(), Some("audit"));
        let v = ops
            .unblock(&actor, "bob", Some("done".into()))
            .await
            .unwrap();
        assert!(
            !v.blocked && !v.administrative_safe,
            "a manual block leaves no protection"
        );
        let v = ops.protect(&actor, "bob", true).await.unwrap();
        assert!(v.administrative_safe);
        ops.protect(&actor, "bob", false).await.unwrap();

        let audit = ops.audit(Some("bob"), 10).await.unwrap();
        let ops_seen: Vec<AuditOperation> = audit.iter().rev().map(|a| a.operation).collect();
        assert_eq!(
            ops_seen,
            [
                AuditOperation::Block,
                AuditOperation::Unblock,
                AuditOperation::Protect,
                AuditOperation::Unprotect
            ]
        );
        assert!(audit.iter().all(|a| a.performed_by == "cli:admin"));
        let events = events_of(&s.events(None, 100).await.unwrap());
        assert_eq!(events.len(), 4);
        assert!(matches!(
            &events[0].1,
            DomainEvent::Blocked { kind: BlockKind::Manual, until: None, reason, .. } if reason == "audit"
        ));
        assert!(matches!(
            &events[1].1,
            DomainEvent::Unblocked {
                was: Some(BlockKind::Manual),
                ..
            }
        ));
        assert!(matches!(
            &events[2].1,
            DomainEvent::ProtectionChanged {
                protected: true,
                ..
            }
        ));
        assert!(matches!(
            &events[3].1,
            DomainEvent::ProtectionChanged {
                protected: false,
                ..
            }
        ));
        db.drop_db().await;
    }
}

#[tokio::test]
async fn the_outbox_stores_once_per_key_and_hands_each_event_to_one_claimer() {
    for engine in common::engines() {
        let (db, s, _ops) = ops(engine).await;
        let reset = |day: &str| DomainEvent::ResetDone {
            day: day.into(),
            unblocked: vec![],
            unprotected: vec![],
            by: "test".into(),
            by_hand: None,
        };
        // Events written before a subscriber registers are not its business.
        assert!(s
            .append_event(&NewEvent::new(reset("2026-11-01")))
            .await
            .unwrap());
        s.register_consumer("log").await.unwrap();
        s.register_consumer("log").await.unwrap();
        for day in ["2026-11-02", "2026-11-03"] {
            let e = NewEvent::once(reset(day), format!("reset:{day}"));
            assert!(s.append_event(&e).await.unwrap());
            assert!(!s.append_event(&e).await.unwrap(), "second write of a key");
        }
        // Two claimers: every event goes to exactly one of them.
        let a = s.claim_events("log", "proxy-a", 60_000, 1).await.unwrap();
        let b = s.claim_events("log", "proxy-b", 60_000, 10).await.unwrap();
        let c = s.claim_events("log", "proxy-c", 60_000, 10).await.unwrap();
        assert_eq!((a.len(), b.len(), c.len()), (1, 1, 0));
        assert_ne!(a[0].event_id, b[0].event_id);
        let first: DomainEvent = serde_json::from_str(&a[0].payload).unwrap();
        assert_eq!(first, reset("2026-11-02"));
        // A failure comes back after its retry time; a delivery is final.
        s.finish_delivery("log", &a[0], Err(("smtp down".into(), 0)))
            .await
            .unwrap();
        s.finish_delivery("log", &b[0], Ok(())).await.unwrap();
        let again = s.claim_events("log", "proxy-c", 60_000, 10).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!((again[0].event_id, again[0].attempts), (a[0].event_id, 2));
        s.finish_delivery("log", &again[0], Ok(())).await.unwrap();
        // The stale claim of proxy-a can no longer mark anything.
        s.finish_delivery("log", &a[0], Err(("late".into(), 0)))
            .await
            .unwrap();
        assert!(s
            .claim_events("log", "proxy-a", 60_000, 10)
            .await
            .unwrap()
            .is_empty());
        let deliveries = s.deliveries("log").await.unwrap();
        assert_eq!(deliveries.len(), 2);
        assert!(deliveries.iter().all(|d| d.3), "{deliveries:?}");
        db.drop_db().await;
    }
}

#[tokio::test]
async fn prices_are_seeded_and_settable() {
    for engine in common::engines() {
        let (db, s) = open(engine).await;
        let prices = s.prices().await.unwrap();
        assert!(prices.len() >= 20, "seeded");
        for family in ["anthropic.", "amazon.nova", "meta.llama", "mistral."] {
            assert!(
                prices.iter().any(|p| p.model_id.starts_with(family)),
                "{family}"
            );
        }
        let p = Price {
            model_id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
            input_per_1k: 0.5,
            output_per_1k: 1.5,
            cache_read_per_1k: None,
            cache_write_per_1k: Some(0.6),
        };
        s.set_price(&p, None).await.unwrap();
        let got = s.prices().await.unwrap();
        assert_eq!(got.iter().find(|x| x.model_id == p.model_id), Some(&p));
        assert_eq!(got.len(), prices.len(), "replaced, not added");
        let bad = Price {
            input_per_1k: -1.0,
            ..p
        };
        assert!(matches!(
            s.set_price(&bad, None).await,
            Err(StoreError::Invalid(_))
        ));
        db.drop_db().await;
    }
}

#[tokio::test]
async fn request_records_are_idempotent_and_summed() {
    for engine in common::engines() {
        let (db, s) = open(engine).await;
        let batch: Vec<RequestRecord> = (0..10)
            .map(|i| RequestRecord {
                // The first one's stream was cut and its counts clamped: both stored.
                ended_early: (i == 0).then_some(EndedEarly::Truncated),
                usage_clamped: i == 0,
                ..record(
                    &format!("{i:032}"),
                    1,
                    if i < 7 { "alice" } else { "bob" },
                    "t",
                    1_000 + i,
                )
            })
            .collect();
        assert_eq!(s.insert_requests(&batch).await.unwrap(), 10);
        // A retried batch (unknown outcome the first time) inserts nothing twice.
        assert_eq!(s.insert_requests(&batch).await.unwrap(), 0);
        assert_eq!(s.insert_requests(&[]).await.unwrap(), 0);

        let all = s.requests(&UsageFilter::default()).await.unwrap();
        assert_eq!(all.len(), 10);
        assert_eq!(all[0].created_at, 1_009, "newest first");
        assert_eq!(all[9], batch[0]);

        let alice = UsageFilter {
            username: Some("alice".into()),
            ..Default::default()
        };
        let t = s.usage_totals(&alice).await.unwrap();
        assert_eq!((t.requests, t.input_tokens, t.output_tokens), (7, 700, 350));
        assert_eq!((t.cache_read_tokens, t.cache_write_tokens), (21, 14));
        assert!((t.cost_usd - 1.75).abs() < 1e-9);
        // Calls the proxy failed before they reached Bedrock: listed with the reason,
        // summed nowhere.
        let unsent: Vec<RequestRecord> = (0..3)
            .map(|i| RequestRecord {
                not_sent: Some(NotSent::NoCredentials),
                status_code: 503,
                ..record(&format!("u{i:031}"), 1, "alice", "t", 1_100 + i)
            })
            .collect();
        assert_eq!(s.insert_requests(&unsent).await.unwrap(), 3);
        assert_eq!(s.usage_totals(&alice).await.unwrap(), t);
        let listed = s.requests(&alice).await.unwrap();
        assert_eq!(listed.len(), 10);
        assert_eq!(listed[0], unsent[2]);
        let window = UsageFilter {
            from_ms: Some(1_002),
            to_ms: Some(1_005),
            ..Default::default()
        };
        assert_eq!(s.usage_totals(&window).await.unwrap().requests, 3);
        let limited = UsageFilter {
            limit: Some(2),
            ..Default::default()
        };
        assert_eq!(s.requests(&limited).await.unwrap().len(), 2);
        let none = UsageFilter {
            team: Some("other".into()),
            ..Default::default()
        };
        let t = s.usage_totals(&none).await.unwrap();
        assert_eq!((t.requests, t.input_tokens, t.cost_usd), (0, 0, 0.0));

        // A large batch: one statement, well under both engines' placeholder limits.
        let big: Vec<RequestRecord> = (0..500)
            .map(|i| record(&format!("b{i:031}"), 2, "carol", "t", 5_000 + i))
            .collect();
        assert_eq!(s.insert_requests(&big).await.unwrap(), 500);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn the_whole_proxy_path_runs_on_each_engine() {
    for engine in common::engines() {
        let gate = common::Gate::start(common::GateOptions {
            engine,
            ..Default::default()
        })
        .await;
        let alice = gate.user("alice", "research").await;
        let client = common::sdk_client(&gate.url, &alice.key);
        let msg = aws_sdk_bedrockruntime::types::Message::builder()
            .role(aws_sdk_bedrockruntime::types::ConversationRole::User)
            .content(aws_sdk_bedrockruntime::types::ContentBlock::Text(
                "hi".into(),
            ))
            .build()
            .unwrap();
        client
            .converse()
            .model_id("anthropic.claude-3-haiku-20240307-v1:0")
            .messages(msg)
            .send()
            .await
            .unwrap();
        let r = gate.records(1).await;
        assert_eq!(
            (r[0].input_tokens, r[0].output_tokens),
            (120, 45),
            "{engine:?}"
        );
        gate.stop().await;
    }
}

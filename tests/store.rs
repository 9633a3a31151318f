//! The store behaves the same on SQLite and on MariaDB. Every test runs on each engine
//! from [`common::engines`] (MariaDB when `GATE_TEST_MYSQL_URL` is set; CI sets it
//! and `GATE_TEST_REQUIRE_MYSQL=1`, so a missing server fails instead of skipping).

mod common;

use bedrock_gate::config::DatabaseKind;
use bedrock_gate::store::{
    Limits, LimitsUpdate, NewKey, NewTeam, NewUser, Price, RequestRecord, Store, StoreError,
    UsageFilter,
};
use common::{Engine, TestDb};

async fn open(engine: Engine) -> (TestDb, Store) {
    let db = TestDb::new(engine).await;
    let cfg = common::config(&db.url, "http://127.0.0.1:9", &[]);
    let store = Store::connect(&cfg.database).await.unwrap();
    assert_eq!(
        store.migrate().await.unwrap(),
        3,
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

fn new_user(name: &str, team: &str) -> NewUser {
    NewUser {
        username: name.into(),
        person_name: format!("{name} Doe"),
        team: team.into(),
        email: None,
        language: "es".into(),
        iam_user: Some(format!("iam-{name}")),
        limits: Limits {
            daily_requests: Some(350),
            monthly_requests: Some(5000),
            daily_budget_usd: None,
            monthly_budget_usd: Some(50.0),
        },
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
        usage_source: "reported".into(),
    }
}

#[tokio::test]
async fn teams_users_limits_and_keys() {
    for engine in common::engines() {
        let (db, s) = open(engine).await;
        let v0 = s.state_version().await.unwrap();
        let team = s
            .create_team(&NewTeam {
                name: "research".into(),
                limits: Limits {
                    daily_budget_usd: Some(10.5),
                    ..Default::default()
                },
            })
            .await
            .unwrap();
        assert_eq!(team.limits.daily_budget_usd, Some(10.5));
        assert!(
            s.state_version().await.unwrap() > v0,
            "changes bump the version"
        );
        assert!(matches!(
            s.create_team(&NewTeam {
                name: "research".into(),
                limits: Limits::default()
            })
            .await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            s.create_user(&new_user("x", "missing")).await,
            Err(StoreError::NotFound(_))
        ));
        let alice = s.create_user(&new_user("alice", "research")).await.unwrap();
        assert_eq!(alice.team, "research");
        assert_eq!(alice.language, "es");
        assert_eq!(alice.limits.monthly_budget_usd, Some(50.0));
        assert!(matches!(
            s.create_user(&new_user("alice", "research")).await,
            Err(StoreError::Conflict(_))
        ));
        let updated = s
            .set_user_limits(
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
        let t = s
            .set_team_limits(
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

        let key = NewKey {
            access_key_id: "BGTESTKEY00000000001".into(),
            tool: "claude-code".into(),
            secret_enc: vec![1, 2, 3, 255, 0, 7],
            bearer_hash: "a".repeat(64),
        };
        let info = s.create_key("alice", &key).await.unwrap();
        assert_eq!(
            (info.status.as_str(), info.tool.as_str()),
            ("active", "claude-code")
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
        s.revoke_key("BGTESTKEY00000000001").await.unwrap();
        assert!(s.active_keys().await.unwrap().is_empty());
        assert!(matches!(
            s.revoke_key("BGTESTKEY00000000001").await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(s.keys(Some("alice")).await.unwrap()[0].status, "revoked");

        assert!(matches!(
            s.delete_team("research").await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(s.users(Some("research")).await.unwrap().len(), 1);
        s.delete_user("alice").await.unwrap();
        assert!(
            s.keys(None).await.unwrap().is_empty(),
            "keys go with the user"
        );
        s.delete_team("research").await.unwrap();
        assert!(s.teams().await.unwrap().is_empty());
        assert!(s.blocking_status(alice.id).await.unwrap() == Default::default());
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
        s.set_price(&p).await.unwrap();
        let got = s.prices().await.unwrap();
        assert_eq!(got.iter().find(|x| x.model_id == p.model_id), Some(&p));
        assert_eq!(got.len(), prices.len(), "replaced, not added");
        let bad = Price {
            input_per_1k: -1.0,
            ..p
        };
        assert!(matches!(
            s.set_price(&bad).await,
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
            .map(|i| {
                record(
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

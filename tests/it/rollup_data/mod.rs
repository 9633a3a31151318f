//! Test data for the rollup tests: users, deterministic records across a DST change,
//! and the sums an aggregate must return, computed from the records themselves.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use bedrock_gate::domain::{Actor, LimitsUpdate, UsageSource};
use bedrock_gate::ops::aggregates::{AggregateQuery, AggregateRow, GroupBy};
use bedrock_gate::ops::users::CreateUser;
use bedrock_gate::ops::Ops;
use bedrock_gate::store::{RequestRecord, Store};
use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;

use crate::common::{self, Engine, TestDb};

pub const ZONE: Tz = chrono_tz::Europe::Berlin;
pub const MODELS: [&str; 3] = [
    "anthropic.claude-3-haiku-20240307-v1:0",
    "eu.anthropic.claude-3-5-sonnet-20240620-v1:0",
    "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/x",
];
/// (username, team)
pub const USERS: [(&str, &str); 3] = [
    ("alice", "research"),
    ("bob", "research"),
    ("carol", "sales"),
];

pub fn cfg(db: &TestDb) -> bedrock_gate::config::Config {
    common::config(
        &db.url,
        "http://127.0.0.1:9",
        &[("BEDROCK_GATE_QUOTA__TIMEZONE".into(), ZONE.name().into())],
    )
}

/// A migrated store and the service over it, with the users of [`USERS`].
pub async fn open(engine: Engine) -> (TestDb, Arc<Store>, Ops) {
    let db = TestDb::new(engine).await;
    let cfg = cfg(&db);
    let store = Arc::new(
        Store::connect(&cfg.database, cfg.quota.timezone)
            .await
            .unwrap(),
    );
    store.migrate().await.unwrap();
    let ops = Ops::new(Arc::clone(&store), &cfg);
    create_users(&ops).await;
    (db, store, ops)
}

pub async fn create_users(ops: &Ops) {
    for team in ["research", "sales"] {
        ops.create_team(&Actor::system("test"), team, &LimitsUpdate::default())
            .await
            .unwrap();
    }
    for (name, team) in USERS {
        ops.create_user(
            &Actor::system("test"),
            &CreateUser {
                username: name.into(),
                person_name: format!("{name} Doe"),
                team: team.into(),
                email: None,
                language: None,
                iam_user: None,
                limits: LimitsUpdate::default(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
}

pub fn ms(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

/// `n` records spread over 2026-03-27..31 (across the CET/CEST change), users, models
/// and statuses, some sharing a timestamp; the same for the same `seed`.
pub fn records(seed: u64, n: usize, user_ids: &[i64]) -> Vec<RequestRecord> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move |m: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % m
    };
    let start = ms("2026-03-27T00:00:00Z");
    (0..n)
        .map(|i| {
            let u = next(3) as usize;
            let (username, team) = USERS[u];
            let status = [200, 200, 200, 429, 500, 400][next(6) as usize];
            RequestRecord {
                request_uid: format!("{seed:08x}{i:024x}"),
                // Minutes, so that ties on created_at are common.
                created_at: start + next(5 * 24 * 60) as i64 * 60_000,
                user_id: user_ids[u],
                username: username.into(),
                team: team.into(),
                person: "P".into(),
                tool: "cli".into(),
                access_key_id: "BGX".into(),
                model_id: MODELS[next(3) as usize].into(),
                operation: "Converse".into(),
                upstream_request_id: None,
                source_ip: "127.0.0.1".into(),
                user_agent: None,
                region: "eu-west-1".into(),
                status_code: status,
                error_type: None,
                input_tokens: next(1000) as i64,
                output_tokens: next(500) as i64,
                cache_read_tokens: next(50) as i64,
                cache_write_tokens: next(20) as i64,
                cost_usd: next(10_000) as f64 / 1e5,
                latency_ms: 5,
                usage_source: UsageSource::Reported,
                not_sent: None,
                ended_early: None,
                usage_clamped: false,
                refused: None,
                refusal_message: None,
            }
        })
        .collect()
}

pub async fn user_ids(store: &Store) -> Vec<i64> {
    let mut ids = Vec::new();
    for (name, _) in USERS {
        ids.push(store.user(name).await.unwrap().id);
    }
    ids
}

/// What an aggregate must say, computed from the records themselves.
pub fn expected(
    records: &[RequestRecord],
    group: GroupBy,
    keep: impl Fn(&RequestRecord) -> bool,
) -> Vec<AggregateRow> {
    let mut m: BTreeMap<String, AggregateRow> = BTreeMap::new();
    let mut seen = HashSet::new();
    for r in records.iter().filter(|r| keep(r)) {
        if !seen.insert(&r.request_uid) {
            continue;
        }
        let local = DateTime::from_timestamp_millis(r.created_at)
            .unwrap()
            .with_timezone(&ZONE);
        let key = match group {
            GroupBy::User => r.username.clone(),
            GroupBy::Team => r.team.clone(),
            GroupBy::Model => r.model_id.clone(),
            GroupBy::Day => local.format("%Y-%m-%d").to_string(),
            GroupBy::Hour => {
                DateTime::from_timestamp_millis(r.created_at - r.created_at % 3_600_000)
                    .unwrap()
                    .with_timezone(&ZONE)
                    .to_rfc3339()
            }
        };
        let row = m.entry(key.clone()).or_insert(AggregateRow {
            key,
            requests: 0,
            errors: 0,
            input_tokens: 0,
            output_tokens: 0,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            cost_usd: 0.0,
        });
        row.requests += 1;
        row.errors += i64::from(r.status_code >= 400);
        row.input_tokens += r.input_tokens;
        row.output_tokens += r.output_tokens;
        row.cache_read_tokens += r.cache_read_tokens;
        row.cache_write_tokens += r.cache_write_tokens;
        row.cost_usd += r.cost_usd;
    }
    m.into_values().collect()
}

pub fn assert_rows(got: &[AggregateRow], want: &[AggregateRow], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?}\n!=\n{want:?}");
    for (g, w) in got.iter().zip(want) {
        let (mut g2, mut w2) = (g.clone(), w.clone());
        assert!(
            (g.cost_usd - w.cost_usd).abs() < 1e-6,
            "{what}: {g:?} != {w:?}"
        );
        (g2.cost_usd, w2.cost_usd) = (0.0, 0.0);
        assert_eq!(g2, w2, "{what}");
    }
}

pub fn query(group_by: GroupBy) -> AggregateQuery {
    AggregateQuery {
        group_by,
        from: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        to: NaiveDate::from_ymd_opt(2026, 4, 30).unwrap(),
        user: None,
        team: None,
        model: None,
    }
}

/// Every grouping, unfiltered and filtered (so every daily rollup table is read), against
/// sums of `all`.
pub async fn check_aggregates(ops: &Ops, all: &[RequestRecord], what: &str) {
    for g in [
        GroupBy::User,
        GroupBy::Team,
        GroupBy::Model,
        GroupBy::Day,
        GroupBy::Hour,
    ] {
        let got = ops.aggregate(&query(g)).await.unwrap();
        assert_rows(&got, &expected(all, g, |_| true), &format!("{what} {g:?}"));
        let q = AggregateQuery {
            team: Some("research".into()),
            model: Some(MODELS[1].into()),
            ..query(g)
        };
        let want = expected(all, g, |r| r.team == "research" && r.model_id == MODELS[1]);
        assert_rows(
            &ops.aggregate(&q).await.unwrap(),
            &want,
            &format!("{what} {g:?} team+model"),
        );
        let q = AggregateQuery {
            team: Some("research".into()),
            ..query(g)
        };
        let want = expected(all, g, |r| r.team == "research");
        assert_rows(
            &ops.aggregate(&q).await.unwrap(),
            &want,
            &format!("{what} {g:?} team"),
        );
        let q = AggregateQuery {
            user: Some("carol".into()),
            ..query(g)
        };
        let want = expected(all, g, |r| r.username == "carol");
        assert_rows(
            &ops.aggregate(&q).await.unwrap(),
            &want,
            &format!("{what} {g:?} user"),
        );
    }
}

//! Reports over the usage rollups, on each engine: the rollups equal the sums of the
//! request rows however the rows arrive (batches, retried batches, duplicates within a
//! batch, rows stored before the rollups existed), aggregates per group, and keyset
//! paging that visits every record exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use bedrock_gate::domain::{Actor, LimitsUpdate, UsageSource};
use bedrock_gate::ops::aggregates::{
    AggregateQuery, AggregateRow, GroupBy, RecordQuery, StatusFilter,
};
use bedrock_gate::ops::retention::Pace;
use bedrock_gate::ops::users::CreateUser;
use bedrock_gate::ops::{Ops, OpsError};
use bedrock_gate::store::{RequestRecord, Store};
use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;
use common::{Engine, TestDb};
use futures_util::TryStreamExt;

const ZONE: Tz = chrono_tz::Europe::Berlin;
const MODELS: [&str; 3] = [
    "anthropic.claude-3-haiku-20240307-v1:0",
    "eu.anthropic.claude-3-5-sonnet-20240620-v1:0",
    "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/x",
];
/// (username, team)
const USERS: [(&str, &str); 3] = [
    ("alice", "research"),
    ("bob", "research"),
    ("carol", "sales"),
];

fn cfg(db: &TestDb) -> bedrock_gate::config::Config {
    common::config(
        &db.url,
        "http://127.0.0.1:9",
        &[("BEDROCK_GATE_QUOTA__TIMEZONE".into(), ZONE.name().into())],
    )
}

/// A migrated store and the service over it, with the users of [`USERS`].
async fn open(engine: Engine) -> (TestDb, Arc<Store>, Ops) {
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

async fn create_users(ops: &Ops) {
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
            },
        )
        .await
        .unwrap();
    }
}

fn ms(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

/// `n` records spread over 2026-03-27..31 (across the CET/CEST change), users, models
/// and statuses, some sharing a timestamp; the same for the same `seed`.
fn records(seed: u64, n: usize, user_ids: &[i64]) -> Vec<RequestRecord> {
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
            }
        })
        .collect()
}

async fn user_ids(store: &Store) -> Vec<i64> {
    let mut ids = Vec::new();
    for (name, _) in USERS {
        ids.push(store.user(name).await.unwrap().id);
    }
    ids
}

/// What an aggregate must say, computed from the records themselves.
fn expected(
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

fn assert_rows(got: &[AggregateRow], want: &[AggregateRow], what: &str) {
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

fn query(group_by: GroupBy) -> AggregateQuery {
    AggregateQuery {
        group_by,
        from: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        to: NaiveDate::from_ymd_opt(2026, 4, 30).unwrap(),
        user: None,
        team: None,
        model: None,
    }
}

/// Every grouping, unfiltered and filtered, against sums of `all`.
async fn check_aggregates(ops: &Ops, all: &[RequestRecord], what: &str) {
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

#[tokio::test]
async fn rollups_equal_the_sums_of_the_rows_even_when_batches_are_retried() {
    for engine in common::engines() {
        let (db, store, ops) = open(engine).await;
        let ids = user_ids(&store).await;
        let first = records(1, 700, &ids);
        assert_eq!(store.insert_requests(&first).await.unwrap(), 700);
        check_aggregates(&ops, &first, "one batch").await;

        // A retried batch adds nothing.
        assert_eq!(store.insert_requests(&first).await.unwrap(), 0);
        // Half old, half new, and a uid twice within the batch.
        let second = records(2, 300, &ids);
        let mut mixed: Vec<RequestRecord> = first[..150].to_vec();
        mixed.extend_from_slice(&second);
        mixed.push(second[7].clone());
        assert_eq!(store.insert_requests(&mixed).await.unwrap(), 300);
        let mut all = first.clone();
        all.extend_from_slice(&second);
        check_aggregates(&ops, &all, "after retries").await;

        // Rebuilding from the rows gives the same sums.
        assert_eq!(store.rebuild_rollups().await.unwrap(), 1000);
        check_aggregates(&ops, &all, "rebuilt").await;
        db.drop_db().await;
    }
}

/// The plain insert of the schema before the rollups.
macro_rules! insert_raw {
    ($r:expr) => {
        sqlx::query(
            "INSERT INTO bedrock_requests (request_uid, created_at, user_id, username, team, \
             person, tool, access_key_id, model_id, operation, source_ip, region, status_code, \
             input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, \
             latency_ms, usage_source) VALUES (?, ?, ?, ?, ?, 'P', 'cli', 'BGX', ?, 'Converse', \
             '127.0.0.1', 'eu-west-1', ?, ?, ?, ?, ?, ?, 1, 'reported')",
        )
        .bind($r.request_uid.as_str())
        .bind($r.created_at)
        .bind($r.user_id)
        .bind($r.username.as_str())
        .bind($r.team.as_str())
        .bind($r.model_id.as_str())
        .bind($r.status_code)
        .bind($r.input_tokens)
        .bind($r.output_tokens)
        .bind($r.cache_read_tokens)
        .bind($r.cache_write_tokens)
        .bind($r.cost_usd)
    };
}

#[tokio::test]
async fn rows_stored_before_the_rollups_are_backfilled_once() {
    for engine in common::engines() {
        let db = TestDb::new(engine).await;
        let cfg = cfg(&db);
        // The schema as it was before the rollups, with rows in it.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(match engine {
            Engine::Sqlite => "migrations/sqlite",
            Engine::MySql => "migrations/mysql",
        });
        let mut old = sqlx::migrate::Migrator::new(dir).await.unwrap();
        old.migrations = old
            .migrations
            .iter()
            .filter(|m| m.version < 6)
            .cloned()
            .collect::<Vec<_>>()
            .into();
        let ids = [1, 2, 3];
        let rows = records(3, 400, &ids);
        match engine {
            Engine::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
                old.run(&pool).await.unwrap();
                for r in &rows {
                    insert_raw!(r).execute(&pool).await.unwrap();
                }
                pool.close().await;
            }
            Engine::MySql => {
                let pool = sqlx::MySqlPool::connect(&db.url).await.unwrap();
                old.run(&pool).await.unwrap();
                for r in &rows {
                    insert_raw!(r).execute(&pool).await.unwrap();
                }
                pool.close().await;
            }
        }

        let store = Arc::new(
            Store::connect(&cfg.database, cfg.quota.timezone)
                .await
                .unwrap(),
        );
        assert!(
            store.migrate().await.unwrap() >= 1,
            "the rollups migration applies"
        );
        let ops = Ops::new(Arc::clone(&store), &cfg);
        create_users(&ops).await;
        check_aggregates(&ops, &rows, "backfilled").await;
        // Again: nothing is summed twice.
        assert_eq!(store.migrate().await.unwrap(), 0);
        assert_eq!(store.backfill_rollups().await.unwrap(), 0);
        // New rows after the upgrade are summed by the insert itself.
        let more = records(4, 50, &ids);
        store.insert_requests(&more).await.unwrap();
        let mut all = rows.clone();
        all.extend_from_slice(&more);
        check_aggregates(&ops, &all, "backfilled, then inserted").await;
        db.drop_db().await;
    }
}

/// Which records a case expects.
type Keep = Box<dyn Fn(&RequestRecord) -> bool>;

fn newest_first(rows: &[RequestRecord], keep: impl Fn(&RequestRecord) -> bool) -> Vec<String> {
    let mut v: Vec<&RequestRecord> = rows.iter().filter(|r| keep(r)).collect();
    // Same created_at: insertion order reversed (ids descending).
    v.reverse();
    v.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    v.into_iter().map(|r| r.request_uid.clone()).collect()
}

async fn all_pages(ops: &Ops, q: RecordQuery) -> Vec<String> {
    let mut got = Vec::new();
    let mut q = q;
    loop {
        let page = ops.records(&q).await.unwrap();
        assert!(page.records.len() <= q.limit as usize);
        got.extend(page.records.into_iter().map(|r| r.request_uid));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return got,
        }
    }
}

#[tokio::test]
async fn keyset_pages_visit_every_record_once_newest_first() {
    for engine in common::engines() {
        let (db, store, ops) = open(engine).await;
        let ids = user_ids(&store).await;
        let rows = records(5, 1_500, &ids);
        store.insert_requests(&rows).await.unwrap();

        let q = RecordQuery {
            limit: 7,
            ..Default::default()
        };
        assert_eq!(
            all_pages(&ops, q.clone()).await,
            newest_first(&rows, |_| true)
        );
        let streamed: Vec<String> = ops
            .record_stream(RecordQuery {
                limit: 1,
                ..q.clone()
            })
            .map_ok(|r| r.request_uid)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            streamed,
            newest_first(&rows, |_| true),
            "the stream, across pages of 1000"
        );

        let from = ms("2026-03-28T00:00:00Z");
        let to = ms("2026-03-30T00:00:00Z");
        let cases: Vec<(RecordQuery, Keep)> = vec![
            (
                RecordQuery {
                    user: Some("alice".into()),
                    status: Some(StatusFilter::Error),
                    ..q.clone()
                },
                Box::new(|r: &RequestRecord| r.username == "alice" && r.status_code >= 400),
            ),
            (
                RecordQuery {
                    team: Some("research".into()),
                    status: Some(StatusFilter::Ok),
                    model: Some(MODELS[2].into()),
                    ..q.clone()
                },
                Box::new(|r: &RequestRecord| {
                    r.team == "research" && r.status_code < 400 && r.model_id == MODELS[2]
                }),
            ),
            (
                RecordQuery {
                    status: Some(StatusFilter::Code(429)),
                    from_ms: Some(from),
                    to_ms: Some(to),
                    limit: 1000,
                    ..q.clone()
                },
                Box::new(move |r: &RequestRecord| {
                    r.status_code == 429 && r.created_at >= from && r.created_at < to
                }),
            ),
        ];
        for (q, keep) in cases {
            let want = newest_first(&rows, &keep);
            assert!(!want.is_empty());
            assert_eq!(all_pages(&ops, q.clone()).await, want, "{q:?}");
            let streamed: Vec<String> = ops
                .record_stream(q.clone())
                .map_ok(|r| r.request_uid)
                .try_collect()
                .await
                .unwrap();
            assert_eq!(streamed, want, "stream {q:?}");
        }

        for limit in [0, 1001] {
            let e = ops.records(&RecordQuery { limit, ..q.clone() }).await;
            assert!(matches!(e, Err(OpsError::Invalid(m)) if m.contains("limit")));
        }
        let e = ops
            .records(&RecordQuery {
                cursor: Some("nope".into()),
                ..q.clone()
            })
            .await;
        assert!(matches!(e, Err(OpsError::Invalid(m)) if m.contains("cursor")));
        let e = ops
            .records(&RecordQuery {
                user: Some("nobody".into()),
                ..q.clone()
            })
            .await;
        assert!(matches!(e, Err(OpsError::NotFound(_))), "{e:?}");
        let e = ops
            .records(&RecordQuery {
                team: Some("nobody".into()),
                ..q.clone()
            })
            .await;
        assert!(matches!(e, Err(OpsError::NotFound(_))), "{e:?}");
        let first: Result<Vec<_>, _> = ops
            .record_stream(RecordQuery {
                user: Some("nobody".into()),
                ..q.clone()
            })
            .try_collect()
            .await;
        assert!(matches!(first, Err(OpsError::NotFound(_))));
        db.drop_db().await;
    }
}

#[tokio::test]
async fn aggregate_ranges_and_time_bounds_are_checked() {
    let db = TestDb::new(Engine::Sqlite).await;
    let cfg = cfg(&db);
    let (ops, _) = Ops::open(&cfg).await.unwrap();
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let e = ops
        .aggregate(&AggregateQuery {
            from: d("2026-03-02"),
            to: d("2026-03-01"),
            ..query(GroupBy::Day)
        })
        .await;
    assert!(matches!(e, Err(OpsError::Invalid(m)) if m.contains("before")));
    let e = ops
        .aggregate(&AggregateQuery {
            from: d("2025-01-01"),
            to: d("2026-02-05"),
            ..query(GroupBy::Day)
        })
        .await;
    assert!(matches!(e, Err(OpsError::Invalid(m)) if m.contains("400")));
    let ok = ops
        .aggregate(&AggregateQuery {
            from: d("2025-01-01"),
            to: d("2026-02-04"),
            ..query(GroupBy::Day)
        })
        .await;
    assert_eq!(ok.unwrap(), vec![], "400 days is allowed");
    let e = ops
        .aggregate(&AggregateQuery {
            user: Some("nobody".into()),
            ..query(GroupBy::Day)
        })
        .await;
    assert!(matches!(e, Err(OpsError::NotFound(_))));

    // Local days in Europe/Berlin; `to` days are included whole.
    assert_eq!(
        ops.time_bound("from", "2026-03-29", false).unwrap(),
        ms("2026-03-28T23:00:00Z")
    );
    assert_eq!(
        ops.time_bound("to", "2026-03-29", true).unwrap(),
        ms("2026-03-29T22:00:00Z")
    );
    assert_eq!(
        ops.time_bound("to", "2026-03-29T12:00:00+02:00", true)
            .unwrap(),
        ms("2026-03-29T10:00:00Z")
    );
    assert!(
        matches!(ops.time_bound("from", "yesterday", false), Err(OpsError::Invalid(m)) if m.contains("from"))
    );
    let today = ops.today();
    let now = chrono::Utc::now().with_timezone(&ZONE).date_naive();
    assert!(
        today == now || today.succ_opt() == Some(now),
        "today is the local day"
    );
}

#[tokio::test]
async fn retention_deletes_old_rows_in_chunks_and_keeps_the_rollups() {
    for engine in common::engines() {
        let (db, store, ops) = open(engine).await;
        let ids = user_ids(&store).await;
        let rows = records(6, 600, &ids);
        store.insert_requests(&rows).await.unwrap();
        let sums_before = ops.aggregate(&query(GroupBy::Day)).await.unwrap();

        // 14:00 in Berlin on April 2nd; keeping 3 days keeps March 30th (CEST) onwards.
        let now = DateTime::parse_from_rfc3339("2026-04-02T12:00:00Z")
            .unwrap()
            .to_utc();
        let cutoff = ms("2026-03-29T22:00:00Z");
        assert_eq!(ops.retention_cutoff(3, now), Some(cutoff));
        assert_eq!(ops.retention_cutoff(0, now), None);
        let pace = Pace {
            rows: 50,
            pause: std::time::Duration::ZERO,
        };
        assert_eq!(
            ops.purge_records(0, now, pace).await.unwrap(),
            0,
            "0 keeps forever"
        );
        let old = rows.iter().filter(|r| r.created_at < cutoff).count();
        assert!(old > 200, "several chunks: {old}");
        assert_eq!(ops.purge_records(3, now, pace).await.unwrap() as usize, old);
        assert_eq!(ops.purge_records(3, now, pace).await.unwrap(), 0);

        let q = RecordQuery {
            limit: 1000,
            ..Default::default()
        };
        assert_eq!(
            all_pages(&ops, q).await,
            newest_first(&rows, |r| r.created_at >= cutoff),
            "exactly the old rows went"
        );
        assert_rows(
            &ops.aggregate(&query(GroupBy::Day)).await.unwrap(),
            &sums_before,
            "the rollups stay",
        );
        db.drop_db().await;
    }
}

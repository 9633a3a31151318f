//! Reports over the usage rollups, on each engine: the rollups equal the sums of the
//! request rows however the rows arrive (batches, retried batches, duplicates within a
//! batch, rows stored before the rollups existed, the team-day rollup added on a
//! half-done backfill), aggregates per group, and keyset
//! paging that visits every record exactly once.

use crate::common;
use crate::rollup_data;

use std::sync::Arc;

use bedrock_gate::ops::aggregates::{AggregateQuery, GroupBy, RecordQuery, StatusFilter};
use bedrock_gate::ops::retention::Pace;
use bedrock_gate::ops::{Ops, OpsError};
use bedrock_gate::store::{RequestRecord, Store};
use chrono::{DateTime, NaiveDate};
use common::{Engine, TestDb};
use futures_util::TryStreamExt;
use rollup_data::{
    assert_rows, cfg, check_aggregates, create_users, expected, ms, open, query, records, user_ids,
    MODELS, ZONE,
};

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

/// A `usage_daily` row: day, user id, username, team, model, counters, cost.
type DailyRow = (String, i64, String, String, String, [i64; 6], f64);

/// `usage_daily` rows of `rows`, as the writer before `usage_team_daily` stored them:
/// (local day, user id, username, team, model) with summed counters.
fn daily_rows(rows: &[RequestRecord]) -> Vec<DailyRow> {
    let mut m = std::collections::BTreeMap::new();
    for r in rows {
        let day = DateTime::from_timestamp_millis(r.created_at)
            .unwrap()
            .with_timezone(&ZONE)
            .format("%Y-%m-%d")
            .to_string();
        let key = (
            day,
            r.user_id,
            r.username.clone(),
            r.team.clone(),
            r.model_id.clone(),
        );
        let e: &mut ([i64; 6], f64) = m.entry(key).or_default();
        e.0[0] += 1;
        e.0[1] += i64::from(r.status_code >= 400);
        e.0[2] += r.input_tokens;
        e.0[3] += r.output_tokens;
        e.0[4] += r.cache_read_tokens;
        e.0[5] += r.cache_write_tokens;
        e.1 += r.cost_usd;
    }
    m.into_iter()
        .map(|((d, id, u, t, model), (c, cost))| (d, id, u, t, model, c, cost))
        .collect()
}

/// Stores the schema up to migration 0006 with rows in three states: rolled up by the
/// backfill, not yet rolled up, and inserted (and rolled up) after 0006.
macro_rules! before_team_daily {
    ($pool:expr, $dir:expr, $pending:expr, $rolled:expr) => {{
        let pool = $pool;
        let upto = |v: i64| {
            let dir = $dir.clone();
            async move {
                let mut m = sqlx::migrate::Migrator::new(dir).await.unwrap();
                m.migrations = m
                    .migrations
                    .iter()
                    .filter(|m| m.version <= v)
                    .cloned()
                    .collect::<Vec<_>>()
                    .into();
                m
            }
        };
        upto(5).await.run(&pool).await.unwrap();
        for r in $pending {
            insert_raw!(r).execute(&pool).await.unwrap();
        }
        upto(6).await.run(&pool).await.unwrap();
        // The backfill did the first half of the pending ids before the upgrade.
        sqlx::query("UPDATE rollup_state SET value = ? WHERE name = 'backfill_done'")
            .bind(($pending.len() / 2) as i64)
            .execute(&pool)
            .await
            .unwrap();
        for r in &$rolled[$pending.len() / 2..] {
            insert_raw!(r).execute(&pool).await.unwrap();
        }
        for (i, (day, id, user, team, model, c, cost)) in daily_rows(&$rolled).iter().enumerate() {
            sqlx::query(
                "INSERT INTO usage_daily (day, rollup_key, user_id, username, team, model_id, \
                 requests, errors, input_tokens, output_tokens, cache_read_tokens, \
                 cache_write_tokens, cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(day.as_str())
            .bind(format!("{i:032x}"))
            .bind(*id)
            .bind(user.as_str())
            .bind(team.as_str())
            .bind(model.as_str())
            .bind(c[0])
            .bind(c[1])
            .bind(c[2])
            .bind(c[3])
            .bind(c[4])
            .bind(c[5])
            .bind(*cost)
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;
    }};
}

#[tokio::test]
async fn later_rollups_are_filled_from_usage_daily_and_the_pending_backfill() {
    for engine in common::engines() {
        let db = TestDb::new(engine).await;
        let cfg = cfg(&db);
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(match engine {
            Engine::Sqlite => "migrations/sqlite",
            Engine::MySql => "migrations/mysql",
        });
        let ids = [1, 2, 3];
        let pending = records(5, 400, &ids);
        let live = records(6, 100, &ids);
        // Rolled up into usage_daily before 0007: the backfilled half, and the live rows.
        let mut rolled = pending[..200].to_vec();
        rolled.extend_from_slice(&live);
        match engine {
            Engine::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
                before_team_daily!(pool, dir, &pending, rolled);
            }
            Engine::MySql => {
                let pool = sqlx::MySqlPool::connect(&db.url).await.unwrap();
                before_team_daily!(pool, dir, &pending, rolled);
            }
        }
        let store = Arc::new(
            Store::connect(&cfg.database, cfg.quota.timezone)
                .await
                .unwrap(),
        );
        // 0007 and every migration after it.
        let later = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().as_ref() >= "0007")
            .count();
        assert_eq!(store.migrate().await.unwrap(), later, "0007 applies");
        let ops = Ops::new(Arc::clone(&store), &cfg);
        create_users(&ops).await;
        let mut all = pending.clone();
        all.extend_from_slice(&live);
        // Every daily grouping: team and day read usage_team_day_total (0014, filled from
        // usage_team_daily), model reads usage_team_daily (0007), user reads
        // usage_user_day_total (0014, filled from usage_daily); the backfill summed the
        // pending half into all of them. (usage_hourly was not simulated.)
        for g in [GroupBy::Team, GroupBy::Model, GroupBy::Day, GroupBy::User] {
            let got = ops.aggregate(&query(g)).await.unwrap();
            assert_rows(&got, &expected(&all, g, |_| true), &format!("0007 {g:?}"));
            let q = AggregateQuery {
                team: Some("research".into()),
                ..query(g)
            };
            let want = expected(&all, g, |r| r.team == "research");
            let got = ops.aggregate(&q).await.unwrap();
            assert_rows(&got, &want, &format!("0007 {g:?} team"));
        }
        db.drop_db().await;
    }
}

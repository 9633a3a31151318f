//! Reports at scale: seeds 10,000,000 per-call records (1,000 users in 50 teams, 20
//! models, 90 days) into a SQLite file and a MariaDB database, builds the usage rollups
//! with the production code (`Store::rebuild_rollups`, the backfill), then measures the
//! reports through the service layer (`Ops`) and then through the admin API (`api`, a
//! real `serve` on port 0): medians and p90 over `--runs` runs.
//!
//! Users and teams are made through `Ops`; the records are generated inside the database
//! (`INSERT ... SELECT` over a recursive CTE or MariaDB's sequence engine, from hashes of
//! the row number), which makes 10 million rows take minutes. An already seeded database is reused (the seed is fixed),
//! so reruns only measure.
//!
//! ```text
//! cargo run --release --example bench-reports -- [--engine sqlite|mysql|both]
//!     [--sqlite PATH] [--mysql URL] [--rows N] [--runs N] [--rebuild true]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod api;

use std::time::{Duration, Instant};

use base64::Engine as _;
use bedrock_gate::config::raw::RawConfig;
use bedrock_gate::config::Config;
use bedrock_gate::domain::{Actor, LimitsUpdate};
use bedrock_gate::ops::aggregates::{AggregateQuery, GroupBy, RecordQuery};
use bedrock_gate::ops::users::CreateUser;
use bedrock_gate::ops::Ops;
use bedrock_gate::store::Store;
use chrono::NaiveDate;
use futures_util::TryStreamExt;

const USERS: usize = 1_000;
const TEAMS: usize = 50;
const MODELS: usize = 20;
const DAYS: u64 = 90;
const ZONE: &str = "Europe/Berlin";

fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 8, 28).unwrap()
}

struct Args {
    engines: Vec<&'static str>,
    sqlite: String,
    mysql: String,
    rows: u64,
    runs: usize,
    /// Rebuild the rollups of a reused database (to time the backfill).
    rebuild: bool,
}

fn args() -> Args {
    let mut a = Args {
        engines: vec!["sqlite", "mysql"],
        sqlite: "/tmp/bench-reports/reports.db".into(),
        mysql: "mysql://root@127.0.0.1:3306/bg_bench_reports".into(),
        rows: 10_000_000,
        runs: 50,
        rebuild: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--engine" => {
                a.engines = match v.as_str() {
                    "sqlite" => vec!["sqlite"],
                    "mysql" => vec!["mysql"],
                    _ => vec!["sqlite", "mysql"],
                }
            }
            "--sqlite" => a.sqlite = v,
            "--mysql" => a.mysql = v,
            "--rows" => a.rows = v.parse().unwrap(),
            "--runs" => a.runs = v.parse().unwrap(),
            "--rebuild" => a.rebuild = v.parse().unwrap(),
            _ => panic!("unknown argument {k}"),
        }
    }
    a
}

fn config(url: &str) -> Config {
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let text = format!(
        "[database]\nurl = \"{url}\"\nmaster_key = \"{key}\"\nmax_connections = 4\n\
         [quota]\ntimezone = \"{ZONE}\"\n"
    );
    Config::from_raw(RawConfig::parse(Some(&text), &[]).unwrap()).unwrap()
}

/// Hashes of the row number `i` that the generated columns are drawn from: `(i * A + B)
/// mod P` with P prime and distinct multipliers, so the values are deterministic (the
/// same database on every run), well spread, and computed by the database itself. Every
/// product stays below 2^63 for `i` < 10^9, so SQLite never turns them into floats.
const HASHES: &str = "(i * 2654435761) % 4294967291 % 1000 AS u, \
     (i * 2246822519 + 7) % 4294967291 AS h2, \
     (i * 3266489917 + 11) % 4294967291 AS h3, \
     (i * 668265263 + 13) % 4294967291 AS h4, \
     (i * 374761393 + 17) % 4294967291 AS h5";

/// The generated row of hashes `u` (the user), `h2`..`h5`: most calls go to one of the
/// user's three usual models, 10 % to any; 95 % succeed, 3 % are throttled, 2 % fail.
/// `{div}` is the engine's integer division, `{model}`, `{user}`, `{team}` and `{uid}`
/// its formatting of the model number, the user, the team and the uid.
const GENERATED: &str = "{uid}, {start} + i * {span} {div} {rows}, u + 1, {user}, {team}, \
     'Bench Person', 'bench', 'BGXBENCH', {model}, 'Converse', NULL, '10.0.0.1', NULL, \
     'eu-west-1', \
     CASE WHEN h4 % 100 < 95 THEN 200 WHEN h4 % 100 < 98 THEN 429 ELSE 500 END, \
     CASE WHEN h4 % 100 < 95 THEN NULL ELSE 'ThrottlingException' END, \
     200 + h5 % 4000, 50 + (h2 {div} 10) % 1500, (h3 {div} 3) % 500, (h4 {div} 100) % 100, \
     ((200 + h5 % 4000) * 0.003 + (50 + (h2 {div} 10) % 1500) * 0.015) / 1000.0, 800, \
     'reported'";

const COLUMNS: &str = "request_uid, created_at, user_id, username, team, person, tool, \
     access_key_id, model_id, operation, upstream_request_id, source_ip, user_agent, region, \
     status_code, error_type, input_tokens, output_tokens, cache_read_tokens, \
     cache_write_tokens, cost_usd, latency_ms, usage_source";

/// `INSERT ... SELECT` of rows `from..to` of `rows`, generated inside the database
/// (a recursive CTE on SQLite, the sequence engine on MariaDB): no row crosses the
/// connection, which makes 10 M rows a few minutes instead of 25.
fn generate_sql(engine: &str, from: u64, to: u64, rows: u64, start: i64, span: i64) -> String {
    let model_no = "CASE WHEN h2 % 10 < 9 THEN (u * 7 + (h3 % 3) * 3) % 20 ELSE h3 % 20 END";
    let sqlite = engine == "sqlite";
    let (div, uid, user, team, model) = if sqlite {
        (
            "/".to_string(),
            "printf('%032x', i)".to_string(),
            "printf('user%04d', u)".to_string(),
            format!("printf('team%02d', u % {TEAMS})"),
            format!("printf('eu.anthropic.claude-bench-model-%02d-v1:0', {model_no})"),
        )
    } else {
        (
            "DIV".to_string(),
            "LPAD(LOWER(HEX(i)), 32, '0')".to_string(),
            "CONCAT('user', LPAD(u, 4, '0'))".to_string(),
            format!("CONCAT('team', LPAD(u % {TEAMS}, 2, '0'))"),
            format!(
                "CONCAT('eu.anthropic.claude-bench-model-', LPAD({model_no}, 2, '0'), '-v1:0')"
            ),
        )
    };
    let values = GENERATED
        .replace("{div}", &div)
        .replace("{uid}", &uid)
        .replace("{user}", &user)
        .replace("{team}", &team)
        .replace("{model}", &model)
        .replace("{start}", &start.to_string())
        .replace("{span}", &span.to_string())
        .replace("{rows}", &rows.to_string());
    if sqlite {
        format!(
            "WITH RECURSIVE c(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM c WHERE i + 1 < {to}), \
             g AS (SELECT i, {HASHES} FROM c) \
             INSERT INTO bedrock_requests ({COLUMNS}) SELECT {values} FROM g"
        )
    } else {
        format!(
            "INSERT INTO bedrock_requests ({COLUMNS}) SELECT {values} FROM \
             (SELECT i, {HASHES} FROM (SELECT seq AS i FROM seq_{from}_to_{last}) s) g",
            last = to - 1
        )
    }
}

/// Runs [`generate_sql`] on pool `$p` in statements of `$step` rows (a macro: the two
/// engines' pools are different types).
macro_rules! generate_rows {
    ($p:expr, $engine:expr, $rows:expr, $step:expr, $start:expr, $span:expr) => {{
        let mut i = 0;
        while i < $rows {
            let to = (i + $step).min($rows);
            sqlx::query(&generate_sql($engine, i, to, $rows, $start, $span))
                .execute(&$p)
                .await
                .unwrap();
            i = to;
            eprintln!("  {i} rows");
        }
    }};
}

/// Seeds the database unless it already holds `rows` records; returns what was done.
async fn seed(
    engine: &str,
    url: &str,
    config: &Config,
    ops: &Ops,
    rows: u64,
    rebuild: bool,
) -> Vec<String> {
    let store = Store::connect(&config.database, config.quota.timezone)
        .await
        .unwrap();
    let mut notes = Vec::new();
    let have: i64 = match engine {
        "sqlite" => {
            let p = sqlx::SqlitePool::connect(url).await.unwrap();
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM bedrock_requests")
                .fetch_one(&p)
                .await
                .unwrap()
        }
        _ => {
            let p = sqlx::MySqlPool::connect(url).await.unwrap();
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM bedrock_requests")
                .fetch_one(&p)
                .await
                .unwrap()
        }
    };
    if have as u64 == rows {
        notes.push(format!("reused the seeded database ({rows} rows)"));
        if rebuild {
            let t = Instant::now();
            let summed = store.rebuild_rollups().await.unwrap();
            notes.push(format!(
                "rollups rebuilt from {summed} rows (Store::rebuild_rollups, the backfill): {:.1?}",
                t.elapsed()
            ));
        }
        return notes;
    }
    assert_eq!(have, 0, "a partly seeded database: drop it and run again");
    let t = Instant::now();
    for t in 0..TEAMS {
        ops.create_team(
            &Actor::system("test"),
            &format!("team{t:02}"),
            &LimitsUpdate::default(),
        )
        .await
        .unwrap();
    }
    for u in 0..USERS {
        ops.create_user(
            &Actor::system("test"),
            &CreateUser {
                username: format!("user{u:04}"),
                person_name: "Bench Person".into(),
                team: format!("team{:02}", u % TEAMS),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    notes.push(format!(
        "{TEAMS} teams and {USERS} users through Ops: {:.1?}",
        t.elapsed()
    ));
    let tz: chrono_tz::Tz = ZONE.parse().unwrap();
    let start = bedrock_gate_start(tz);
    let span = (DAYS * 86_400_000) as i64;
    let t = Instant::now();
    match engine {
        "sqlite" => {
            // A 1 GiB page cache keeps the indexes' pages in memory while 10 M rows go in
            // (the default 2 MB makes every insert a page miss); the seed is throw-away,
            // so no fsync either.
            let opts: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
            let opts = opts
                .pragma("cache_size", "-1048576")
                .synchronous(sqlx::sqlite::SqliteSynchronous::Off);
            let p = sqlx::SqlitePool::connect_with(opts).await.unwrap();
            generate_rows!(p, engine, rows, 500_000, start, span);
        }
        _ => {
            let p = sqlx::MySqlPool::connect(url).await.unwrap();
            generate_rows!(p, engine, rows, 200_000, start, span);
        }
    }
    notes.push(format!(
        "{rows} records, generated in the database: {:.1?}",
        t.elapsed()
    ));
    let t = Instant::now();
    let summed = store.rebuild_rollups().await.unwrap();
    notes.push(format!(
        "rollups built from {summed} rows (Store::rebuild_rollups, the backfill): {:.1?}",
        t.elapsed()
    ));
    drop(store);
    notes
}

/// The first instant of the first seeded day.
fn bedrock_gate_start(tz: chrono_tz::Tz) -> i64 {
    use chrono::TimeZone;
    tz.from_local_datetime(&first_day().and_hms_opt(0, 0, 0).unwrap())
        .earliest()
        .unwrap()
        .timestamp_millis()
}

fn stats(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let median = v[v.len() / 2];
    let p90 = v[(v.len() * 9 / 10).min(v.len() - 1)];
    (median, p90)
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

async fn counts(engine: &str, url: &str) -> (i64, i64) {
    let q = |t: &str| format!("SELECT COUNT(*) FROM {t}");
    match engine {
        "sqlite" => {
            let p = sqlx::SqlitePool::connect(url).await.unwrap();
            (
                sqlx::query_scalar(&q("usage_daily"))
                    .fetch_one(&p)
                    .await
                    .unwrap(),
                sqlx::query_scalar(&q("usage_hourly"))
                    .fetch_one(&p)
                    .await
                    .unwrap(),
            )
        }
        _ => {
            let p = sqlx::MySqlPool::connect(url).await.unwrap();
            (
                sqlx::query_scalar(&q("usage_daily"))
                    .fetch_one(&p)
                    .await
                    .unwrap(),
                sqlx::query_scalar(&q("usage_hourly"))
                    .fetch_one(&p)
                    .await
                    .unwrap(),
            )
        }
    }
}

async fn run(engine: &'static str, url: String, rows: u64, runs: usize, rebuild: bool) {
    println!("\n### {engine} ({url})\n");
    let config = config(&url);
    let (ops, _) = Ops::open(&config).await.unwrap();
    let api_config = config.clone();
    for note in seed(engine, &url, &config, &ops, rows, rebuild).await {
        println!("- {note}");
    }
    let (daily, hourly) = counts(engine, &url).await;
    println!("- usage_daily: {daily} rows; usage_hourly: {hourly} rows\n");
    let month = |g: GroupBy| AggregateQuery {
        group_by: g,
        from: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
        to: NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
        user: None,
        team: None,
        model: None,
    };
    let day = NaiveDate::from_ymd_opt(2026, 10, 15).unwrap();
    let user = "user0123".to_string();

    // The cursor of page 50 of user0123's 100-record pages (about 5,000 records in).
    let mut q = RecordQuery {
        user: Some(user.clone()),
        limit: 100,
        ..Default::default()
    };
    for _ in 0..50 {
        q.cursor = ops.records(&q).await.unwrap().next_cursor;
    }
    let deep = q.clone();

    println!("| report (through `Ops`) | rows out | median ms | p90 ms |");
    println!("|---|---:|---:|---:|");
    macro_rules! row {
        ($name:expr, $runs:expr, $body:expr) => {{
            let n: usize = $body; // warm-up
            let mut times = Vec::with_capacity($runs);
            for _ in 0..$runs {
                let t = Instant::now();
                let _: usize = $body;
                times.push(t.elapsed());
            }
            let (m, p) = stats(times);
            println!("| {} | {n} | {} | {} |", $name, ms(m), ms(p));
        }};
    }
    let o = &ops;
    row!(
        "month (Oct) per team, all teams",
        runs,
        o.aggregate(&month(GroupBy::Team)).await.unwrap().len()
    );
    row!(
        "month (Oct) per model, all teams",
        runs,
        o.aggregate(&month(GroupBy::Model)).await.unwrap().len()
    );
    let team_day = AggregateQuery {
        from: day,
        to: day,
        team: Some("team07".into()),
        ..month(GroupBy::User)
    };
    row!(
        "one day per user, one team (team07)",
        runs,
        o.aggregate(&team_day).await.unwrap().len()
    );
    let user_month = AggregateQuery {
        user: Some(user.clone()),
        ..month(GroupBy::Day)
    };
    row!(
        "month per day, one user",
        runs,
        o.aggregate(&user_month).await.unwrap().len()
    );
    let day_hours = AggregateQuery {
        from: day,
        to: day,
        ..month(GroupBy::Hour)
    };
    row!(
        "one day per hour, all teams (usage_hourly)",
        runs,
        o.aggregate(&day_hours).await.unwrap().len()
    );
    let user_hours = AggregateQuery {
        user: Some(user.clone()),
        ..month(GroupBy::Hour)
    };
    row!(
        "month per hour, one user (raw rows)",
        runs,
        o.aggregate(&user_hours).await.unwrap().len()
    );
    row!(
        "user info (today and month from the rollups)",
        runs,
        usize::from(o.user_info(&user).await.is_ok())
    );
    let first = RecordQuery {
        user: Some(user.clone()),
        limit: 100,
        ..Default::default()
    };
    row!(
        "one user's records, first page of 100",
        runs,
        o.records(&first).await.unwrap().records.len()
    );
    row!(
        "one user's records, page 51 of 100 by cursor",
        runs,
        o.records(&deep).await.unwrap().records.len()
    );
    let all = RecordQuery {
        limit: 100,
        ..Default::default()
    };
    row!(
        "all records, first page of 100 (no filter)",
        runs,
        o.records(&all).await.unwrap().records.len()
    );
    let team_errors = RecordQuery {
        team: Some("team07".into()),
        status: Some("error".parse().unwrap()),
        limit: 100,
        ..Default::default()
    };
    row!(
        "one team's errors, first page of 100",
        runs,
        o.records(&team_errors).await.unwrap().records.len()
    );
    row!(
        "stream every record of one user (CSV export)",
        runs.min(10),
        o.record_stream(first.clone())
            .try_fold(0usize, |n, _| async move { Ok(n + 1) })
            .await
            .unwrap()
    );
    api::measure(api_config, &ops, runs, stats).await;
    ops.close().await;
}

#[tokio::main]
async fn main() {
    let a = args();
    println!(
        "bench-reports: {} records, {USERS} users, {TEAMS} teams, {MODELS} models, {DAYS} days from {}; {} runs",
        a.rows,
        first_day(),
        a.runs
    );
    for engine in a.engines.clone() {
        let url = match engine {
            "sqlite" => {
                let path = std::path::Path::new(&a.sqlite);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).unwrap();
                }
                format!("sqlite://{}?mode=rwc", a.sqlite)
            }
            _ => {
                let (server, name) = a.mysql.rsplit_once('/').unwrap();
                let mut c = <sqlx::MySqlConnection as sqlx::Connection>::connect(server)
                    .await
                    .unwrap();
                sqlx::query(&format!("CREATE DATABASE IF NOT EXISTS {name}"))
                    .execute(&mut c)
                    .await
                    .unwrap();
                a.mysql.clone()
            }
        };
        run(engine, url, a.rows, a.runs, a.rebuild).await;
    }
}

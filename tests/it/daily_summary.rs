//! One daily summary per day, and a reset by hand mails what it cleared: the real `serve`
//! binary and the real `bedrock-gate reset` command, a real SMTP server (aiosmtpd), on
//! MariaDB when configured (else a shared SQLite file).
//!
//! The binary has no clock to set, so "started after midnight" is made real otherwise:
//! the calls of the day before are stored as a proxy stores them (rows and rollups,
//! dated yesterday), and `quota.timezone` is a zone where it is now about noon, so that
//! the day before has ended long ago and the summary is due at once.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bedrock_gate::config::Config;
use bedrock_gate::domain::{EventKind, Limits};
use bedrock_gate::ops::aggregates::{AggregateQuery, GroupBy};
use bedrock_gate::ops::Ops;
use bedrock_gate::store::{RequestRecord, Store};
use chrono::{Duration as Days, NaiveDate, Timelike, Utc};
use common::serve::Serve;
use common::smtp::{free_port, Mail, SmtpSink};
use serde_json::json;

const ADMIN: &str = "ops@example.com";
const BIN: &str = env!("CARGO_BIN_EXE_bedrock-gate");
const CREDENTIALS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", common::UPSTREAM_KEY_ID),
    ("AWS_SECRET_ACCESS_KEY", common::UPSTREAM_SECRET),
];
/// Yesterday's calls: alice's and bob's.
const YESTERDAY_ALICE: usize = 4;
const YESTERDAY_BOB: usize = 2;

/// A fixed-offset zone where it is now 12:xx, and today's date there.
fn zone_at_noon() -> (String, NaiveDate) {
    let now = Utc::now();
    let east = 12 - i64::from(now.hour());
    // `Etc/GMT-5` is five hours east of UTC.
    let name = match east {
        0 => "Etc/GMT".to_string(),
        e if e > 0 => format!("Etc/GMT-{e}"),
        e => format!("Etc/GMT+{}", -e),
    };
    let today = (now + Days::hours(east)).date_naive();
    (name, today)
}

/// `root/name/gate.toml`: its own state directory, email to [`ADMIN`] through the sink.
fn proxy_config(
    root: &Path,
    name: &str,
    upstream: &str,
    db: &str,
    zone: &str,
    smtp: &str,
) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let path = common::serve::config_file(&dir, &dir.join("state"), 1, upstream, db);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "[quota]\ntimezone = \"{zone}\"\n\
         [email]\nsmtp_url = \"{smtp}\"\nfrom = \"gate@example.com\"\nadmins = [\"{ADMIN}\"]\n"
    ));
    std::fs::write(&path, text).unwrap();
    path
}

/// A call of `user` stored as the proxy stores one, `minute` minutes into `day`'s 10 a.m.
fn record(store_user: (i64, &str), day: NaiveDate, zone: &str, minute: i64) -> RequestRecord {
    let tz: chrono_tz::Tz = zone.parse().unwrap();
    let at = day
        .and_hms_opt(10, 0, 0)
        .unwrap()
        .and_local_timezone(tz)
        .unwrap()
        .timestamp_millis()
        + minute * 60_000;
    let (id, name) = store_user;
    serde_json::from_value(json!({
        "request_uid": format!("{:032x}", (id << 20) + minute),
        "created_at": at,
        "user_id": id,
        "username": name,
        "team": "research",
        "person": format!("{name} person"),
        "tool": "cli",
        "access_key_id": "BGXTEST",
        "model_id": "anthropic.claude-3-haiku-20240307-v1:0",
        "operation": "Converse",
        "upstream_request_id": null,
        "source_ip": "127.0.0.1",
        "user_agent": null,
        "region": common::REGION,
        "status_code": 200,
        "error_type": null,
        "input_tokens": 100,
        "output_tokens": 50,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "cost_usd": 0.001,
        "latency_ms": 20,
        "usage_source": "reported",
    }))
    .unwrap()
}

fn admin_mails<'a>(mails: &'a [Mail], subject_part: &str) -> Vec<&'a Mail> {
    mails
        .iter()
        .filter(|m| m.rcpt.iter().any(|r| r == ADMIN) && m.subject.contains(subject_part))
        .collect()
}

/// Waits until every event written so far has been handled by `email_admins` (sent, or
/// found not to be for the admins).
async fn admin_mail_settled(store: &Store) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let newest = store.events(None, 1).await.unwrap()[0].id;
        let d = store.deliveries("email_admins").await.unwrap();
        if d.iter().any(|d| d.0 == newest) && d.iter().all(|d| d.3) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "email_admins did not catch up with event {newest}: {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Calls of the whole organisation on local day `day`, as reports count them.
async fn calls_on(ops: &Ops, day: NaiveDate) -> i64 {
    ops.aggregate(&AggregateQuery {
        group_by: GroupBy::Team,
        from: day,
        to: day,
        user: None,
        team: None,
        model: None,
    })
    .await
    .unwrap()
    .iter()
    .map(|r| r.requests)
    .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_summary_per_day_across_restarts_and_proxies_and_a_reset_by_hand_mails_today() {
    let db = common::TestDb::new(common::shared_engine()).await;
    let upstream = common::fake_upstream().await;
    let sink = SmtpSink::start(free_port(), None).await;
    let (zone, today) = zone_at_noon();
    let yesterday = today.pred_opt().unwrap();
    let (today_key, yesterday_key) = (today.to_string(), yesterday.to_string());
    let a_config = proxy_config(db.dir(), "a", &upstream.url(), &db.url, &zone, &sink.url());
    let b_config = proxy_config(db.dir(), "b", &upstream.url(), &db.url, &zone, &sink.url());

    // The installation as it was yesterday: two users and their calls of that day.
    let config = Config::load(Some(&a_config)).unwrap();
    let (ops, _) = Ops::open(&config).await.unwrap();
    let limits = Limits {
        daily_requests: Some(3),
        ..Limits::default()
    };
    let alice = common::user_with_key(&ops, "alice", "research", limits, "cli").await;
    common::user_with_key(&ops, "bob", "research", Limits::default(), "cli").await;
    let store = Store::connect(&config.database, config.quota.timezone)
        .await
        .unwrap();
    let mut rows = Vec::new();
    for (name, n) in [("alice", YESTERDAY_ALICE), ("bob", YESTERDAY_BOB)] {
        let id = store.user(name).await.unwrap().id;
        for m in 0..n {
            rows.push(record((id, name), yesterday, &zone, m as i64));
        }
    }
    store.insert_requests(&rows).await.unwrap();
    let yesterday_calls = (YESTERDAY_ALICE + YESTERDAY_BOB) as i64;
    assert_eq!(calls_on(&ops, yesterday).await, yesterday_calls);

    // (a) Started after midnight: the summary of the day before, once, right.
    let a = Serve::start(&a_config, db.dir(), &CREDENTIALS);
    let a_url = a.proxy_url().await;
    let daily = format!("Daily summary for {yesterday_key}");
    sink.wait_until(60, "the daily summary of yesterday", |m| {
        !admin_mails(m, &daily).is_empty()
    })
    .await;
    let mails = sink.mails();
    let summary = admin_mails(&mails, &daily)[0].clone();
    assert!(
        summary
            .subject
            .contains(&format!("{yesterday_calls} calls")),
        "{summary:#?}"
    );
    for line in [
        format!("alice: {YESTERDAY_ALICE} calls"),
        format!("bob: {YESTERDAY_BOB} calls"),
    ] {
        assert!(summary.text.contains(&line), "{line}: {}", summary.text);
    }

    // Today: alice uses her 3 calls, the 4th is refused and blocks her.
    let client = reqwest_like_client();
    for _ in 0..3 {
        assert_eq!(call(&client, &a_url, &alice.bearer_token).await, 200);
    }
    assert_ne!(call(&client, &a_url, &alice.bearer_token).await, 200);
    let alice_id = store.user("alice").await.unwrap().id;
    common::wait::until(
        "alice's automatic block",
        Duration::from_secs(30),
        || async {
            store
                .block_status(alice_id)
                .await
                .unwrap()
                .is_some_and(|s| s.blocked)
        },
    )
    .await;

    // A restart, and a second proxy on the same database: neither queues it again.
    a.stop();
    let again = format!("the daily summary of {yesterday_key} was queued before");
    let a = Serve::start(&a_config, db.dir(), &CREDENTIALS);
    a.line("the restarted proxy's summary check", |l| {
        l.contains(&again).then_some(())
    })
    .await;
    let b = Serve::start(&b_config, db.dir(), &CREDENTIALS);
    b.line("the second proxy's summary check", |l| {
        l.contains(&again).then_some(())
    })
    .await;

    // (b) A reset by hand: one mail about today so far, not the daily summary again.
    let today_calls = calls_on(&ops, today).await;
    assert!(today_calls >= 3, "{today_calls}");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&a_config)
        .arg("reset")
        .env_remove("BEDROCK_GATE_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    sink.wait_until(60, "the manual reset's mail", |m| {
        !admin_mails(m, "Manual reset on").is_empty()
    })
    .await;
    admin_mail_settled(&store).await;

    let mails = sink.mails();
    let summaries = admin_mails(&mails, "Daily summary");
    assert_eq!(
        summaries.len(),
        1,
        "one daily summary in all: {summaries:#?}"
    );
    let manual = admin_mails(&mails, "Manual reset on");
    assert_eq!(manual.len(), 1, "{manual:#?}");
    let manual = manual[0];
    assert!(
        manual
            .subject
            .contains(&format!("Manual reset on {today_key} "))
            && manual.subject.contains("summary of today so far")
            && manual.subject.contains(&format!("({today_calls} calls")),
        "{}",
        manual.subject
    );
    for fact in [
        format!("Calls:   {today_calls}"),
        format!("alice: {today_calls} calls"),
        "Unblocked by this reset: alice".to_string(),
        "Blocked today before the reset: alice".to_string(),
        format!("{today_key} until then"),
    ] {
        assert!(manual.text.contains(&fact), "{fact}: {}", manual.text);
    }
    assert!(
        manual.html.contains("Unblocked by this reset:"),
        "{}",
        manual.html
    );
    assert!(
        !manual.text.contains("bob:"),
        "bob made no call today: {}",
        manual.text
    );
    // The reset is recorded as its own event, with the day so far; still one summary event.
    assert_eq!(
        store
            .events(Some(EventKind::DailySummary), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let resets = store.events(Some(EventKind::ResetDone), 10).await.unwrap();
    assert!(
        resets.iter().any(|e| e.payload.contains("\"by_hand\"")),
        "{resets:?}"
    );

    a.stop();
    b.stop();
    ops.close().await;
    sink.stop().await;
    db.drop_db().await;
}

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<bytes::Bytes>,
>;

fn reqwest_like_client() -> Client {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

/// One Converse call; its status.
async fn call(client: &Client, proxy: &str, token: &str) -> u16 {
    use http_body_util::BodyExt;
    let request = http::Request::post(format!("{proxy}{}", common::CONVERSE))
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Full::new(bytes::Bytes::from_static(
            common::BODY,
        )))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    response.into_body().collect().await.unwrap();
    status
}

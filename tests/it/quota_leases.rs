//! Quota leases: capacity a proxy held in its lease reserve comes back when the proxy
//! is gone, and never lets the proxies together pass a limit. The real `serve` binary,
//! on MariaDB when configured (else a shared SQLite file):
//!
//! - killed with SIGKILL, its reserve is reclaimed by another proxy once the lease
//!   expires, and that proxy can then admit exactly what is left of the limit;
//! - killed and started again on the same journal slot, the new run reclaims its
//!   predecessor's reserve at once, long before the lease would expire;
//! - stopped with SIGSTOP past its lease (alive, but silent), its reserve is reclaimed;
//!   continued, it finds the reserve gone, and both proxies draining the limit together
//!   admit exactly the limit, not one call more.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bedrock_gate::config::Config;
use bedrock_gate::ops::Ops;
use bedrock_gate::store::Limits;
use bytes::Bytes;
use common::serve::Serve;
use http_body_util::{BodyExt, Full};
use sqlx::Connection;

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

/// The user's daily request limit.
const LIMIT: i64 = 1000;
/// Calls the first proxy serves before it is killed or stopped.
const FIRST: usize = 40;

const CREDENTIALS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", common::UPSTREAM_KEY_ID),
    ("AWS_SECRET_ACCESS_KEY", common::UPSTREAM_SECRET),
];

fn client() -> Client {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

/// One Converse call; its status.
async fn call(client: &Client, proxy: &str, token: &str) -> u16 {
    let request = http::Request::post(format!("{proxy}{}", common::CONVERSE))
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::from_static(common::BODY)))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    response.into_body().collect().await.unwrap();
    status
}

/// Calls through each of `proxies` (4 clients each) until every client has been
/// refused for the limit (400); the calls admitted.
async fn drain(proxies: &[String], token: &Arc<String>) -> usize {
    let admitted = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for proxy in proxies {
        for _ in 0..4 {
            let (proxy, token, admitted) =
                (proxy.clone(), Arc::clone(token), Arc::clone(&admitted));
            clients.push(tokio::spawn(async move {
                let client = client();
                loop {
                    match call(&client, &proxy, &token).await {
                        200 => admitted.fetch_add(1, Ordering::Relaxed),
                        400 => return,
                        other => panic!("unexpected status {other}"),
                    };
                }
            }));
        }
    }
    for c in clients {
        c.await.unwrap();
    }
    admitted.load(Ordering::Relaxed)
}

/// One integer from the database (`SUM`s cast, so both engines give a BIGINT).
async fn scalar(url: &str, sql: &str) -> i64 {
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&mut c)
            .await
            .unwrap()
    } else {
        let mut c = sqlx::MySqlConnection::connect(url).await.unwrap();
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&mut c)
            .await
            .unwrap()
    }
}

/// Units of the user's daily request counter granted to all proxies.
async fn granted(url: &str) -> i64 {
    scalar(
        url,
        "SELECT CAST(COALESCE(SUM(granted), 0) AS SIGNED) FROM quota_counters \
         WHERE metric = 'requests' AND LENGTH(period) = 10",
    )
    .await
}

/// Units in every lease reserve.
async fn reserved(url: &str) -> i64 {
    scalar(
        url,
        "SELECT CAST(COALESCE(SUM(reserve), 0) AS SIGNED) FROM quota_leases \
         WHERE metric = 'requests' AND LENGTH(period) = 10",
    )
    .await
}

/// Polls until no lease holds a reserve any more (the proxies' upkeep runs every 2 s
/// on its own).
async fn until_reclaimed(url: &str) {
    for _ in 0..600 {
        if reserved(url).await == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the reserve was not reclaimed within 30 s");
}

/// A configuration in `root/name` with its own state directory and `lease_secs`.
fn proxy_config(root: &Path, name: &str, upstream: &str, db: &str, lease_secs: u64) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let path = common::serve::config_file(&dir, &dir.join("state"), 1, upstream, db);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!("[quota]\nlease_secs = {lease_secs}\n"));
    std::fs::write(&path, text).unwrap();
    path
}

/// A user with a daily request limit of [`LIMIT`]; their bearer token.
async fn user(config: &Path) -> Arc<String> {
    let config = Config::load(Some(config)).unwrap();
    let (ops, _) = Ops::open(&config).await.unwrap();
    let limits = Limits {
        daily_requests: Some(LIMIT),
        ..Limits::default()
    };
    let key = common::user_with_key(&ops, "alice", "t", limits, "cli").await;
    ops.close().await;
    Arc::new(key.bearer_token)
}

/// The first proxy's calls; then what the database shows it holds: (granted, reserve).
async fn first_calls(proxy: &str, token: &str, db: &str) -> (i64, i64) {
    let client = client();
    for _ in 0..FIRST {
        assert_eq!(call(&client, proxy, token).await, 200);
    }
    let (granted, reserve) = (granted(db).await, reserved(db).await);
    assert!(
        reserve > 0,
        "the proxy keeps part of its chunks in reserve (granted {granted})"
    );
    assert!(granted - reserve >= FIRST as i64, "{granted} - {reserve}");
    (granted, reserve)
}

fn signal(serve: &Serve, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &serve.pid().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_proxys_reserve_is_reclaimed_by_another_after_its_lease_expires() {
    let db = common::TestDb::new(common::shared_engine()).await;
    let upstream = common::fake_upstream().await;
    let a_config = proxy_config(db.dir(), "a", &upstream.url(), &db.url, 6);
    let b_config = proxy_config(db.dir(), "b", &upstream.url(), &db.url, 6);
    let token = user(&a_config).await;

    let a = Serve::start(&a_config, db.dir(), &CREDENTIALS);
    let a_url = a.proxy_url().await;
    let (held, reserve) = first_calls(&a_url, &token, &db.url).await;
    a.kill();

    // Another proxy (its own journal slot: it knows nothing of A) reclaims A's reserve
    // once A's lease has expired.
    let b = Serve::start(&b_config, db.dir(), &CREDENTIALS);
    let b_url = b.proxy_url().await;
    until_reclaimed(&db.url).await;
    b.line("the reclaim log line", |l| {
        l.contains("reclaimed the unused reserve").then_some(())
    })
    .await;
    assert_eq!(granted(&db.url).await, held - reserve);

    // What A used and what it held usable stay counted; everything else is B's to admit.
    let by_b = drain(std::slice::from_ref(&b_url), &token).await as i64;
    let stranded = held - reserve - FIRST as i64;
    assert_eq!(FIRST as i64 + by_b + stranded, LIMIT, "by B: {by_b}");
    assert!(
        stranded <= (held / 4).max(1),
        "only A's usable units are lost: {stranded} of {held}"
    );
    b.stop();
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_proxy_reclaims_its_predecessors_reserve_at_once() {
    let db = common::TestDb::new(common::shared_engine()).await;
    let upstream = common::fake_upstream().await;
    // A lease of an hour: only knowing the predecessor is dead can reclaim it in time.
    let config = proxy_config(db.dir(), "a", &upstream.url(), &db.url, 3600);
    let token = user(&config).await;

    let first = Serve::start(&config, db.dir(), &CREDENTIALS);
    let url = first.proxy_url().await;
    let (held, reserve) = first_calls(&url, &token, &db.url).await;
    first.kill();

    let second = Serve::start(&config, db.dir(), &CREDENTIALS);
    second.proxy_url().await;
    until_reclaimed(&db.url).await;
    assert_eq!(granted(&db.url).await, held - reserve);
    second.stop();
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_proxy_finds_its_reserve_reclaimed_and_the_limit_holds() {
    let db = common::TestDb::new(common::shared_engine()).await;
    let upstream = common::fake_upstream().await;
    let a_config = proxy_config(db.dir(), "a", &upstream.url(), &db.url, 6);
    let b_config = proxy_config(db.dir(), "b", &upstream.url(), &db.url, 6);
    let token = user(&a_config).await;

    let a = Serve::start(&a_config, db.dir(), &CREDENTIALS);
    let a_url = a.proxy_url().await;
    let b = Serve::start(&b_config, db.dir(), &CREDENTIALS);
    let b_url = b.proxy_url().await;
    let (held, reserve) = first_calls(&a_url, &token, &db.url).await;

    // A is silent past its lease: B takes its reserve back.
    signal(&a, "-STOP");
    until_reclaimed(&db.url).await;
    assert_eq!(granted(&db.url).await, held - reserve);
    signal(&a, "-CONT");

    // Both drain the limit at once: A's reserve is gone (its next activation finds
    // nothing), its usable units are still its own; together exactly the limit.
    let together = drain(&[a_url, b_url], &token).await as i64;
    assert_eq!(FIRST as i64 + together, LIMIT);
    a.stop();
    b.stop();
    db.drop_db().await;
}

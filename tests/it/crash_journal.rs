//! The crash journal: the real `serve` binary is killed with SIGKILL under load, with
//! streams open, then started again. Every call the fake upstream served has its record
//! (the ones that ended with their usage, the ones in flight at their worst case), no
//! call has two, a torn last journal frame (a power loss mid-write) is ignored, a
//! replay run again writes nothing twice, and a daily request limit is never exceeded
//! across the kill.

use crate::common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bedrock_gate::config::Config;
use bedrock_gate::domain::{EndedEarly, UsageSource};
use bedrock_gate::ops::Ops;
use bedrock_gate::store::{Limits, RequestRecord, Store, UsageFilter};
use bytes::Bytes;
use common::serve::Serve;
use common::upstream::FakeUpstream;
use http_body_util::{BodyExt, Full};

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

/// The user's daily request limit.
const LIMIT: i64 = 250;
/// Converse calls in a loop at once.
const LOOPS: usize = 12;
/// Streams held open (the fake upstream never ends them).
const STREAMS: usize = 6;

/// One POST with a bearer token; the status once the whole answer is read, or `None`
/// if the connection broke.
async fn post(client: &Client, url: &str, token: &str) -> Option<u16> {
    let request = http::Request::post(url)
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::from_static(common::BODY)))
        .unwrap();
    let response = client.request(request).await.ok()?;
    let status = response.status().as_u16();
    response.into_body().collect().await.ok()?;
    Some(status)
}

fn client() -> Client {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

/// The journal's segment files (`*.seg`).
fn segments(state: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(state).unwrap() {
        let dir = dir.unwrap().path();
        if dir.to_string_lossy().ends_with(".journal") {
            for f in std::fs::read_dir(&dir).unwrap() {
                let f = f.unwrap().path();
                // Not the directory's `lock` file: segments only.
                if f.extension().is_some_and(|e| e == "seg") {
                    out.push(f);
                }
            }
        }
    }
    out.sort();
    out
}

async fn records(store: &Store) -> Vec<RequestRecord> {
    store.requests(&UsageFilter::default()).await.unwrap()
}

/// Upstream requests whose path contains `word`.
fn served(upstream: &FakeUpstream, word: &str) -> usize {
    upstream
        .requests()
        .iter()
        .filter(|r| r.signature_valid && r.path.contains(word))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_call_upstream_served_has_one_record_after_sigkill() {
    let db = common::TestDb::new(common::shared_engine()).await;
    let upstream = common::fake_upstream().await;
    let root = db.dir();
    let state = root.join("state");
    let config_path = common::serve::config_file(root, &state, 1, &upstream.url(), &db.url);
    let config = Config::load(Some(&config_path)).unwrap();
    let token = {
        let (ops, _) = Ops::open(&config).await.unwrap();
        let limits = Limits {
            daily_requests: Some(LIMIT),
            ..Limits::default()
        };
        let key = common::user_with_key(&ops, "alice", "t", limits, "cli").await;
        ops.close().await;
        Arc::new(key.bearer_token)
    };
    let credentials = [
        ("AWS_ACCESS_KEY_ID", common::UPSTREAM_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", common::UPSTREAM_SECRET),
    ];

    // Load: Converse calls in loops, and streams that stay open.
    let serve = Serve::start(&config_path, root, &credentials);
    let proxy = serve.proxy_url().await;
    let mut load = Vec::new();
    for _ in 0..LOOPS {
        let (url, token) = (format!("{proxy}{}", common::CONVERSE), Arc::clone(&token));
        load.push(tokio::spawn(async move {
            let client = client();
            while post(&client, &url, &token).await.is_some() {}
        }));
    }
    for _ in 0..STREAMS {
        let (url, token) = (
            format!("{proxy}/model/hang.crash/converse-stream"),
            Arc::clone(&token),
        );
        load.push(tokio::spawn(async move {
            post(&client(), &url, &token).await;
        }));
    }
    common::wait::until_now(
        "open streams and 100 served calls",
        Duration::from_secs(30),
        || served(&upstream, "hang") == STREAMS && served(&upstream, "haiku") >= 100,
    )
    .await;
    serve.kill();
    for task in &load {
        task.abort();
    }

    // Power loss mid-write: half a frame at the end of the last segment.
    let files = segments(&state);
    assert!(!files.is_empty(), "the killed proxy left its journal");
    let aside = root.join("aside");
    std::fs::create_dir_all(&aside).unwrap();
    for f in &files {
        std::fs::copy(f, aside.join(f.file_name().unwrap())).unwrap();
    }
    {
        use std::io::Write as _;
        let mut last = std::fs::OpenOptions::new()
            .append(true)
            .open(files.last().unwrap())
            .unwrap();
        last.write_all(&[0xf4, 0x01, 0, 0, 1, 2, 3, 4, 1]).unwrap();
        last.write_all(br#"{"request_uid":"feed"#).unwrap();
    }

    // Restart: the journal is replayed before the proxy serves.
    let serve = Serve::start(&config_path, root, &credentials);
    let proxy = serve.proxy_url().await;
    serve
        .line("the torn frame", |l| l.contains("torn end").then_some(()))
        .await;
    let store = Store::connect(&config.database, config.quota.timezone)
        .await
        .unwrap();
    let after_kill = records(&store).await;
    let served_before = upstream.valid_count();
    let uids: HashSet<&str> = after_kill.iter().map(|r| r.request_uid.as_str()).collect();
    assert_eq!(uids.len(), after_kill.len(), "one record per call");
    assert!(
        after_kill.len() >= served_before,
        "{} records for {served_before} calls served",
        after_kill.len()
    );
    // A call may have been journaled and not yet sent when the kill came: at most one
    // per client in flight.
    assert!(after_kill.len() <= served_before + LOOPS + STREAMS);
    let crashed: Vec<&RequestRecord> = after_kill
        .iter()
        .filter(|r| r.ended_early == Some(EndedEarly::ProxyCrashed))
        .collect();
    assert!(crashed
        .iter()
        .all(|r| r.usage_source == UsageSource::WorstCase));
    let open_streams = crashed
        .iter()
        .filter(|r| r.operation == "ConverseStream")
        .count();
    assert_eq!(open_streams, STREAMS, "each open stream at its worst case");
    for r in &crashed {
        // The prompt estimate and the default maximum output.
        assert!(r.input_tokens > 0 && r.output_tokens == 4096, "{r:?}");
    }
    let finished = after_kill.len() - crashed.len();
    eprintln!(
        "served before the kill: {served_before}; records after replay: {} \
         ({finished} with their usage, {} at their worst case)",
        after_kill.len(),
        crashed.len()
    );
    assert!(finished <= served_before - STREAMS);
    assert!(segments(&state).is_empty(), "replayed segments are deleted");

    // The request limit holds across the kill: call until refused.
    let client = client();
    let url = format!("{proxy}{}", common::CONVERSE);
    let mut refused = false;
    for _ in 0..LIMIT {
        match post(&client, &url, &token).await {
            Some(200) => {}
            Some(400) => {
                refused = true;
                break;
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(refused, "the limit was reached");
    let served_total = upstream.valid_count();
    assert!(
        served_total <= LIMIT as usize,
        "{served_total} calls served against a limit of {LIMIT}"
    );
    serve.stop();
    assert!(
        segments(&state).is_empty(),
        "a clean stop leaves no journal behind"
    );
    // Sent calls count; the refusal that ended the loop has a row too, counted nowhere.
    let counted = records(&store).await;
    let sent = counted
        .iter()
        .filter(|r| r.not_sent.is_none() && r.refused.is_none())
        .count();
    assert!(sent <= LIMIT as usize, "{sent} sent calls recorded");

    // The same journal replayed again (a crash during the replay): nothing twice.
    let dir = segments_dir(&state);
    for f in std::fs::read_dir(&aside).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
    }
    let serve = Serve::start(&config_path, root, &credentials);
    serve.proxy_url().await;
    serve
        .line("the replay", |l| {
            l.contains("replayed the crash journal").then_some(())
        })
        .await;
    assert_eq!(records(&store).await.len(), counted.len());
    serve.stop();
    db.drop_db().await;
}

/// The journal directory in `state`.
fn segments_dir(state: &Path) -> PathBuf {
    std::fs::read_dir(state)
        .unwrap()
        .map(|d| d.unwrap().path())
        .find(|d| d.to_string_lossy().ends_with(".journal"))
        .unwrap()
}

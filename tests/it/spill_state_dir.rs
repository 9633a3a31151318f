//! Records that could not be written at shutdown (the database away) are spilled to the
//! state directory (`proxy.state_dir`), never the working directory, and the next start
//! imports them from any working directory; a spill file an older version left in the
//! working directory is imported too. The real `serve` binary on MariaDB, whose
//! connections go through a forwarder the test cuts.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bedrock_gate::config::Config;
use bedrock_gate::ops::Ops;
use bedrock_gate::store::Limits;
use common::serve::Serve;
use common::{Engine, TestDb};
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};

/// A TCP forwarder to the database that can be cut (open connections dropped, new ones
/// closed at once) and restored.
struct Forwarder {
    addr: String,
    open: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Forwarder {
    async fn start(target: String) -> Forwarder {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let open = Arc::new(AtomicBool::new(true));
        let links = Arc::new(Mutex::new(Vec::new()));
        let (is_open, all) = (Arc::clone(&open), Arc::clone(&links));
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !is_open.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let target = target.clone();
                all.lock().push(tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        });
        Forwarder { addr, open, links }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for link in self.links.lock().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

/// Waits for a line containing `text`.
async fn logged(serve: &Serve, text: &str) {
    serve.line(text, |l| l.contains(text).then_some(())).await;
}

/// Spill files (`*.unsaved.jsonl`) in `dir`.
fn spill_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.to_string_lossy().ends_with(".unsaved.jsonl"))
                .collect()
        })
        .unwrap_or_default()
}

async fn stored_records(url: &str) -> i64 {
    let mut conn = <sqlx::MySqlConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM bedrock_requests")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spilled_records_live_in_the_state_dir_and_are_imported_from_any_directory() {
    if common::mysql_server().is_none() {
        eprintln!("skipped: no MariaDB configured (GATE_TEST_MYSQL_URL)");
        return;
    }
    let db = TestDb::new(Engine::MySql).await;
    // mysql://user@host:port/name -> the same through the forwarder.
    let (user, rest) = db.url.rsplit_once('@').unwrap();
    let (server, name) = rest.split_once('/').unwrap();
    let forwarder = Forwarder::start(server.to_string()).await;
    let url = format!("{user}@{}/{name}", forwarder.addr);

    let upstream = common::fake_upstream().await;
    let root = db.dir();
    let (state, first_cwd, second_cwd) = (root.join("state"), root.join("a"), root.join("b"));
    for d in [&first_cwd, &second_cwd] {
        std::fs::create_dir_all(d).unwrap();
    }
    let config_path = common::serve::config_file(root, &state, 2, &upstream.url(), &url);
    let token = {
        let config = Config::load(Some(&config_path)).unwrap();
        let (ops, _) = Ops::open(&config).await.unwrap();
        let key = common::user_with_key(&ops, "alice", "t", Limits::default(), "cli").await;
        ops.close().await;
        key.bearer_token
    };

    // Served with the database cut away: the records cannot be written.
    let credentials = [
        ("AWS_ACCESS_KEY_ID", common::UPSTREAM_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", common::UPSTREAM_SECRET),
    ];
    let serve = Serve::start(&config_path, &first_cwd, &credentials);
    let proxy = serve.proxy_url().await;
    forwarder.cut();
    const CALLS: usize = 5;
    for _ in 0..CALLS {
        let (status, _) = common::converse(&proxy, &token).await;
        assert_eq!(status, 200);
    }
    serve.stop();
    let spilled = spill_files(&state);
    assert_eq!(spilled.len(), 1, "one spill file in the state directory");
    let lines: Vec<String> = std::fs::read_to_string(&spilled[0])
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), CALLS);
    assert!(
        spill_files(&first_cwd).is_empty(),
        "nothing in the working directory"
    );

    // An older version's spill file in the next working directory: one more record.
    let mut legacy: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    legacy["request_uid"] = "0".repeat(32).into();
    std::fs::write(
        second_cwd.join("bedrock-gate.unsaved.jsonl"),
        format!("{legacy}\n"),
    )
    .unwrap();

    forwarder.restore();
    let serve = Serve::start(&config_path, &second_cwd, &credentials);
    logged(&serve, "serving").await;
    logged(&serve, "older version spilled").await;
    assert_eq!(stored_records(&db.url).await, CALLS as i64 + 1);
    assert!(
        spill_files(&state).is_empty(),
        "the imported file is removed"
    );
    assert!(spill_files(&second_cwd).is_empty(), "so is the legacy file");
    serve.stop();
    db.drop_db().await;
}

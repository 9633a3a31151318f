//! Database outages, bounded: the real `serve` binary on a private MariaDB server that
//! the test freezes (SIGSTOP) or kills (SIGKILL, then a restart on the same datadir)
//! while clients call steadily, with daily request limits small enough that chunks run
//! out during the outage.
//!
//! What must hold, measured per call on the client side: every call ends within
//! `quota.store_timeout_ms` plus a margin (a deadline, not a speed benchmark); a
//! refusal is 503 `ServiceUnavailableException` with `Retry-After` and says the quota
//! store is unavailable; `/readyz` says "not ready" during the outage; calls succeed
//! again once the database is back, without restarting the proxy; the outage and the
//! recovery are logged once each; after a clean stop every call the fake upstream
//! served has exactly one record (records held or retried through the outage included)
//! and no request limit was exceeded. With `quota.on_store_outage = "allow"`, calls
//! keep flowing during the outage and the overshoot of a limit is at most one
//! allowance per user. A server that vanishes behind its address (its connections
//! left open and silent, new ones reaching a new server) holds a counter's grants for
//! five store deadlines at most, not for TCP's retransmission time-out.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bedrock_gate::config::Config;
use bedrock_gate::ops::Ops;
use bedrock_gate::store::{Limits, RequestRecord, Store, UsageFilter};
use common::mariadb::PrivateMariaDb;
use common::serve::Serve;
use common::upstream::FakeUpstream;
use common::vanish::Vanishing;
use parking_lot::Mutex;

/// `quota.store_timeout_ms` of the proxy under test.
const STORE_TIMEOUT: Duration = Duration::from_millis(1000);
/// What a call may take beyond the store deadline (a loaded debug build on two cores).
const MARGIN: Duration = Duration::from_millis(2000);
/// How long the database stays frozen or dead: longer than the store deadline and than
/// the record writer's deadline for the batches these tests make.
const OUTAGE: Duration = Duration::from_secs(4);
/// `/readyz` waits this long for the database (`serve::admin`).
const READY_DB_DEADLINE: Duration = Duration::from_secs(2);
/// Between two calls of one client: a steady rate, not a flood.
const PAUSE: Duration = Duration::from_millis(20);
/// How long the test waits for an observable state before it fails.
const SAFETY: Duration = Duration::from_secs(60);
/// The line the engine logs when an outage begins (refuse mode).
const OUTAGE_LINE: &str = "quota store unavailable: calls that need a new chunk";
/// The line the engine logs when an outage begins (allow mode).
const ALLOW_OUTAGE_LINE: &str = "outage allowance until it answers";
/// The record writer's line when a write fails (first of a run).
const WRITER_FAILED_LINE: &str = "writing request records failed";
/// The record writer's line when it writes again after failures.
const WRITER_RECOVERED_LINE: &str = "request records are written again";
/// The line logged when the store answers again.
const RECOVERY_LINE: &str = "quota store answers again";

/// One call as the client saw it.
#[derive(Clone, Debug)]
struct Outcome {
    user: usize,
    started: Instant,
    elapsed: Duration,
    status: u16,
    retry_after: Option<String>,
    error_type: Option<String>,
    message: String,
    request_id: Option<String>,
}

/// The private server, the fake upstream, the proxy binary and its users.
struct Rig {
    db: PrivateMariaDb,
    db_url: String,
    upstream: FakeUpstream,
    root: tempfile::TempDir,
    config_path: PathBuf,
    serve: Option<Serve>,
    proxy: String,
    admin: String,
    tokens: Vec<String>,
    limit: i64,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    /// The forwarder the proxy reaches the server through, when the test has one.
    vanishing: Option<Vanishing>,
}

impl Rig {
    /// A private MariaDB, `users` users each with a daily request limit of `limit`, and
    /// `serve` with a store deadline of [`STORE_TIMEOUT`] and `quota` appended to its
    /// `[quota]` section. `None` when MariaDB is not installed (and not required).
    async fn start(users: usize, limit: i64, quota: &str) -> Option<Rig> {
        Self::start_on(users, limit, quota, false).await
    }

    /// [`Rig::start`], the proxy reaching the server through a [`Vanishing`] forwarder
    /// when `vanishing`.
    async fn start_on(users: usize, limit: i64, quota: &str, vanishing: bool) -> Option<Rig> {
        bedrock_gate::install_crypto_provider();
        let db = PrivateMariaDb::start().await?;
        let mut db_url = db.create_database("gate").await;
        let vanishing = if vanishing {
            let server = db.server_url();
            let port: u16 = server.rsplit(':').next().unwrap().parse().unwrap();
            let forwarder = Vanishing::start(([127, 0, 0, 1], port).into()).await;
            db_url = db_url.replace(&format!(":{port}/"), &format!(":{}/", forwarder.port()));
            Some(forwarder)
        } else {
            None
        };
        let upstream = common::fake_upstream().await;
        let root = tempfile::tempdir().unwrap();
        let state = root.path().join("state");
        let config_path =
            common::serve::config_file(root.path(), &state, 5, &upstream.url(), &db_url);
        {
            use std::io::Write as _;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&config_path)
                .unwrap();
            write!(
                f,
                "[quota]\nstore_timeout_ms = {}\n{quota}\n",
                STORE_TIMEOUT.as_millis()
            )
            .unwrap();
        }
        let config = Config::load(Some(&config_path)).unwrap();
        let (ops, _) = Ops::open(&config).await.unwrap();
        let mut tokens = Vec::new();
        for i in 0..users {
            let limits = Limits {
                daily_requests: Some(limit),
                ..Limits::default()
            };
            let key = common::user_with_key(&ops, &format!("user{i}"), "t", limits, "cli").await;
            tokens.push(key.bearer_token);
        }
        ops.close().await;
        let mut rig = Rig {
            db,
            db_url,
            upstream,
            root,
            config_path,
            serve: None,
            proxy: String::new(),
            admin: String::new(),
            tokens,
            limit,
            outcomes: Arc::default(),
            vanishing,
        };
        let serve = Serve::start(&rig.config_path, rig.root.path(), &credentials());
        let (proxy, admin) = serve
            .line("the serving line", |l| {
                let rest = &l[l.find("serving")?..];
                let field = |name: &str| {
                    Some(
                        rest.split(&format!("{name}="))
                            .nth(1)?
                            .split_whitespace()
                            .next()?
                            .to_string(),
                    )
                };
                Some((field("proxy")?, field("admin")?))
            })
            .await;
        rig.serve = Some(serve);
        rig.proxy = proxy;
        rig.admin = admin;
        until("the proxy is ready", || async {
            matches!(
                common::http_get(&format!("{}/readyz", rig.admin)).await,
                Ok((200, _))
            )
        })
        .await;
        Some(rig)
    }

    fn serve(&self) -> &Serve {
        self.serve.as_ref().unwrap()
    }

    /// One client per user calling every [`PAUSE`] until `stop` is set, or (with
    /// `hold`) pausing while `hold` says so for its user.
    fn load(
        &self,
        stop: &Arc<AtomicBool>,
        hold: Option<Arc<dyn Fn(usize) -> bool + Send + Sync>>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        (0..self.tokens.len())
            .map(|user| {
                let (proxy, token) = (self.proxy.clone(), self.tokens[user].clone());
                let (stop, outcomes, hold) =
                    (Arc::clone(stop), Arc::clone(&self.outcomes), hold.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        if hold.as_ref().is_some_and(|h| h(user)) {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            continue;
                        }
                        let o = call(&proxy, &token, user).await;
                        outcomes.lock().push(o);
                        tokio::time::sleep(PAUSE).await;
                    }
                })
            })
            .collect()
    }

    fn outcomes(&self) -> Vec<Outcome> {
        self.outcomes.lock().clone()
    }

    /// Outcomes of `user` with `status` that started after `after`.
    fn count(&self, user: usize, status: u16, after: Instant) -> usize {
        self.outcomes
            .lock()
            .iter()
            .filter(|o| o.user == user && o.status == status && o.started >= after)
            .count()
    }

    /// `/readyz` during an outage: "not ready", answered within its database deadline
    /// (plus the margin).
    async fn assert_not_ready(&self) {
        let started = Instant::now();
        let (status, body) =
            tokio::time::timeout(SAFETY, common::http_get(&format!("{}/readyz", self.admin)))
                .await
                .expect("/readyz hung")
                .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(status, 503, "/readyz during the outage: {body}");
        assert!(body.contains("not ready"), "{body}");
        assert!(
            elapsed <= READY_DB_DEADLINE + MARGIN,
            "/readyz took {elapsed:?}"
        );
        eprintln!("/readyz during the outage: {status} in {elapsed:?}: {body}");
    }

    /// Stops the proxy with SIGTERM (it must exit cleanly: its records flushed).
    fn stop_proxy(&mut self) {
        self.serve.take().unwrap().stop();
    }

    /// Every record, read on a fresh connection.
    async fn records(&self) -> Vec<RequestRecord> {
        let config = Config::load(Some(&self.config_path)).unwrap();
        let store = Store::connect(&config.database, config.quota.timezone)
            .await
            .unwrap();
        let records = store.requests(&UsageFilter::default()).await.unwrap();
        drop(store);
        records
    }

    /// `granted` of each user's daily request counter.
    async fn granted(&self) -> HashMap<String, i64> {
        let mut conn = <sqlx::MySqlConnection as sqlx::Connection>::connect(&self.db_url)
            .await
            .unwrap();
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT u.username, CAST(c.granted AS SIGNED) FROM quota_counters c \
             JOIN users u ON c.subject = CONCAT('user:', u.id) \
             WHERE c.metric = 'requests' AND LENGTH(c.period) = 10",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        rows.into_iter().collect()
    }

    /// The checks every test ends with, after a clean stop of the proxy: each call the
    /// fake upstream served has exactly one record (each 200's request id among them),
    /// every call met its deadline, and no user was served past `allowed` calls.
    async fn assert_complete(&self, allowed: i64) {
        let records = self.records().await;
        let uids: HashSet<&str> = records.iter().map(|r| r.request_uid.as_str()).collect();
        assert_eq!(uids.len(), records.len(), "one record per call");
        // Refused calls (503 while the quota store was out, limits) have rows too, and
        // were never sent.
        let sent: Vec<&RequestRecord> = records
            .iter()
            .filter(|r| r.not_sent.is_none() && r.refused.is_none())
            .collect();
        let served = self.upstream.valid_count();
        assert_eq!(
            sent.len(),
            served,
            "{} records of calls sent upstream for {served} calls the upstream served",
            sent.len()
        );
        let outcomes = self.outcomes();
        for o in outcomes.iter().filter(|o| o.status == 200) {
            let id = o
                .request_id
                .as_deref()
                .expect("a 200 without x-amzn-RequestId");
            assert!(uids.contains(id), "no record for the served call {id}");
        }
        let mut per_user: HashMap<&str, i64> = HashMap::new();
        for r in &sent {
            *per_user.entry(r.username.as_str()).or_default() += 1;
        }
        for (user, n) in &per_user {
            assert!(
                *n <= allowed,
                "{user}: {n} calls served, at most {allowed} allowed"
            );
        }
        let worst = outcomes.iter().map(|o| o.elapsed).max().unwrap();
        let by_status = outcomes
            .iter()
            .fold(HashMap::<u16, usize>::new(), |mut m, o| {
                *m.entry(o.status).or_default() += 1;
                m
            });
        eprintln!(
            "calls: {} ({by_status:?}); slowest {worst:?}; served upstream {served}; \
             records {} ({} sent); per user {per_user:?}",
            outcomes.len(),
            records.len(),
            sent.len()
        );
    }
}

fn credentials() -> [(&'static str, &'static str); 2] {
    [
        ("AWS_ACCESS_KEY_ID", common::UPSTREAM_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", common::UPSTREAM_SECRET),
    ]
}

/// One Converse call with a bearer token, timed; status 0 if the connection broke or no
/// answer came within [`SAFETY`].
async fn call(proxy: &str, token: &str, user: usize) -> Outcome {
    use http_body_util::BodyExt as _;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let request = http::Request::post(format!("{proxy}{}", common::CONVERSE))
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Full::new(bytes::Bytes::from_static(
            common::BODY,
        )))
        .unwrap();
    let started = Instant::now();
    let answer = tokio::time::timeout(SAFETY, async {
        let response = client.request(request).await.ok()?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.ok()?.to_bytes();
        Some((parts, body))
    })
    .await
    .ok()
    .flatten();
    let elapsed = started.elapsed();
    let Some((parts, body)) = answer else {
        return Outcome {
            user,
            started,
            elapsed,
            status: 0,
            retry_after: None,
            error_type: None,
            message: "no answer".into(),
            request_id: None,
        };
    };
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_default();
    Outcome {
        user,
        started,
        elapsed,
        status: parts.status.as_u16(),
        retry_after: header("retry-after"),
        error_type: header("x-amzn-errortype"),
        message,
        request_id: header("x-amzn-requestid"),
    }
}

/// Waits until `check` holds, polling; fails after [`SAFETY`].
async fn until<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    common::wait::until(what, SAFETY, check).await;
}

/// Every call ended within the store deadline plus the margin; every refusal during
/// the outage is a 503 with `Retry-After` saying the quota store is unavailable; no
/// other status than 200, 400 (a limit reached) and those 503s.
fn assert_deadlines_and_refusals(outcomes: &[Outcome]) {
    for o in outcomes {
        assert!(
            o.elapsed <= STORE_TIMEOUT + MARGIN,
            "a call took {:?} (deadline {STORE_TIMEOUT:?} + {MARGIN:?}): {o:?}",
            o.elapsed
        );
        match o.status {
            200 => {}
            400 => assert_eq!(
                o.error_type.as_deref(),
                Some("ServiceQuotaExceededException"),
                "{o:?}"
            ),
            503 => {
                assert_eq!(
                    o.error_type.as_deref(),
                    Some("ServiceUnavailableException"),
                    "{o:?}"
                );
                assert!(o.retry_after.is_some(), "a 503 without Retry-After: {o:?}");
                assert!(o.message.contains("quota store"), "{o:?}");
            }
            _ => panic!("unexpected answer: {o:?}"),
        }
    }
}

/// Lines of the proxy's log from line `since` on containing `text`.
fn logged(serve: &Serve, since: usize, text: &str) -> usize {
    serve
        .all()
        .iter()
        .skip(since)
        .filter(|l| l.contains(text))
        .count()
}

/// Asserts that `text` (the `what` of it) was logged once from line `since` on; prints
/// the whole log when not.
fn assert_logged_once(serve: &Serve, since: usize, text: &str, what: &str) {
    assert_eq!(
        logged(serve, since, text),
        1,
        "{what} logged once:\n{}",
        serve.all().join("\n")
    );
}

/// The number of log lines so far, before a fault: the fault's lines are counted from
/// here. On a loaded machine the database may miss the (short) store deadline before the
/// fault too; that is a real outage of its own, logged as one, and reported here rather
/// than counted as the fault's.
fn lines_before_fault(serve: &Serve, outage_line: &str) -> usize {
    let lines = serve.all();
    let earlier = lines.iter().filter(|l| l.contains(outage_line)).count();
    if earlier > 0 {
        eprintln!("{earlier} outage(s) logged before the fault (a slow database)");
    }
    lines.len()
}

/// How the database fails.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// SIGSTOP, then SIGCONT.
    Freeze,
    /// SIGKILL, then a start on the same datadir and port.
    Kill,
}

/// The shared course of the refuse-mode tests: load until every user is served, an
/// outage (`fault`) that every user runs into (503), then the database back; then the
/// load goes on until every user is served again and has reached their limit.
async fn refuse_mode_outage(rig: &mut Rig, fault: Fault) {
    let users = rig.tokens.len();
    let began = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let load = rig.load(&stop, None);
    until("every user served before the outage", || async {
        (0..users).all(|u| rig.count(u, 200, began) >= 5)
    })
    .await;

    let fault_lines = lines_before_fault(rig.serve(), OUTAGE_LINE);
    match fault {
        Fault::Freeze => rig.db.freeze(),
        Fault::Kill => rig.db.kill(),
    }
    let down = Instant::now();
    until("every user refused during the outage", || async {
        (0..users).all(|u| rig.count(u, 503, down) >= 1)
    })
    .await;
    rig.assert_not_ready().await;
    // The outage lasts its full length (a fault of a few seconds, not a wait for state).
    tokio::time::sleep(OUTAGE.saturating_sub(down.elapsed())).await;
    let refused_during = (0..users).map(|u| rig.count(u, 503, down)).sum::<usize>();

    match fault {
        Fault::Freeze => rig.db.thaw(),
        Fault::Kill => rig.db.restart().await,
    }
    let up = Instant::now();
    until("every user served again, without a restart", || async {
        (0..users).all(|u| rig.count(u, 200, up) >= 1)
    })
    .await;
    let recovered_in = up.elapsed();
    until("every user at their limit", || async {
        (0..users).all(|u| rig.count(u, 400, up) >= 1)
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    eprintln!(
        "outage of {:?}: {refused_during} calls refused with 503; served again {recovered_in:?} \
         after the database returned",
        up - down
    );

    assert_deadlines_and_refusals(&rig.outcomes());
    assert_logged_once(rig.serve(), fault_lines, OUTAGE_LINE, "the outage");
    assert_logged_once(rig.serve(), fault_lines, RECOVERY_LINE, "the recovery");
    // The record writer: a write to the frozen server is abandoned at its deadline
    // (the records kept and written after the outage); its failures and its
    // recovery are logged once each, not per retry.
    let writer_failed = logged(rig.serve(), fault_lines, WRITER_FAILED_LINE);
    let writer_back = logged(rig.serve(), fault_lines, WRITER_RECOVERED_LINE);
    assert!(
        writer_failed <= 1 && writer_back == writer_failed,
        "{writer_failed} {writer_back}"
    );
    if matches!(fault, Fault::Freeze) {
        assert_eq!(
            writer_failed, 1,
            "the write under way at the freeze timed out"
        );
    }
    for line in rig.serve().all() {
        if line.contains("WARN") || line.contains("ERROR") {
            eprintln!("proxy: {line}");
        }
    }
    rig.stop_proxy();
    rig.assert_complete(rig.limit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_database_bounds_every_call_and_loses_no_record() {
    let Some(mut rig) = Rig::start(4, 120, "").await else {
        return;
    };
    refuse_mode_outage(&mut rig, Fault::Freeze).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_and_restarted_database_bounds_every_call_and_loses_no_record() {
    let Some(mut rig) = Rig::start(4, 120, "").await else {
        return;
    };
    refuse_mode_outage(&mut rig, Fault::Kill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_that_vanishes_behind_its_address_holds_no_counter_for_long() {
    const USERS: usize = 4;
    let Some(mut rig) = Rig::start_on(USERS, 120, "", true).await else {
        return;
    };
    let began = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let load = rig.load(&stop, None);
    until("every user served before the server vanishes", || async {
        (0..USERS).all(|u| rig.count(u, 200, began) >= 5)
    })
    .await;

    // Hold every user's next grant in the middle of its transaction: the test locks the
    // daily counters (on a connection of its own, not through the forwarder), so each
    // grant waits for the lock, its call refused at the store deadline.
    let mut locker = <sqlx::MySqlConnection as sqlx::Connection>::connect(&format!(
        "{}/gate",
        rig.db.server_url()
    ))
    .await
    .unwrap();
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    sqlx::query("SELECT granted FROM quota_counters WHERE metric = 'requests' FOR UPDATE")
        .fetch_all(&mut locker)
        .await
        .unwrap();
    let locked = Instant::now();
    until("every user's grant held by the lock", || async {
        (0..USERS).all(|u| rig.count(u, 503, locked) >= 1)
    })
    .await;
    // Now the server vanishes from every connection, those grants' among them: the
    // new server behind the address (the same one here, its old sessions gone and
    // their locks with them) answers new connections.
    rig.vanishing.as_ref().unwrap().vanish();
    let gone = Instant::now();
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    // A grant stuck on a silent connection is given up after five store deadlines and
    // its connection closed; the next one, on a new connection, is served. (Before,
    // it waited for TCP's retransmission time-out, here forever, and held the
    // counter's grant lock all along.)
    until("every user served again by the new server", || async {
        (0..USERS).all(|u| rig.count(u, 200, gone) >= 1)
    })
    .await;
    let recovered_in = gone.elapsed();
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let refused = (0..USERS).map(|u| rig.count(u, 503, locked)).sum::<usize>();
    eprintln!(
        "server vanished under held grants: {refused} calls refused with 503; every user \
         served again {recovered_in:?} after (grants given up after {:?})",
        STORE_TIMEOUT * 5
    );
    assert_deadlines_and_refusals(&rig.outcomes());
    rig.stop_proxy();
    rig.assert_complete(rig.limit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn allow_mode_keeps_calls_flowing_and_overshoots_by_one_allowance_at_most() {
    const USERS: usize = 3;
    const LIMIT: i64 = 30;
    const ALLOWANCE: i64 = 5;
    let quota = format!("on_store_outage = \"allow\"\noutage_allowance_requests = {ALLOWANCE}\n");
    let Some(mut rig) = Rig::start(USERS, LIMIT, &quota).await else {
        return;
    };
    // Each client calls until its user is two calls short of the limit, then waits for
    // the outage: the allowance then runs past the limit.
    let began = Instant::now();
    let frozen = Arc::new(AtomicBool::new(false));
    let outcomes = Arc::clone(&rig.outcomes);
    let hold: Arc<dyn Fn(usize) -> bool + Send + Sync> = {
        let frozen = Arc::clone(&frozen);
        Arc::new(move |user| {
            !frozen.load(Ordering::Relaxed)
                && outcomes
                    .lock()
                    .iter()
                    .filter(|o| o.user == user && o.status == 200)
                    .count()
                    >= (LIMIT - 2) as usize
        })
    };
    let stop = Arc::new(AtomicBool::new(false));
    let load = rig.load(&stop, Some(hold));
    until("every user two calls short of the limit", || async {
        (0..USERS).all(|u| rig.count(u, 200, began) >= (LIMIT - 2) as usize)
    })
    .await;

    let fault_lines = lines_before_fault(rig.serve(), ALLOW_OUTAGE_LINE);
    rig.db.freeze();
    let down = Instant::now();
    frozen.store(true, Ordering::Relaxed);
    until("every user past their allowance", || async {
        (0..USERS).all(|u| rig.count(u, 503, down) >= 1)
    })
    .await;
    let served_during = (0..USERS).map(|u| rig.count(u, 200, down)).sum::<usize>();
    assert!(served_during > 0, "calls flowed during the outage");
    for u in 0..USERS {
        assert!(
            rig.count(u, 200, down) <= ALLOWANCE as usize + 2,
            "user{u}: more than the allowance (and the chunk held) during the outage"
        );
    }
    rig.assert_not_ready().await;
    tokio::time::sleep(OUTAGE.saturating_sub(down.elapsed())).await;

    rig.db.thaw();
    let up = Instant::now();
    until("the recovery logged", || async {
        logged(rig.serve(), fault_lines, RECOVERY_LINE) > 0
    })
    .await;
    until("every user refused at the limit", || async {
        (0..USERS).all(|u| rig.count(u, 400, up) >= 1)
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    assert_deadlines_and_refusals(&rig.outcomes());
    assert_logged_once(rig.serve(), fault_lines, ALLOW_OUTAGE_LINE, "the outage");
    assert_logged_once(rig.serve(), fault_lines, RECOVERY_LINE, "the recovery");
    rig.stop_proxy();
    let granted = rig.granted().await;
    eprintln!("served during the outage: {served_during}; granted per user: {granted:?}");
    assert_eq!(granted.len(), USERS, "{granted:?}");
    for (user, g) in &granted {
        assert!(
            *g - LIMIT <= ALLOWANCE,
            "{user}: granted {g}, overshoot {} past the limit {LIMIT}",
            g - LIMIT
        );
    }
    rig.assert_complete(LIMIT + ALLOWANCE).await;
}

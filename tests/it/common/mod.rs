//! Shared fixtures of the integration tests: a fake Bedrock upstream ([`upstream`]), test
//! databases (a temporary SQLite file, or a fresh database on the MariaDB server named by
//! `GATE_TEST_MYSQL_URL`), and [`Gate`], a running `serve` on port 0.

#![allow(dead_code)]

pub mod admin;
pub mod clients;
pub mod local;
pub mod mariadb;
pub mod moto;
pub mod oidc;
pub mod serve;
pub mod skips;
pub mod smtp;
pub mod throttle;
pub mod upstream;
pub mod vanish;
pub mod wait;

use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use base64::Engine as _;
use bedrock_gate::auth::crypto::IssuedKey;
use bedrock_gate::config::raw::RawConfig;
use bedrock_gate::config::Config;
use bedrock_gate::domain::{Actor, LimitsUpdate};
use bedrock_gate::ops::users::CreateUser;
use bedrock_gate::ops::Ops;
use bedrock_gate::serve::{AppliedVersion, Listeners, ServeError, ServeOptions};
use bedrock_gate::store::{Limits, RequestRecord, Store, UsageFilter};
use tokio::net::TcpListener;
use upstream::{FakeUpstream, UpstreamConfig};

/// The region everything signs for.
pub const REGION: &str = "eu-west-1";
/// The proxy's upstream AWS credentials (the fake upstream expects them).
pub const UPSTREAM_KEY_ID: &str = "AKIAUPSTREAMEXAMPLE1";
/// Their secret.
pub const UPSTREAM_SECRET: &str = "upstreamSecretKeyEXAMPLE0123456789abcdef";
/// The master key tests configure, so they can encrypt secrets themselves.
pub const MASTER_KEY: [u8; 32] = [42u8; 32];

/// Which database engine a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// A temporary SQLite file.
    Sqlite,
    /// A fresh database on the MariaDB server.
    MySql,
}

/// The MariaDB server for tests, if configured. When `GATE_TEST_REQUIRE_MYSQL=1`
/// (CI) a missing server is a test failure, not a skip.
pub fn mysql_server() -> Option<String> {
    match std::env::var("GATE_TEST_MYSQL_URL") {
        Ok(url) if !url.is_empty() => Some(url.trim_end_matches('/').to_string()),
        _ => {
            assert!(
                std::env::var("GATE_TEST_REQUIRE_MYSQL").as_deref() != Ok("1"),
                "GATE_TEST_REQUIRE_MYSQL=1 but GATE_TEST_MYSQL_URL is not set"
            );
            skips::skipped(
                "the MySQL variant: GATE_TEST_MYSQL_URL is not set \
                 (GATE_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306)",
            );
            None
        }
    }
}

/// The engines to run a store test on: SQLite always, MySQL when configured.
pub fn engines() -> Vec<Engine> {
    let mut e = vec![Engine::Sqlite];
    if mysql_server().is_some() {
        e.push(Engine::MySql);
    }
    e
}

/// A database that exists for one test.
pub struct TestDb {
    /// The sqlx URL.
    pub url: String,
    dir: tempfile::TempDir,
    mysql_name: Option<(String, String)>,
}

impl TestDb {
    /// Creates an empty database on `engine`.
    pub async fn new(engine: Engine) -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        match engine {
            Engine::Sqlite => TestDb {
                url: format!("sqlite://{}?mode=rwc", dir.path().join("gate.db").display()),
                dir,
                mysql_name: None,
            },
            Engine::MySql => {
                let server = mysql_server().expect("MySQL server configured");
                let name = format!("bg_test_{}", bedrock_gate::request_id::new_request_id());
                let mut conn = <sqlx::MySqlConnection as sqlx::Connection>::connect(&server)
                    .await
                    .unwrap_or_else(|e| panic!("cannot reach MariaDB at {server}: {e}"));
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                TestDb {
                    url: format!("{server}/{name}"),
                    dir,
                    mysql_name: Some((server, name)),
                }
            }
        }
    }

    /// A directory that lives as long as the database.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Drops a MySQL database (SQLite files go with the temporary directory).
    pub async fn drop_db(&self) {
        if let Some((server, name)) = &self.mysql_name {
            if let Ok(mut conn) = <sqlx::MySqlConnection as sqlx::Connection>::connect(server).await
            {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                    .execute(&mut conn)
                    .await;
            }
        }
    }
}

/// A configuration for tests: ports 0, the fake upstream, the test master key, plus
/// overrides in the environment-variable form (`BEDROCK_GATE_PROXY__MAX_BODY_BYTES`).
pub fn config(db_url: &str, upstream_url: &str, overrides: &[(String, String)]) -> Config {
    config_with(db_url, upstream_url, overrides, "")
}

/// [`config`] with more TOML appended (sections the overrides cannot express, such as
/// `[[webhook]]`).
pub fn config_with(
    db_url: &str,
    upstream_url: &str,
    overrides: &[(String, String)],
    extra: &str,
) -> Config {
    let key = base64::engine::general_purpose::STANDARD.encode(MASTER_KEY);
    let text = format!(
        "[proxy]\nlisten = \"127.0.0.1:0\"\nshutdown_grace_secs = 10\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n\
         [upstream]\nregion = \"{REGION}\"\nendpoint = \"{upstream_url}\"\ntimeout_secs = 30\n\
         [database]\nurl = \"{db_url}\"\nmaster_key = \"{key}\"\n{extra}"
    );
    Config::from_raw(RawConfig::parse(Some(&text), overrides).unwrap()).unwrap()
}

/// An upstream credential provider that never has any.
#[derive(Debug)]
struct NoCredentials;

impl aws_credential_types::provider::ProvideCredentials for NoCredentials {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::ready(Err(
            aws_credential_types::provider::error::CredentialsError::not_loaded(
                "no credentials in this test",
            ),
        ))
    }
}

/// The fake upstream, expecting the proxy's test credentials ([`UPSTREAM_KEY_ID`]).
pub async fn fake_upstream() -> FakeUpstream {
    FakeUpstream::start(UpstreamConfig::new(
        UPSTREAM_KEY_ID,
        UPSTREAM_SECRET,
        REGION,
    ))
    .await
}

/// Creates `team` (if needed) and `username` in it with exactly `limits` (not the
/// configured defaults), through the service layer as the CLI does; then a key for
/// `tool`, returned.
pub async fn user_with_key(
    ops: &Ops,
    username: &str,
    team: &str,
    limits: Limits,
    tool: &str,
) -> IssuedKey {
    let actor = Actor::system("test");
    if ops.team_info(team).await.is_err() {
        ops.create_team(&actor, team, &LimitsUpdate::default())
            .await
            .unwrap();
    }
    ops.create_user(
        &actor,
        &CreateUser {
            username: username.into(),
            person_name: format!("{username} person"),
            team: team.into(),
            email: Some(format!("{username}@example.com")),
            limits: LimitsUpdate::exactly(limits),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    ops.issue_key(&actor, username, tool).await.unwrap().key
}

/// Credentials of a user created for a test.
#[derive(Clone, Debug)]
pub struct TestUser {
    /// Name.
    pub username: String,
    /// The issued key.
    pub key: IssuedKey,
}

/// How to start a [`Gate`].
pub struct GateOptions {
    /// Database engine.
    pub engine: Engine,
    /// Delay between upstream stream events.
    pub event_delay: Duration,
    /// Session token on the proxy's upstream credentials.
    pub session_token: Option<String>,
    /// Config overrides as `BEDROCK_GATE_<SECTION>__<KEY>` pairs.
    pub overrides: Vec<(String, String)>,
    /// Point the proxy at this upstream URL instead of the fake one.
    pub upstream_override: Option<String>,
    /// Use this database (another gate's) instead of a new one.
    pub shared_db: Option<String>,
    /// Give the proxy no upstream credentials at all (every call that passes admission
    /// gets 503).
    pub no_upstream_credentials: bool,
    /// TOML appended to the configuration.
    pub extra_config: String,
    /// How often the change watcher polls (default 100 ms).
    pub poll_interval: Option<Duration>,
}

impl Default for GateOptions {
    fn default() -> Self {
        Self {
            engine: Engine::Sqlite,
            event_delay: Duration::ZERO,
            session_token: None,
            overrides: Vec::new(),
            upstream_override: None,
            shared_db: None,
            no_upstream_credentials: false,
            extra_config: String::new(),
            poll_interval: None,
        }
    }
}

/// A running proxy with its fake upstream and database.
pub struct Gate {
    /// `http://127.0.0.1:PORT` of the proxy listener.
    pub url: String,
    /// `http://127.0.0.1:PORT` of the admin listener.
    pub admin_url: String,
    /// The fake upstream.
    pub upstream: FakeUpstream,
    /// A store on the same database (what the CLI would do).
    pub store: Arc<Store>,
    /// The service layer on that store (what the CLI and admin API call).
    pub ops: Arc<Ops>,
    /// The configuration the proxy runs with.
    pub config: Config,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), ServeError>>>,
    applied: AppliedVersion,
    db: TestDb,
}

impl Gate {
    /// Starts the fake upstream and `serve` on port 0.
    pub async fn start(opts: GateOptions) -> Gate {
        bedrock_gate::install_crypto_provider();
        let mut ucfg = UpstreamConfig::new(UPSTREAM_KEY_ID, UPSTREAM_SECRET, REGION);
        ucfg.event_delay = opts.event_delay;
        ucfg.session_token = opts.session_token.clone();
        let upstream = FakeUpstream::start(ucfg).await;
        let db = match &opts.shared_db {
            Some(_) => TestDb::new(Engine::Sqlite).await,
            None => TestDb::new(opts.engine).await,
        };
        let db_url = opts.shared_db.clone().unwrap_or_else(|| db.url.clone());
        let upstream_url = opts
            .upstream_override
            .clone()
            .unwrap_or_else(|| upstream.url());
        let config = config_with(&db_url, &upstream_url, &opts.overrides, &opts.extra_config);
        let store = Arc::new(
            Store::connect(&config.database, config.quota.timezone)
                .await
                .unwrap(),
        );
        store.migrate().await.unwrap();
        let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", proxy.local_addr().unwrap());
        let admin_url = format!("http://{}", admin.local_addr().unwrap());
        let creds = Credentials::new(
            UPSTREAM_KEY_ID,
            UPSTREAM_SECRET,
            opts.session_token.clone(),
            None,
            "test",
        );
        let credentials = if opts.no_upstream_credentials {
            SharedCredentialsProvider::new(NoCredentials)
        } else {
            SharedCredentialsProvider::new(creds)
        };
        let options = ServeOptions {
            credentials: Some(credentials),
            poll_interval: opts.poll_interval.unwrap_or(Duration::from_millis(100)),
            event_interval: Duration::from_millis(100),
            ..ServeOptions::default()
        };
        let applied = options.applied.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(bedrock_gate::serve::run(
            config.clone(),
            Listeners { proxy, admin },
            options,
            async move {
                let _ = rx.await;
            },
        ));
        let ops = Arc::new(Ops::new(Arc::clone(&store), &config));
        let gate = Gate {
            url,
            admin_url,
            upstream,
            store,
            ops,
            config,
            shutdown: Some(tx),
            task: Some(task),
            applied,
            db,
        };
        // Without upstream credentials the proxy never gets ready; it is up once it
        // answers health checks.
        let probe = if opts.no_upstream_credentials {
            "healthz"
        } else {
            "readyz"
        };
        gate.wait_ready(probe).await;
        gate
    }

    async fn wait_ready(&self, probe: &str) {
        for _ in 0..200 {
            if let Ok((200, _)) = http_get(&format!("{}/{probe}", self.admin_url)).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("proxy did not become ready");
    }

    /// Waits until the proxy serves every change made to the database so far: its change
    /// watcher has applied the database's current state version.
    pub async fn wait_applied(&self) {
        let want = self.store.state_version().await.unwrap();
        let mut applied = self.applied.subscribe();
        let reached =
            tokio::time::timeout(Duration::from_secs(10), applied.wait_for(|&v| v >= want)).await;
        match reached {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => panic!("the proxy stopped before applying state version {want}"),
            Err(_) => panic!(
                "the proxy did not apply state version {want} within 10 s (applied: {})",
                self.applied.current()
            ),
        }
    }

    /// Creates a team (if needed), a user and a key, directly in the store, and waits
    /// until the running proxy knows the key.
    pub async fn user(&self, username: &str, team: &str) -> TestUser {
        self.user_with_limits(username, team, Limits::default())
            .await
    }

    /// Like [`Gate::user`] with limits (exactly these, not the configured defaults).
    pub async fn user_with_limits(&self, username: &str, team: &str, limits: Limits) -> TestUser {
        let key = user_with_key(&self.ops, username, team, limits, "test-tool").await;
        self.wait_key_known(&key.bearer_token, true).await;
        TestUser {
            username: username.into(),
            key,
        }
    }

    /// Issues a key for an existing user (through the service layer, as the CLI does)
    /// and waits until the proxy accepts it.
    pub async fn issue_key(&self, username: &str, tool: &str) -> IssuedKey {
        let issued = self
            .ops
            .issue_key(&Actor::system("test"), username, tool)
            .await
            .unwrap()
            .key;
        self.wait_key_known(&issued.bearer_token, true).await;
        issued
    }

    /// Waits until a bearer token is (or is no longer) accepted by the proxy. Probes with
    /// a request that announces a body larger than any the proxy takes: a known key gets
    /// 413 before the body is read, an unknown one 403. Both refusals come before the
    /// caller is verified, so the probe leaves no request row and no trace upstream.
    pub async fn wait_key_known(&self, bearer: &str, known: bool) {
        for _ in 0..100 {
            let status = local::oversized_post(&self.url, bearer).await;
            assert!(status == 413 || status == 403, "probe answered {status}");
            if (status == 413) == known {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the proxy did not pick up the key change");
    }

    /// Waits until at least `n` records of calls the proxy did not refuse are stored, and
    /// returns them (newest first). Refusals have rows too: see [`Gate::refusals`].
    pub async fn records(&self, n: usize) -> Vec<RequestRecord> {
        for _ in 0..200 {
            let r = self.rows(false).await;
            if r.len() >= n {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let r = self.rows(false).await;
        panic!("expected {n} records, found {}: {r:?}", r.len());
    }

    /// The stored rows of refused calls, newest first.
    pub async fn refusals(&self) -> Vec<RequestRecord> {
        self.rows(true).await
    }

    async fn rows(&self, refused: bool) -> Vec<RequestRecord> {
        let mut r = self.store.requests(&UsageFilter::default()).await.unwrap();
        r.retain(|r| r.refused.is_some() == refused);
        r
    }

    /// The database URL this gate uses (to start more gates on it).
    pub fn db_url(&self) -> String {
        self.config.database.url.clone()
    }

    /// Stops the proxy gracefully and waits for it.
    pub async fn stop(mut self) {
        self.stop_in_place().await;
        self.db.drop_db().await;
    }

    /// Stops the proxy but keeps the database for inspection.
    pub async fn stop_in_place(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

/// The Converse path of a priced model, and a small body for it (100 output tokens).
pub const CONVERSE: &str = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse";
/// See [`CONVERSE`].
pub const BODY: &[u8] =
    br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":100}}"#;

/// The engine for tests that run several proxies on one database: MariaDB when
/// configured, else a shared SQLite file.
pub fn shared_engine() -> Engine {
    if mysql_server().is_some() {
        Engine::MySql
    } else {
        Engine::Sqlite
    }
}

/// One Converse call with a bearer token to the proxy at `url`.
pub async fn converse(url: &str, token: &str) -> (u16, http::Response<bytes::Bytes>) {
    raw_post(
        &format!("{url}{CONVERSE}"),
        &[("authorization", &format!("Bearer {token}"))],
        BODY,
    )
    .await
}

/// A plain GET; returns status and body.
pub async fn http_get(url: &str) -> Result<(u16, String), String> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let resp = client
        .get(url.parse().map_err(|e| format!("{e}"))?)
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// A POST with the given headers; returns status and response headers+body.
pub async fn raw_post(
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, http::Response<bytes::Bytes>) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let mut req = http::Request::post(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(http_body_util::Full::new(bytes::Bytes::copy_from_slice(
            body,
        )))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let body = http_body_util::BodyExt::collect(body)
        .await
        .unwrap()
        .to_bytes();
    let status = parts.status.as_u16();
    (status, http::Response::from_parts(parts, body))
}

/// An AWS SDK for Rust Bedrock runtime client for `gate` with SigV4 credentials.
pub fn sdk_client(gate_url: &str, key: &IssuedKey) -> aws_sdk_bedrockruntime::Client {
    let creds = aws_sdk_bedrockruntime::config::Credentials::new(
        &key.access_key_id,
        &key.secret_access_key,
        None,
        None,
        "bedrock-gate-test",
    );
    let conf = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(aws_sdk_bedrockruntime::config::BehaviorVersion::latest())
        .region(aws_sdk_bedrockruntime::config::Region::new(REGION))
        .endpoint_url(gate_url)
        .credentials_provider(creds)
        .build();
    aws_sdk_bedrockruntime::Client::from_conf(conf)
}

/// An AWS SDK for Rust client that authenticates with a bearer token (API key).
pub fn sdk_bearer_client(gate_url: &str, token: &str) -> aws_sdk_bedrockruntime::Client {
    let conf = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(aws_sdk_bedrockruntime::config::BehaviorVersion::latest())
        .region(aws_sdk_bedrockruntime::config::Region::new(REGION))
        .endpoint_url(gate_url)
        .bearer_token(aws_sdk_bedrockruntime::config::Token::new(token, None))
        .auth_scheme_preference([
            aws_smithy_runtime_api::client::auth::http::HTTP_BEARER_AUTH_SCHEME_ID,
        ])
        .build();
    aws_sdk_bedrockruntime::Client::from_conf(conf)
}

/// Signs a POST to `url` like an AWS SDK would (aws-sigv4, service `bedrock`), at `time`,
/// and returns the headers to send (the given ones plus host, x-amz-date and
/// authorization).
pub fn sigv4_headers(
    url: &str,
    body: &[u8],
    key_id: &str,
    secret: &str,
    region: &str,
    time: std::time::SystemTime,
    headers: &[(&str, &str)],
) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let uri: http::Uri = url.parse().unwrap();
    let host = uri.authority().unwrap().as_str().to_string();
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    all.push(("host".into(), host));
    let identity = Credentials::new(key_id, secret, None, None, "test").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("bedrock")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "POST",
        url,
        all.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    for (k, v) in instructions.headers() {
        all.push((k.to_string(), v.to_string()));
    }
    all
}
